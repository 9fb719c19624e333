"""Native model functions in a plain PySpark session (no Toree): every model kind compiles,
registers as a JVM expression function (pyshim's extension jar on the class path) and
scores exactly as `predict`, in a real MLflow store; what cannot compile falls back."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import native_zoo
import pyshim
from pyshim import native
from pyshim.native import compile as compiler

KINDS = [k for k in native_zoo.estimators() if k != "svc"]
NATIVE = "native Spark SQL, no Python workers"


@pytest.fixture(scope="module")
def zoo(native_models):
    return native_models


def _frame(spark, rows: pd.DataFrame):
    """pandas 3 keeps a missing string as NaN, which Spark would read as the string 'nan'."""
    rows = rows.assign(color=rows["color"].astype(object).where(rows["color"].notna(), None))
    return spark.createDataFrame(rows, schema="a double, b double, c double, color string")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_runs_natively_and_equals_predict(spark, zoo, kind):
    model = zoo.models[kind]
    auto = pyshim.register_model(spark, f"m_{kind}", zoo.uris[kind])
    if native_zoo.auto_runs_native(model, jit_huge_methods=False):  # a user's plain PySpark session
        assert auto.runs == NATIVE, auto.summary()
    else:  # compiled past the measured line: auto keeps the Python workers and says why
        assert auto.runs.startswith("Python workers: ") and "which Spark runs slower than the Python workers past" in auto.runs
    registered = pyshim.register_model(spark, f"m_{kind}", zoo.uris[kind], native="require")
    assert registered.runs == NATIVE, registered.summary()
    assert f"runs: {NATIVE}" in registered.summary()
    rows = native_zoo.scoring_rows(model)
    _frame(spark, rows).createOrReplaceTempView("rows")
    scored = spark.sql(f"SELECT m_{kind}(a, b, c, color) AS p FROM rows").toPandas()["p"]
    missing = rows[native_zoo.INPUTS].isna().any(axis=1).to_numpy()
    assert missing.sum() == 2 and scored[missing].isna().all()  # a NaN and a NULL input give NULL
    expected = np.asarray(model.predict(rows[~missing]))
    got = scored[~missing].to_numpy()
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got.astype(float), expected, rtol=1e-9, atol=1e-12)
    else:
        assert got.tolist() == expected.tolist()
    dtype = spark.sql(f"SELECT m_{kind}(a, b, c, color) AS p FROM rows").schema["p"].dataType.simpleString()
    assert dtype == registered.result_type == {"f": "double", "i": "bigint", "O": "string", "U": "string"}[expected.dtype.kind]


@pytest.fixture(params=["true", "false"], ids=["ansi", "not-ansi"])
def ansi(spark, request):
    """Both ANSI modes on either line (Spark 4 runs ANSI by default, Spark 3.5 does not)."""
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", request.param)
    yield request.param
    spark.conf.set("spark.sql.ansi.enabled", before)


@pytest.mark.parametrize("kind", ["tree_regressor", "tree_classifier", "logistic_binary_str"])
def test_a_missing_input_gives_null_in_either_ansi_mode(spark, zoo, ansi, kind):
    """Models whose every result is a literal (tree leaves, class labels) are never NULL
    themselves: the function's result must still be typed nullable, or Spark reads a NULL
    back as 0.0 / fails on it."""
    pyshim.register_model(spark, f"m_{kind}", zoo.uris[kind], native="require")
    rows = native_zoo.scoring_rows(zoo.models[kind]).head(20)
    _frame(spark, rows).createOrReplaceTempView("rows")
    scored = spark.sql(f"SELECT m_{kind}(a, b, c, color) AS p FROM rows")
    assert scored.schema["p"].nullable
    got = [r.p for r in scored.collect()]
    missing = rows[native_zoo.INPUTS].isna().any(axis=1).tolist()
    assert [p is None for p in got] == missing


def test_svc_falls_back_with_its_reason_and_require_fails_with_it(spark, zoo):
    uri = native_zoo.build(["svc"]).uris["svc"]
    registered = pyshim.register_model(spark, "m_svc", uri)
    assert registered.runs == "Python workers: SVC is not supported by the compiler"
    with pytest.raises(pyshim.ModelError, match="SVC is not supported by the compiler"):
        pyshim.register_model(spark, "m_svc", uri, native="require")


def test_native_off_uses_python_workers(spark, zoo):
    registered = pyshim.register_model(spark, "m_off", zoo.uris["ridge"], native="off")
    assert registered.runs == "Python workers: native compilation is off" and not registered.native


def test_same_version_again_is_served_from_the_cache(spark, zoo):
    pyshim.register_model(spark, "m_cache", zoo.uris["forest_regressor"])
    hits = native.cache_hits
    again = pyshim.register_model(spark, "m_cache", zoo.uris["forest_regressor"])
    assert native.cache_hits == hits + 1 and again.native and again.replaced


def test_a_new_kernel_takes_the_decision_kept_on_disk_and_other_versions_decide_again(spark, zoo, monkeypatch):
    """A kernel restart registers the same model version again: the decision kept on disk
    (native/decisions.py) is taken, nothing compiles or checks; made with another Spark or
    library version, it is not."""
    from pyshim.native import decisions

    uri = zoo.uris["ridge"]
    first = pyshim.register_model(spark, "m_kept", uri)
    assert first.native and list(decisions.folder().glob("*.json"))
    decided = []
    real_decide = native._decide
    monkeypatch.setattr(native, "_decide", lambda *args: decided.append(args) or real_decide(*args))
    monkeypatch.setattr(native, "_cache", {})  # as in a new kernel's process
    again = pyshim.register_model(spark, "m_kept", uri)
    assert again.native_sql == first.native_sql and decided == []
    monkeypatch.setattr(native, "_cache", {})
    monkeypatch.setattr(decisions, "_version", lambda name: "0.0-other")
    other = pyshim.register_model(spark, "m_kept", uri)
    assert other.native_sql == first.native_sql and len(decided) == 1


def test_past_the_size_line_auto_keeps_python_and_past_the_limit_nothing_compiles(spark, zoo, monkeypatch):
    uri = zoo.uris["ridge"]
    size = compiler.compile_model(zoo.models["ridge"], native_zoo.INPUTS, ["double", "double", "double", "string"]).size
    monkeypatch.setattr(native, "_cache", {})
    monkeypatch.setenv("PYSHIM_NATIVE_CACHE", "0")  # decided anew, with the limits set here
    monkeypatch.setattr(compiler, "MAX_FAST_LINEAR_SQL_CHARS", size - 1)
    auto = pyshim.register_model(spark, "m_line", uri)
    assert not auto.native and "which Spark runs slower than the Python workers" in auto.runs
    assert "--native require" in auto.runs
    assert pyshim.register_model(spark, "m_line", uri, native="require").native
    monkeypatch.setattr(native, "_cache", {})
    monkeypatch.setenv("PYSHIM_NATIVE_CACHE", "0")  # decided anew, with the limits set here
    monkeypatch.setattr(compiler, "MAX_SQL_CHARS", size - 1)
    with pytest.raises(pyshim.ModelError, match="more than Spark's code generator takes"):
        pyshim.register_model(spark, "m_line", uri, native="require")


def test_a_mid_size_forest_keeps_python_in_a_jvm_that_does_not_jit_huge_methods(spark):
    assert not native.jit_compiles_huge_methods(spark)  # the fixture is a plain PySpark session
    mid = native_zoo.build(catalog=native_zoo.mid_forest())
    (kind, model), = mid.models.items()
    compiled = compiler.compile_model(model, native_zoo.INPUTS, ["double", "double", "double", "string"])
    assert compiled.trees and compiler.MAX_FAST_TREE_SQL_CHARS < compiled.size <= compiler.MAX_FAST_TREE_SQL_CHARS_JIT
    auto = pyshim.register_model(spark, "m_mid", mid.uris[kind])
    assert not auto.native, auto.summary()
    assert "past 20 KB in a JVM without -XX:-DontCompileHugeMethods (start Spark with it" in auto.runs, auto.runs


def test_a_linear_model_past_the_tree_line_runs_natively(spark, zoo, monkeypatch):
    """Linear models have their own, higher line: their SQL is not a tree of branches."""
    model = zoo.models["logistic_multi_int"]
    compiled = compiler.compile_model(model, native_zoo.INPUTS, ["double", "double", "double", "string"])
    assert not compiled.trees
    monkeypatch.setattr(native, "_cache", {})
    monkeypatch.setenv("PYSHIM_NATIVE_CACHE", "0")  # decided anew, with the limits set here
    monkeypatch.setattr(compiler, "MAX_FAST_TREE_SQL_CHARS", compiled.size - 1)
    assert pyshim.register_model(spark, "m_linear", zoo.uris["logistic_multi_int"]).native


def test_a_many_class_logistic_grows_with_its_classes_not_their_cube_and_equals_predict(spark):
    """orbital's arg-max names every class score 2(K-1) times per class; inlined, 30 features
    and 5 classes were 556 K characters of SQL. The shorter form must agree with predict."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pyshim.native import verify

    rng = np.random.default_rng(3)
    names = [f"x{i}" for i in range(30)]
    frame = pd.DataFrame(rng.normal(size=(2000, 30)), columns=names)
    labels = np.argmax(frame.to_numpy()[:, :5] + rng.normal(0, 0.3, (2000, 5)), axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, labels)
    compiled = compiler.compile_model(model, names, ["double"] * 30)
    assert "ARRAY_POSITION" in compiled.sql and compiled.size < 40_000, compiled.size
    assert verify.check(spark, compiled.sql, "bigint", model, names, ["double"] * 30, frame.head(500)) is None


