"""pyshim: MLflow pyfunc models as Spark SQL functions, callable from Scala on Toree.

Public API:
- `register_model(spark, name, model_uri, result_type=None, env_manager="local", native="auto")`
- `RegisteredModel`, `PyshimError`, `ModelError`, `SetupError`
"""
from .errors import ModelError, PyshimError, SetupError

__version__ = "0.1.0"
__all__ = ["register_model", "RegisteredModel", "PyshimError", "ModelError", "SetupError", "__version__"]


def register_model(spark, name, model_uri, result_type=None, env_manager="local", native="auto"):
    """Register an MLflow pyfunc model as the Spark SQL function `name` in `spark`.

    native: "auto" runs a scikit-learn model as a compiled Spark SQL expression when it
    compiles and agrees with `predict` (else in Python workers), "require" fails instead of
    falling back, "off" always uses Python workers.
    """
    from .bridge.models import register_model as _register

    return _register(spark, name, model_uri, result_type=result_type, env_manager=env_manager, native=native)


def __getattr__(name):
    if name == "RegisteredModel":
        from .bridge.models import RegisteredModel

        return RegisteredModel
    raise AttributeError(name)
