"""Models that fail at run time or at registration, for tests/test_failures.py."""
from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel


class Picky(PythonModel):
    """Halves x; rejects a negative x, as a model with input checks would."""

    def predict(self, context, model_input, params=None):
        x = model_input["x"]
        if (x < 0).any():
            raise ValueError(f"x must not be negative, got {x[x < 0].iloc[0]}")
        return x / 2


class Wordy(PythonModel):
    """Returns words although its signature says numbers."""

    def predict(self, context, model_input, params=None):
        return ["many" if v > 1 else "few" for v in model_input["x"]]


def log_failing_models() -> dict[str, str]:
    good = pd.DataFrame({"x": [0.5, 4.0]})
    from model_zoo import pip_requirements  # here: the kernel imports this module to load the models

    signature = infer_signature(good, pd.Series([0.25, 2.0]))
    pip = pip_requirements()
    with mlflow.start_run():
        picky = mlflow.pyfunc.log_model(name="picky", python_model=Picky(), code_paths=[__file__],
                                        signature=signature, input_example=good,
                                        registered_model_name="picky_model", pip_requirements=pip)
        broken_example = mlflow.pyfunc.log_model(name="picky_bad_example", python_model=Picky(),
                                                 code_paths=[__file__], signature=signature,
                                                 input_example=pd.DataFrame({"x": [1.0, -3.0]}), pip_requirements=pip)
        wordy = mlflow.pyfunc.log_model(name="wordy", python_model=Wordy(), code_paths=[__file__],
                                        signature=signature, input_example=good, pip_requirements=pip)
    return {"picky": "models:/picky_model/1", "picky_run": picky.model_uri,
            "broken_example": broken_example.model_uri, "wordy": wordy.model_uri}