def test_a_mismatch_falls_back_with_one_line(spark, zoo):
    from pyshim.native import verify

    model = zoo.models["ridge"]
    names, types = native_zoo.INPUTS, ["double", "double", "double", "string"]
    good = compiler.compile_model(model, names, types)
    assert verify.check(spark, good.sql, "double", model, names, types, None) is None
    wrong = verify.check(spark, f"({good.sql}) * 1.000001E0", "double", model, names, types, None)
    assert wrong.startswith("the compiled SQL disagrees with predict on ") and "\n" not in wrong


def test_the_four_fixes_are_in_the_sql(zoo):
    forest = compiler.compile_model(zoo.models["forest_regressor"], native_zoo.INPUTS,
                                    ["double", "double", "double", "string"])
    assert "CAST(CAST(" in forest.sql and "AS FLOAT) AS DOUBLE) <=" in forest.sql   # 1: float32 thresholds
    import re

    assert not re.search(r"(?<![\w.])\d+\.\d+(?![\dE])", forest.sql)               # 2: no DECIMAL literals
    labels = compiler.compile_model(zoo.models["logistic_multi_str"], native_zoo.INPUTS,
                                    ["double", "double", "double", "string"])
    assert "UNHEX" not in labels.sql and "'high'" in labels.sql                     # 3: string labels
    assert "output_probability" not in labels.sql                                  # 4: no dotted names


def test_inputs_the_compiler_cannot_take_are_named():
    from sklearn.linear_model import Ridge

    model = Ridge().fit(pd.DataFrame({"a.b": [0.0, 1.0, 2.0]}), [0.0, 1.0, 2.0])
    with pytest.raises(compiler.NotCompilable, match=r"input a\.b has a '\.' in its name"):
        compiler.compile_model(model, ["a.b"], ["double"])
    with pytest.raises(compiler.NotCompilable, match="names no input columns"):
        compiler.compile_model(model, None, ["double"])


def test_a_model_that_is_not_sklearn_says_so(spark, mlflow_models):
    registered = pyshim.register_model(spark, "m_label", mlflow_models.labeler_uri)
    assert registered.runs.startswith("Python workers: the model is not a scikit-learn model (flavors: ")
