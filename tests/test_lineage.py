"""Lineage of every write: a real Scala kernel (the line's pyshim-scala: Toree on Spark 3.5,
pyshim's own on Spark 4) started as a job would be (PYSHIM_JOB_RUN_ID of a run made here, an
OpenLineage file transport), a real MLflow store with two versions of a registered model, and a
PySpark session from pyshim.defaults.spark_session().

Each write's record is read from `_pyshim_lineage.json` in its output folder right after the
cell: a cell ends once its writes are recorded (Lineage.flush), so nothing here waits or polls.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import start_toree
from kernel_driver import wait_gone
from model_zoo import pip_requirements

pytestmark = pytest.mark.toree

MODEL = "lineage_model"
JOB_NAME = "notebooks/lineage_job.ipynb"


def _scala_str(path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _writes(folder: Path) -> list[dict]:
    return json.loads((folder / "_pyshim_lineage.json").read_text())["writes"]


@pytest.fixture(scope="module")
def work(isolated_home) -> Path:
    root = isolated_home / "lineage"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def models(work):
    """Two versions of a registered ElasticNet on a, b, c (different coefficients); alias champion -> 1."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import ElasticNet

    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.random((200, 3)), columns=["a", "b", "c"])
    versions = {}
    for version, y in ((1, 2 * train.a + train.b), (2, train.a - 3 * train.c)):
        model = ElasticNet(alpha=0.001).fit(train, y)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL,
                                            signature=infer_signature(train, model.predict(train)),
                                            pip_requirements=pip_requirements())
        versions[version] = {"run_id": run.info.run_id, "model_id": info.model_id}
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", 1)
    return versions


@pytest.fixture(scope="module")
def inputs(work) -> Path:
    """An input folder of two Parquet files, as Spark writes them."""
    folder = work / "input_abc"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(2):
        pd.DataFrame(rng.random((500, 3)), columns=["a", "b", "c"]).to_parquet(folder / f"part-0000{i}.parquet")
    return folder


@pytest.fixture(scope="module")
def job_run(work, models):
    """The MLflow run of a job, as `pyshim run` makes it: parameters logged, still running."""
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("lineage-jobs", artifact_location=str(work / "job-artifacts"))
    run = client.create_run(experiment, run_name="scoring job")
    client.log_param(run.info.run_id, "model_uri", f"models:/{MODEL}@champion")
    client.log_param(run.info.run_id, "output_path", "scored")
    return run.info.run_id


@pytest.fixture(scope="module")
def openlineage_file(work) -> Path:
    return work / "openlineage.jsonl"


@pytest.fixture(scope="module")
def kernel(work, job_run, inputs, openlineage_file):
    """The Scala kernel started as the job runner starts it, with an OpenLineage file transport."""
    driver = start_toree(work / "kernel", name="lineage", PYSHIM_JOB_RUN_ID=job_run, PYSHIM_JOB_NAME=JOB_NAME,
                         OPENLINEAGE__TRANSPORT__TYPE="file",
                         OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(openlineage_file),
                         OPENLINEAGE__TRANSPORT__APPEND="true")
    yield driver
    pid = driver.pid
    driver.shutdown()
    assert wait_gone(pid), f"Scala kernel {pid} still running after shutdown"


def _score(kernel, function: str, target: Path, source: Path) -> dict:
    """Score SOURCE with FUNCTION from a Scala cell into TARGET; its lineage record."""
    kernel.run(f"""
spark.read.parquet({_scala_str(source)}).createOrReplaceTempView("lineage_in")
spark.sql("SELECT a, b, c, {function}(a, b, c) AS p FROM lineage_in").write.mode("overwrite").parquet({_scala_str(target)})
""").ok()
    return _writes(target)[-1]


@pytest.fixture(scope="module")
def scored(kernel, models, inputs, work):
    """X scored with the champion (version 1); then the alias moves to 2 and Y is scored."""
    out = kernel.run(f"%register_model lin models:/{MODEL}@champion --native off").ok().stdout
    assert "(version 1, run" in out, out
    x, y = work / "scored_x", work / "scored_y"
    first = _score(kernel, "lin", x, inputs)
    x_bytes = (x / "_pyshim_lineage.json").read_bytes()
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", 2)
    out = kernel.run(f"%register_model lin models:/{MODEL}@champion --native off").ok().stdout
    assert "(version 2, run" in out, out
    second = _score(kernel, "lin", y, inputs)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", 1)
    return {"x": x, "y": y, "first": first, "second": second, "x_bytes": x_bytes}


