"""The bridge: MLflow models as Spark SQL functions from Scala, %%python, z, the sidecar.

One shared Toree kernel (conftest `toree`) and a real MLflow store with real models
(conftest `mlflow_models`). Results are written to Parquet by Scala and compared here
with in-process predictions of the same MLflow model.
"""
from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.toree


def _scala_str(path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def zoo(mlflow_models, toree):
    z = mlflow_models
    toree.run(f"""
val abc = spark.read.parquet({_scala_str(z.regression_data)}).cache()
abc.createOrReplaceTempView("abc")
val iris = spark.read.parquet({_scala_str(z.iris_data)})
iris.createOrReplaceTempView("iris")
val xs = spark.read.parquet({_scala_str(z.x_data)})
xs.createOrReplaceTempView("xs")
import org.apache.spark.sql.functions._
""").ok()
    return z


def _predict(uri: str, frame: pd.DataFrame):
    return mlflow.pyfunc.load_model(uri).predict(frame)


def _sorted(frame: pd.DataFrame, by) -> pd.DataFrame:
    return frame.sort_values(by).reset_index(drop=True)


def test_register_regressor_by_version_prints_one_summary(toree, zoo):
    out = toree.run(f"%register_model reg {zoo.regressor_uri}").ok().stdout
    assert out.count("reg: ") == 1
    assert f"reg: registered {zoo.regressor_uri} (version 1, run " in out
    assert "inputs: a double, b double, c double" in out
    assert "result: double" in out


def test_regressor_from_spark_sql_equals_in_process_predictions(toree, zoo, tmp_path):
    target = tmp_path / "scored"
    toree.run(f'spark.sql("SELECT a, b, c, reg(a, b, c) AS p FROM abc").write.parquet({_scala_str(target)})').ok()
    scored = _sorted(pd.read_parquet(target), ["a", "b", "c"])
    expected = _predict(zoo.regressor_uri, scored[["a", "b", "c"]])
    assert len(scored) == 1000
    np.testing.assert_allclose(scored["p"].to_numpy(), np.asarray(expected), rtol=1e-9)


def test_alias_uri_resolves_to_the_version_and_registering_again_replaces(toree, zoo):
    out = toree.run(f"%register_model reg {zoo.regressor_alias_uri}").ok().stdout
    assert f"reg: replaced {zoo.regressor_alias_uri} (version 1, run " in out
    total = toree.run('spark.sql("SELECT count(reg(a, b, c)) FROM abc").first.getLong(0)').ok()
    assert total.text == "1000"


def test_classifier_through_callUDF_gives_long_labels(toree, zoo, tmp_path):
    toree.run(f"%register_model iris_label {zoo.classifier_uri}").ok()
    target = tmp_path / "labels"
    toree.run(f"""
val labelled = iris.withColumn("label", callUDF("iris_label", iris.columns.map(col): _*))
println(labelled.schema("label").dataType)
labelled.write.parquet({_scala_str(target)})
""").ok()
    scored = pd.read_parquet(target)
    features = scored.drop(columns=["label"])
    assert scored["label"].dtype == np.int64
    np.testing.assert_array_equal(scored["label"].to_numpy(), np.asarray(_predict(zoo.classifier_uri, features)))


def test_struct_input_and_expr_call_the_same_function(toree, zoo):
    code = """
val viaStruct = abc.select(expr("reg(struct(a, b, c))").as("p")).agg(sum("p")).first.getDouble(0)
val viaColumns = abc.select(expr("reg(a, b, c)").as("p")).agg(sum("p")).first.getDouble(0)
math.abs(viaStruct - viaColumns) < 1e-9
"""
    assert toree.run(code).ok().text == "true"


def test_custom_model_returning_strings_from_a_sql_cell(toree, zoo):
    toree.run(f"%register_model label_x {zoo.labeler_uri}").ok()
    out = toree.run("%%sql\nSELECT x, label_x(x) AS label FROM xs WHERE x IS NOT NULL AND NOT isnan(x) ORDER BY x").ok()
    text = out.text or out.stdout
    assert re.search(r"0\.1\s*\|\s*low", text) and re.search(r"0\.9\s*\|\s*high", text)


def test_custom_model_returning_arrays_and_structs(toree, zoo):
    toree.run(f"%register_model spread {zoo.spreader_uri}").ok()
    toree.run(f"%register_model bounds {zoo.bounds_uri}").ok()
    code = """
val r = spark.sql("SELECT spread(x) AS s, bounds(x) AS b FROM xs WHERE x = 0.7").first
println(Seq(r.schema("s").dataType.simpleString, r.schema("b").dataType.simpleString,
  r.getSeq[Double](0).mkString(","), r.getStruct(1).getDouble(1).toString).mkString("|"))
"""
    out = toree.run(code).ok().stdout.strip()
    assert out == "array<double>|struct<lo:double,hi:double>|0.7,1.4|1.7"


def test_nulls_and_nan_give_null_results_and_the_rest_is_scored(toree, zoo, tmp_path):
    target = tmp_path / "nulls"
    toree.run(f'spark.sql("SELECT x, label_x(x) AS label FROM xs").write.parquet({_scala_str(target)})').ok()
    scored = pd.read_parquet(target)
    missing = scored["x"].isna()
    assert missing.sum() == 2  # one NULL and one NaN in the input
    assert scored.loc[missing, "label"].isna().all()
    present = scored[~missing].sort_values("x")
    assert list(present["label"]) == ["low", "low", "high", "high"]


def test_wrong_number_of_arguments_says_what_the_model_expects(toree, zoo):
    result = toree.run('spark.sql("SELECT reg(a, b) FROM abc").show()')
    assert result.status == "error"
    first = result.error["evalue"].splitlines()[0]
    assert first.startswith("reg expects 3 inputs (a double, b double, c double), got 2")
    assert "at org.apache" not in result.error_text


def test_incompatible_type_names_the_input_and_the_fix(toree, zoo):
    result = toree.run("""spark.sql("SELECT reg(a, b, 'text') FROM abc").show()""")
    assert result.status == "error"
    assert "input 3 (c) must be double but got string" in result.error["evalue"]
    assert "CAST(" in result.error["evalue"]


def test_integer_columns_are_widened_to_the_signature_type(toree, zoo):
    assert toree.run('spark.sql("SELECT reg(1, 0, 0)").first.getDouble(0) > 1.5').ok().text == "true"


def test_unknown_model_uri_gives_one_short_message(toree, zoo):
    result = toree.run("%register_model nope models:/no_such_model/7")
    assert result.status == "error"
    text = result.error["evalue"]
    assert "models:/no_such_model/7" in text and mlflow.get_tracking_uri() in text
    assert len(text.splitlines()) <= 3 and "at org.apache" not in result.error_text


def test_a_model_without_python_function_flavor_is_refused(toree, zoo):
    result = toree.run(f"%register_model np {zoo.not_pyfunc_uri}")
    assert result.status == "error"
    assert "has no python_function flavor" in result.error["evalue"] and "onnx_like" in result.error["evalue"]


def test_a_model_without_signature_works_positionally_with_a_warning(toree, zoo):
    out = toree.run(f"%register_model unsigned {zoo.unsigned_uri}").ok().stdout
    assert "warning: the model has no signature" in out and "result: double" in out
    value = toree.run('spark.sql("SELECT unsigned(a, b, c) - reg(a, b, c) FROM abc LIMIT 1").first.getDouble(0)').ok()
    assert abs(float(value.text)) < 1e-9


def test_a_bad_result_type_is_explained(toree, zoo):
    result = toree.run(f"%register_model r2 {zoo.regressor_uri} --result-type notatype")
    assert result.status == "error" and "is not a Spark SQL type" in result.error["evalue"]


def test_register_model_usage_errors_are_one_clear_message(toree, zoo):
    result = toree.run("%register_model onlyname")
    assert result.status == "error" and "usage: %register_model NAME MODEL_URI" in result.error["evalue"]
    result = toree.run(f"%register_model 1bad {zoo.regressor_uri}")
    assert result.status == "error" and "is not a valid SQL function name" in result.error["evalue"]


def test_the_model_loads_once_per_python_worker(toree, zoo):
    code = '''%%python
from pyspark.sql.functions import pandas_udf
import os, pandas as pd
spark.sql("SELECT reg(a, b, c) FROM (SELECT /*+ REPARTITION(16) */ * FROM abc)").collect()

@pandas_udf("string")
def loads(ids: pd.Series) -> pd.Series:
    from pyshim.bridge import worker as _worker
    return pd.Series([f"{os.getpid()}:{max(_worker.LOADS.values(), default=0)}"] * len(ids))

rows = spark.range(16).repartition(16).select(loads("id")).distinct().collect()
print(sorted(r[0] for r in rows))
'''
    out = toree.run(code).ok().stdout
    counts = [int(item.split(":")[1]) for item in re.findall(r"'(\d+:\d+)'", out)]
    assert counts and max(counts) <= 1, f"a model was loaded more than once in a worker: {out}"


def test_python_cell_streams_output_and_shows_a_dataframe_as_a_table(toree, zoo):
    result = toree.run("%%python\nprint('first')\nimport sys; print('oops', file=sys.stderr)\nspark.table('abc').limit(3).toPandas()").ok()
    assert result.stdout.count("first") == 1
    assert "oops" in result.stderr
    assert "<table" in result.data.get("text/html", "")


def test_python_error_is_a_short_python_traceback(toree, zoo):
    result = toree.run("%%python\ndef f():\n    return 1 / 0\nf()")
    assert result.status == "error"
    text = result.error_text
    assert "ZeroDivisionError: division by zero" in text and "line 2, in f" in text
    assert "at org.apache" not in text and "py4j" not in text and "sidecar.py" not in text
    assert toree.run("%%python\nprint('still here')").ok().stdout == "still here\n"


def test_spark_error_from_python_is_short(toree, zoo):
    result = toree.run("%%python\nspark.sql('SELECT * FROM no_such_table')")
    assert result.status == "error"
    assert "no_such_table" in result.error_text and len(result.error_text.splitlines()) < 20


def test_temp_views_are_shared_both_ways(toree, zoo):
    toree.run("%%python\nspark.range(7).createOrReplaceTempView('from_python')").ok()
    assert toree.run('spark.table("from_python").count').ok().text == "7"
    toree.run('spark.range(5).createOrReplaceTempView("from_scala")').ok()
    assert toree.run("%%python\nspark.table('from_scala').count()").ok().text == "5"


def test_python_state_persists_between_cells(toree, zoo):
    toree.run("%%python\ncounter = 41").ok()
    assert toree.run("%%python\ncounter + 1").ok().text == "42"


def test_shared_store_both_ways(toree, zoo):
    toree.run('%%python\nz.put("threshold", 0.25)\nz.put("names", ["a", "b"])\nz.put("cfg", {"k": 3})').ok()
    out = toree.run('import pyshim.z\nprintln((z.get("threshold"), z.get("names"), z.get("cfg")))').ok().stdout
    assert out.strip() == "(0.25,List(a, b),Map(k -> 3))"
    toree.run('z.put("fromScala", Seq(1, 2, 3)); z.put("label", "ok")').ok()
    assert toree.run('%%python\n(z.get("fromScala"), z.get("label"))').ok().text == "([1, 2, 3], 'ok')"
    missing = toree.run('%%python\nz.get("nothing_here")')
    assert missing.status == "error" and "put one first" in missing.error_text


def _interrupted_after(toree, seconds: float, code: str):
    import threading
    import time

    timer = threading.Timer(seconds, toree.interrupt)
    timer.start()
    started = time.monotonic()
    try:
        return toree.run(code, timeout=120), time.monotonic() - started
    finally:
        timer.cancel()
        time.sleep(3.5)  # Toree shuts down on a second Ctrl-C within 3 s


def test_interrupt_stops_a_long_python_cell_and_the_kernel_stays_usable(toree, zoo):
    # The shared kernel has the warm start on: the sidecar's gateway (and our SIGINT
    # handler) may come up before Toree installs its own handler over it.
    result, elapsed = _interrupted_after(toree, 4.0, "%%python\nimport time\nfor i in range(120):\n    time.sleep(0.5)\nprint('finished')")
    assert elapsed < 30, f"the interrupt did not stop the cell ({elapsed:.0f} s)"
    assert result.status == "error" and "finished" not in result.stdout
    assert "KeyboardInterrupt" in result.error_text and "time.sleep(0.5)" in result.error_text, result.error_text
    assert toree.run("%%python\nprint('after interrupt')").ok().stdout == "after interrupt\n"
    assert toree.run("1 + 2").ok().text == "3"


def test_interrupt_cancels_the_spark_job_of_a_python_cell(toree):
    result, elapsed = _interrupted_after(toree, 5.0, "%%python\nspark.range(10**12).selectExpr('sum(id * 3 % 7)').collect()")
    assert elapsed < 60, f"the interrupt did not stop the Spark job ({elapsed:.0f} s)"
    assert result.status == "error" and "cancel" in result.error_text, result.error_text
    assert toree.run("%%python\nspark.range(5).count()").ok().text == "5"
