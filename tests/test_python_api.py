"""pyshim.register_model in a plain PySpark session (no Toree), with a file: tracking store."""
from __future__ import annotations

import os
import tempfile

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from model_zoo import pip_requirements

import pyshim
from pyshim.errors import ModelError


@pytest.fixture(scope="module")
def file_store_model(tmp_path_factory):
    from sklearn.linear_model import LinearRegression

    store = tmp_path_factory.mktemp("file-store") / "mlruns"  # must not exist: the store creates it
    previous = mlflow.get_tracking_uri()
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.17 keeps file stores behind this switch
    mlflow.set_tracking_uri(store.as_uri())
    try:
        # Its own experiment: an active experiment id from another module's store must not leak in.
        mlflow.set_experiment("pyshim-python-api")
        frame = pd.DataFrame({"n": np.arange(20, dtype="int64"), "w": np.linspace(0, 1, 20)})
        model = LinearRegression().fit(frame, 3 * frame.n + frame.w)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, model.predict(frame)),
                                     pip_requirements=pip_requirements())
        yield f"runs:/{run.info.run_id}/model", model, store.as_uri()
    finally:
        mlflow.set_tracking_uri(previous)
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def test_register_and_call_from_sql_with_a_file_store(spark, file_store_model, monkeypatch, tmp_path):
    uri, model, tracking = file_store_model
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    mlflow.set_tracking_uri(tracking)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the model's download goes
    registered = pyshim.register_model(spark, "lin", uri)
    assert not list(tmp_path.glob("pyshim-model-*")), "the model's download outlived its registration"
    assert registered.result_type == "double"
    assert registered.inputs.describe() == "n bigint, w double"
    frame = pd.DataFrame({"n": np.arange(100, dtype="int64"), "w": np.linspace(0, 2, 100)})
    spark.createDataFrame(frame).createOrReplaceTempView("nw")
    got = spark.sql("SELECT n, w, lin(n, w) AS p FROM nw ORDER BY n").toPandas()
    np.testing.assert_allclose(got["p"], model.predict(frame), rtol=1e-9)


def test_the_extension_jar_gives_plain_pyspark_the_same_call_checks(spark, file_store_model):
    uri, model, tracking = file_store_model
    mlflow.set_tracking_uri(tracking)
    pyshim.register_model(spark, "lin2", uri)
    with pytest.raises(Exception, match=r"lin2 expects 2 inputs \(n bigint, w double\), got 1"):
        spark.sql("SELECT lin2(1.0)").collect()
    # int widens to bigint, as the signature asks
    expected = model.predict(pd.DataFrame({"n": np.array([2], dtype="int64"), "w": [0.5]}))[0]
    assert spark.sql("SELECT lin2(CAST(2 AS INT), 0.5)").first()[0] == pytest.approx(expected, abs=1e-9)


def test_bad_inputs_raise_model_errors_with_the_fix(spark, tmp_path):
    with pytest.raises(ModelError, match="not a valid SQL function name"):
        pyshim.register_model(spark, "bad name", "runs:/x/model")
    with pytest.raises(ModelError, match=r"cannot load model .*no-such-folder"):
        pyshim.register_model(spark, "m", str(tmp_path / "no-such-folder"))
    with pytest.raises(ModelError, match="env_manager must be"):
        pyshim.register_model(spark, "m", "runs:/x/model", env_manager="conda")