def test_scala_write_records_the_version_the_alias_resolved_to(scored, models):
    (fn,) = scored["first"]["functions"]
    assert fn["name"] == "lin"
    assert fn["model_uri"] == f"models:/{MODEL}@champion"
    assert (fn["version"], fn["registered_model"]) == ("1", MODEL)
    assert fn["run_id"] == models[1]["run_id"]
    assert fn["model_id"] == models[1]["model_id"]
    assert fn["runs"] == "Python workers"


def test_moved_alias_names_the_new_version_and_leaves_the_earlier_record(scored, models):
    (fn,) = scored["second"]["functions"]
    assert (fn["version"], fn["run_id"], fn["model_id"]) == ("2", models[2]["run_id"], models[2]["model_id"])
    assert (scored["x"] / "_pyshim_lineage.json").read_bytes() == scored["x_bytes"]
    assert len(_writes(scored["x"])) == 1


def test_recorded_rows_bytes_and_files_are_what_spark_reads_back(kernel, scored):
    out = scored["first"]["output"]
    count = kernel.run(f'spark.read.parquet({_scala_str(scored["x"])}).count()').ok().text
    assert out["rows"] == int(count) == 1000
    data_files = [p for p in scored["x"].iterdir() if not p.name.startswith(("_", "."))]
    assert out["files"] == len(data_files)
    assert out["bytes"] == sum(p.stat().st_size for p in data_files)
    assert (out["path"], out["mode"], out["format"]) == (scored["x"].as_uri().replace("file:///", "file:/"),
                                                          "Overwrite", "parquet")
    # Spark still reads the folder: the record is not data
    assert len(pd.read_parquet(scored["x"])) == 1000


def test_a_write_from_a_cached_table_records_its_rows(kernel, inputs, work):
    """A query on a cached table runs under adaptive execution: the write node is in its final plan."""
    target = work / "scored_cached"
    kernel.run(f"""
val cachedIn = spark.read.parquet({_scala_str(inputs)}).cache()
cachedIn.count()
cachedIn.selectExpr("a + b AS s").write.mode("overwrite").parquet({_scala_str(target)})
cachedIn.unpersist()
""").ok()
    out = _writes(target)[-1]["output"]
    assert (out["rows"], out["files"]) == (1000, len([p for p in target.iterdir() if not p.name.startswith(("_", "."))]))


def test_input_digest_is_stable_across_a_rerun_and_changes_when_a_file_is_added(kernel, scored, inputs, work):
    (first,) = scored["first"]["inputs"]
    assert first["files"] == 2 and len(first["digest"]) == 32
    again = _score(kernel, "lin", work / "scored_again", inputs)
    assert again["inputs"][0]["digest"] == first["digest"]
    grown = work / "input_grown"
    shutil.copytree(inputs, grown)
    (rerun,) = _score(kernel, "lin", work / "scored_grown_before", grown)["inputs"]
    shutil.copy(grown / "part-00000.parquet", grown / "part-00002.parquet")
    (added,) = _score(kernel, "lin", work / "scored_grown_after", grown)["inputs"]
    assert rerun["digest"] == first["digest"]  # same names, sizes and times in another folder
    assert added["files"] == 3
    assert added["digest"] != rerun["digest"]


def test_native_model_function_is_recorded_as_native(kernel, models, inputs, work):
    out = kernel.run(f"%register_model nat models:/{MODEL}/2 --native require").ok().stdout
    assert "runs: native Spark SQL" in out, out
    record = _score(kernel, "nat", work / "scored_native", inputs)
    (fn,) = record["functions"]
    assert (fn["name"], fn["version"], fn["runs"]) == ("nat", "2", "native Spark SQL")
    assert (fn["run_id"], fn["model_id"]) == (models[2]["run_id"], models[2]["model_id"])
    assert record["output"]["rows"] == 1000


