"""Errors a user can trust: a model or Python UDF that fails on some rows ends the cell with a
few lines (function, model, exception, first failing row); registration tries the model's
input example first; functions describe themselves (DESCRIBE FUNCTION, SHOW USER FUNCTIONS)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.toree

SHOWN_NOWHERE = ("SparkException", "PythonException", "\tat ", "at org.apache", "Traceback", "Driver stacktrace")


@pytest.fixture(scope="module")
def failing(toree, isolated_home):
    from failing_models import log_failing_models

    uris = log_failing_models()
    toree.run(f"%register_model picky {uris['picky']}").ok()
    toree.run('spark.range(-2, 3).selectExpr("CAST(id AS DOUBLE) AS x").createOrReplaceTempView("xs_mixed")').ok()
    return uris


def _assert_short(res, *needles):
    assert res.status == "error", res
    shown = res.error_text
    assert len(shown.strip().splitlines()) <= 10, shown
    for needle in needles:
        assert needle in shown, shown
    for noise in SHOWN_NOWHERE:
        assert noise not in shown, shown


@pytest.mark.parametrize("call", [
    'spark.sql("SELECT picky(x) FROM xs_mixed").collect()',
    'spark.table("xs_mixed").select(callUDF("picky", col("x"))).collect()',
    "%%sql\nSELECT picky(x) FROM xs_mixed",
])
def test_a_failing_model_ends_the_cell_in_a_few_lines_and_stays_usable(toree, failing, call):
    setup = "import org.apache.spark.sql.functions._\n" if "callUDF" in call else ""
    res = toree.run(setup + call)
    _assert_short(res, "picky failed: ValueError: x must not be negative", "models:/picky_model/1",
                  "version 1", "first failing row: x=-", "full error: ")
    log = res.error_text.split("full error: ")[1].split()[0]
    with open(log) as full:
        assert "Traceback" in full.read()
    ok = toree.run('println(spark.sql("SELECT sum(picky(x)) FROM xs_mixed WHERE x >= 0").first.getDouble(0))').ok()
    assert ok.stdout.strip() == "1.5"


def test_a_failing_python_udf_ends_the_cell_in_a_few_lines(toree, failing):
    toree.run("""%%python
def halve(x):
    if x < 0:
        raise ValueError(f"halve takes no negative number, got {x}")
    return x / 2
spark.udf.register("halve", halve, "double")""").ok()
    res = toree.run('spark.sql("SELECT halve(x) FROM xs_mixed").collect()')
    _assert_short(res, "Python function halve failed: ValueError: halve takes no negative number, got -2.0")
    ok = toree.run('println(spark.sql("SELECT sum(halve(x)) FROM xs_mixed WHERE x >= 0").first.getDouble(0))').ok()
    assert ok.stdout.strip() == "1.5"


def test_a_failing_model_in_python_cell_ends_it_in_a_few_lines(toree, failing):
    res = toree.run('%%python\nspark.sql("SELECT picky(x) FROM xs_mixed").collect()')
    _assert_short(res, "picky failed: ValueError: x must not be negative", "models:/picky_model/1")
    assert toree.run('%%python\nspark.sql("SELECT picky(x) FROM xs_mixed WHERE x > 0").count()').ok().text == "2"


def test_preflight_fails_registration_on_a_model_whose_example_breaks_it(toree, failing):
    res = toree.run(f"%register_model broken {failing['broken_example']}")
    assert res.status == "error", res
    assert "broken: model" in res.error_text and "fails on its own input example" in res.error_text
    assert "ValueError: x must not be negative, got -3.0" in res.error_text
    wordy = toree.run(f"%register_model wordy {failing['wordy']}")
    assert wordy.status == "error" and "fails on its own input example" in wordy.error_text, wordy
    assert "--result-type" in wordy.error_text
    assert toree.run('println(spark.catalog.functionExists("broken"))').ok().stdout.strip() == "false"


def test_describe_function_shows_model_version_inputs_and_how_it_runs(toree, failing):
    plain = toree.run('spark.sql("DESCRIBE FUNCTION picky").collect().foreach(r => println(r.getString(0)))').ok()
    assert "Usage: picky(x double) - MLflow model models:/picky_model/1 (version 1, run " in plain.stdout
    extended = toree.run('spark.sql("DESCRIBE FUNCTION EXTENDED picky").collect().foreach(r => println(r.getString(0)))').ok()
    for fact in ("model: models:/picky_model/1", "resolved: version 1, run ", "* x - double", "result: double",
                 "runs in: Python workers", "registered: 20"):
        assert fact in extended.stdout, extended.stdout
    listed = toree.run('spark.sql("SHOW USER FUNCTIONS").collect().foreach(r => println(r.getString(0)))').ok()
    assert "picky" in listed.stdout.split()
