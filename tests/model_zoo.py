"""Real MLflow models for the bridge tests, logged to the session's temp tracking store."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, infer_signature
from mlflow.pyfunc import PythonModel


class Labeler(PythonModel):
    """Strings out: a custom pyfunc."""

    def predict(self, context, model_input, params=None):
        return ["high" if v > 0.5 else "low" for v in model_input["x"]]


class Spreader(PythonModel):
    """Arrays out: [x, 2x]."""

    def predict(self, context, model_input, params=None):
        x = model_input["x"].to_numpy()
        return np.column_stack([x, 2 * x])


class Bounds(PythonModel):
    """Several named outputs: a struct."""

    def predict(self, context, model_input, params=None):
        x = model_input["x"]
        return pd.DataFrame({"lo": x - 1.0, "hi": x + 1.0})


class SlowToLoad(PythonModel):
    """x out as it came in, after a load of two seconds: a registration that is long in any kernel."""

    def load_context(self, context):
        import time

        time.sleep(2)

    def predict(self, context, model_input, params=None):
        return model_input["x"]


def log_slow_to_load() -> str:
    """A SlowToLoad model logged to the current store; its URI (a new one each call)."""
    example_x = pd.DataFrame({"x": [0.1, 0.9]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="slow", python_model=SlowToLoad(), code_paths=[__file__],
                                       signature=infer_signature(example_x, example_x["x"]),
                                       input_example=example_x,  # registration loads it to check it
                                       pip_requirements=pip_requirements())
    return info.model_uri


def pip_requirements() -> list[str]:
    """The test models' requirements, named up front: MLflow would otherwise infer them for each
    model by loading it in a subprocess (seconds a model, most of a zoo's build time). The
    versions are this environment's, where the models are trained and scored."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}"
            for name in ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "skops")]


@dataclass
class Zoo:
    data_dir: Path
    regressor_uri: str
    regressor_alias_uri: str
    classifier_uri: str
    labeler_uri: str
    spreader_uri: str
    bounds_uri: str
    unsigned_uri: str
    not_pyfunc_uri: str
    regression_data: Path     # parquet: a, b, c (double)
    iris_data: Path           # parquet: 4 iris features (double)
    x_data: Path              # parquet: x (double), with a null and a NaN


def _frame_abc(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((n, 3)), columns=["a", "b", "c"])


def build_models(work: Path) -> Zoo:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import ElasticNet, LogisticRegression

    work.mkdir(parents=True, exist_ok=True)
    train = _frame_abc(300, 0)
    y = 2 * train.a + train.b - train.c
    reg = ElasticNet(alpha=0.001).fit(train, y)
    iris = load_iris(as_frame=True)
    features = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    clf = LogisticRegression(max_iter=500).fit(features, iris.target)
    x_frame = pd.DataFrame({"x": [0.1, 0.7, None, 0.9, float("nan"), 0.3]})
    example_x = pd.DataFrame({"x": [0.1, 0.9]})
    pip = pip_requirements()

    with mlflow.start_run():
        mlflow.sklearn.log_model(reg, name="model", signature=infer_signature(train, reg.predict(train)),
                                 registered_model_name="zoo_regressor", pip_requirements=pip)
    mlflow.MlflowClient().set_registered_model_alias("zoo_regressor", "champion", 1)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(clf, name="model", signature=infer_signature(features, clf.predict(features)),
                                 pip_requirements=pip)
        classifier_uri = f"runs:/{run.info.run_id}/model"
        labeler = mlflow.pyfunc.log_model(name="labeler", python_model=Labeler(), code_paths=[__file__],
                                          signature=infer_signature(example_x, ["low", "high"]), pip_requirements=pip)
        spreader = mlflow.pyfunc.log_model(name="spreader", python_model=Spreader(), code_paths=[__file__],
                                           signature=infer_signature(example_x, Spreader().predict(None, example_x)),
                                           pip_requirements=pip)
        bounds = mlflow.pyfunc.log_model(name="bounds", python_model=Bounds(), code_paths=[__file__],
                                         signature=infer_signature(example_x, Bounds().predict(None, example_x)),
                                         pip_requirements=pip)
        unsigned = mlflow.sklearn.log_model(reg, name="unsigned", pip_requirements=pip)

    not_pyfunc = work / "not_pyfunc"
    not_pyfunc.mkdir(exist_ok=True)
    Model(artifact_path="not_pyfunc", flavors={"onnx_like": {"version": "0"}}).save(str(not_pyfunc / "MLmodel"))

    regression_data, iris_data, x_data = work / "abc.parquet", work / "iris.parquet", work / "x.parquet"
    _frame_abc(1000, 1).to_parquet(regression_data)
    features.to_parquet(iris_data)
    x_frame.to_parquet(x_data)
    return Zoo(work, "models:/zoo_regressor/1", "models:/zoo_regressor@champion", classifier_uri,
               labeler.model_uri, spreader.model_uri, bounds.model_uri, unsigned.model_uri,
               str(not_pyfunc), regression_data, iris_data, x_data)