def test_the_job_run_is_found_by_input_digest_and_holds_lineage_json(scored, job_run, models, work):
    digest = scored["first"]["inputs"][0]["digest"]
    found = mlflow.search_runs(search_all_experiments=True, filter_string=f"dataset.digest = '{digest}'",
                               output_format="list")
    assert [r.info.run_id for r in found] == [job_run]
    run = mlflow.MlflowClient().get_run(job_run)
    inputs = {(d.dataset.digest, {t.key: t.value for t in d.tags}.get("mlflow.data.context")) for d in run.inputs.dataset_inputs}
    assert (digest, "input") in inputs
    assert (scored["first"]["output"]["digest"], "output") in inputs
    linked = {m.model_id for m in run.inputs.model_inputs}
    assert {models[1]["model_id"], models[2]["model_id"]} <= linked
    local = mlflow.artifacts.download_artifacts(run_id=job_run, artifact_path="lineage.json", dst_path=str(work / "dl"))
    writes = json.loads(Path(local).read_text())["writes"]
    by_output = {w["output"]["path"]: w for w in writes}
    x = by_output[scored["first"]["output"]["path"]]
    assert x["functions"][0]["version"] == "1"
    assert x["job"]["params"] == {"model_uri": f"models:/{MODEL}@champion", "output_path": "scored"}
    # the folder's record names the job and its parameters too
    assert scored["first"]["job"]["run_id"] == job_run
    assert scored["first"]["job"]["name"] == JOB_NAME
    assert scored["first"]["job"]["params"]["output_path"] == "scored"


def test_openlineage_file_events_name_the_same_inputs_and_outputs(scored, openlineage_file, inputs):
    events = [json.loads(line) for line in openlineage_file.read_text().splitlines() if line.strip()]
    x = str(scored["x"])
    (event,) = [e for e in events if [o["name"] for o in e["outputs"]] == [x]]
    assert event["eventType"] == "COMPLETE"
    assert event["job"]["name"] == JOB_NAME
    (output,) = event["outputs"]
    assert output["namespace"] == "file"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 1000
    (source,) = event["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(inputs))
    assert source["facets"]["pyshim_digest"]["digest"] == scored["first"]["inputs"][0]["digest"]
    (fn,) = event["run"]["facets"]["pyshim_models"]["functions"]
    assert (fn["name"], fn["version"]) == ("lin", "1")


def test_pyshim_lineage_prints_job_parameters_model_and_inputs(scored, job_run, models, inputs):
    done = subprocess.run([sys.executable, "-m", "pyshim.cli", "lineage", str(scored["x"])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"job         {JOB_NAME}, MLflow run {job_run} (scoring job)" in out
    assert "output_path=scored" in out and f"model_uri=models:/{MODEL}@champion" in out
    assert f"version 1 of {MODEL}, training run {models[1]['run_id']}, model {models[1]['model_id']}" in out
    assert f"digest {scored['first']['inputs'][0]['digest']}" in out
    assert scored["first"]["written_at"] in out
    assert "1,000 rows" in out
    missing = subprocess.run([sys.executable, "-m", "pyshim.cli", "lineage", str(inputs)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert "no lineage record (_pyshim_lineage.json) there" in missing.stderr


# ---------------------------------------------------------------- a PySpark session (notebook 03's way)


@pytest.fixture(scope="module")
def pyspark_session(work, scored, models):
    """pyshim.defaults.spark_session(), in this process, after the kernel's tests (one JVM at a time
    doing work). No PYSHIM_JOB_RUN_ID here: records go to the output folder only."""
    from pyspark import SparkContext

    from pyshim import defaults

    assert "PYSHIM_JOB_RUN_ID" not in os.environ
    session = defaults.spark_session("pyshim-lineage-test")
    yield session
    session.stop()
    gateway = SparkContext._gateway
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=30)
    SparkContext._gateway = SparkContext._jvm = None


def _score_in_pyspark(spark, function: str, target: Path, source: Path) -> dict:
    from pyshim import lineage

    spark.read.parquet(str(source)).createOrReplaceTempView("lineage_in")
    spark.sql(f"SELECT a, b, c, {function}(a, b, c) AS p FROM lineage_in").write.mode("overwrite").parquet(str(target))
    assert lineage.flush(spark)  # as the IPython hook does after each cell
    return _writes(target)[-1]


@pytest.mark.parametrize("native", ["off", "require"])
def test_pyspark_session_records_the_same(pyspark_session, scored, models, inputs, work, native):
    import pyshim

    registered = pyshim.register_model(pyspark_session, "lin_py", f"models:/{MODEL}@champion", native=native)
    assert registered.native == (native == "require")
    target = work / f"pyspark_scored_{native}"
    record = _score_in_pyspark(pyspark_session, "lin_py", target, inputs)
    (fn,) = record["functions"]
    assert (fn["version"], fn["run_id"], fn["model_id"]) == ("1", models[1]["run_id"], models[1]["model_id"])
    assert fn["runs"] == ("native Spark SQL" if native == "require" else "Python workers")
    assert record["output"]["rows"] == pyspark_session.read.parquet(str(target)).count() == 1000
    assert record["inputs"][0]["digest"] == scored["first"]["inputs"][0]["digest"]
    assert "job" not in record and "emit_error" not in record
