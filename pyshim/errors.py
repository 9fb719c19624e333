"""Errors users see. Each names the thing that is wrong and how to fix it."""
from __future__ import annotations


class PyshimError(Exception):
    """Base class: `str(err)` is a short message fit for a notebook cell."""


class SetupError(PyshimError):
    """The environment is missing a piece (Java, Spark, Toree, the extension jar)."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix

    def __reduce__(self):
        return type(self), (self.problem, self.fix)


class ScalaBuildError(PyshimError):
    """scalac rejected the extension sources."""

    @classmethod
    def from_compiler(cls, output: str) -> "ScalaBuildError":
        lines = [ln for ln in output.splitlines() if ln.strip()]
        return cls("compiling the Scala extension (scala/src) failed:\n" + "\n".join(lines[:40]))


class ModelError(PyshimError):
    """A model could not be resolved, loaded or used as a Spark SQL function."""

    @classmethod
    def not_found(cls, uri: str, tracking_uri: str, reason: str) -> "ModelError":
        return cls(f"cannot load model {uri!r} (tracking URI {tracking_uri}): {reason}. "
                   "Check the URI (runs:/<run_id>/<path>, models:/<name>/<version>, "
                   "models:/<name>@<alias> or a local folder) and MLFLOW_TRACKING_URI.")

    @classmethod
    def preflight(cls, name: str, uri: str, result_type: str, err: BaseException) -> "ModelError":
        reason = " ".join(str(err).split())[:300] or "(no message)"
        return cls(f"{name}: model {uri!r} fails on its own input example: {type(err).__name__}: {reason}. "
                   f"Fix the model (or its input example), or give --result-type if its output is not {result_type}.")

    @classmethod
    def not_pyfunc(cls, uri: str, flavors: list[str]) -> "ModelError":
        return cls(f"model {uri!r} has no python_function flavor (flavors: {', '.join(flavors) or 'none'}); "
                   "log it with a pyfunc-capable flavor (mlflow.sklearn.log_model, mlflow.pyfunc.log_model, ...)")

    @classmethod
    def bad_name(cls, name: str) -> "ModelError":
        return cls(f"{name!r} is not a valid SQL function name; use letters, digits and _, "
                   "starting with a letter (for example wine_quality)")

    @classmethod
    def bad_result_type(cls, text: str, reason: str) -> "ModelError":
        return cls(f"result type {text!r} is not a Spark SQL type ({reason}); "
                   "use a DDL type such as double, long, string, array<double> or struct<a:double,b:string>")
