"""Register an MLflow pyfunc model as a Spark SQL function in a SparkSession.

Usable from any PySpark session (`pyshim.register_model(spark, "wine", "models:/wine@champion")`)
and from the Toree kernel's sidecar, where the function also gets call-time checks in the
JVM (see scala/src/pyshim/Functions.scala).
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Tuple

import pandas as pd

from .. import phases, signatures
from ..errors import ModelError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class RegisteredModel:
    name: str
    model_uri: str
    resolved: str        # e.g. "version 3, run 1a2b..." or the local path
    inputs: signatures.Inputs
    result_type: str
    replaced: bool
    warnings: list[str]
    runs: str = ""       # "native Spark SQL, no Python workers" or "Python workers: <why>"
    native_sql: str | None = None

    @property
    def native(self) -> bool:
        return self.native_sql is not None

    def summary(self) -> str:
        verb = "replaced" if self.replaced else "registered"
        lines = [f"{self.name}: {verb} {self.model_uri} ({self.resolved}) as a Spark SQL function",
                 f"  inputs: {self.inputs.describe()}",
                 f"  result: {self.result_type}"]
        if self.runs:
            lines.append(f"  runs: {self.runs}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def register_model(spark, name: str, model_uri: str, result_type: str | None = None,
                   env_manager: str = "local", native: str = "auto") -> RegisteredModel:
    """Register MODEL_URI as the SQL function NAME in `spark`; returns what was registered.

    native: "auto" compiles a scikit-learn model to one Spark SQL expression when it compiles
    and agrees with predict (pyshim/native), else Python workers; "require" fails with the
    reason instead; "off" always uses Python workers.
    """
    from .. import native as _native

    if not _NAME.match(name or ""):
        raise ModelError.bad_name(name)
    if env_manager not in ("local", "virtualenv"):
        raise ModelError(f"env_manager must be 'local' or 'virtualenv', got {env_manager!r}")
    if native not in _native.MODES:
        raise ModelError(f"native must be one of {', '.join(_native.MODES)}, got {native!r}")
    import mlflow

    tracking_uri = mlflow.get_tracking_uri()
    phases.report("download")
    _check_server(model_uri, tracking_uri, mlflow.get_registry_uri())
    resolved, facts = _resolve(model_uri, tracking_uri)
    with _downloaded(model_uri, tracking_uri) as local:
        return _register_downloaded(spark, name, model_uri, local, resolved, facts, result_type, env_manager, native)


def _register_downloaded(spark, name: str, model_uri: str, local: Path, resolved: str, facts: dict,
                         result_type: str | None, env_manager: str, native: str) -> RegisteredModel:
    import mlflow

    meta = _pyfunc_metadata(local, model_uri)
    if not facts.get("model_id") and getattr(meta, "model_id", None):
        facts["model_id"] = meta.model_id  # MLflow 3 writes the logged model's id into MLmodel
    inputs = signatures.inputs_of(meta.signature)
    notes = []
    if meta.signature is None:
        notes.append("the model has no signature: columns are passed positionally "
                     f"and the result type defaults to {signatures.DEFAULT_RESULT_TYPE}")
    ddl = result_type or signatures.result_ddl_of(meta.signature) or signatures.DEFAULT_RESULT_TYPE
    data_type = _parse_ddl(ddl)
    if env_manager == "local" and (native == "off" or "sklearn" not in meta.flavors):
        start_workers(spark)  # it will run in them: they start while it loads (native/compile.py compiles sklearn only)
    phases.report("load")
    _preflight(name, model_uri, local, meta, data_type)
    # Lineage records these with every write that calls the function (scala/src/pyshim/Lineage.scala).
    about = {"model_uri": model_uri, "resolved": resolved, "result_type": data_type.simpleString(), **facts}
    decision = _native_decision(spark, native, local, meta, inputs, data_type)
    if native == "require" and decision.sql is None:
        raise ModelError(f"{name}: {model_uri} cannot run as native Spark SQL: {decision.reason}")
    if decision.sql is not None:
        replaced = _register_native(spark, name, decision.sql, inputs, data_type.simpleString(),
                                    {**about, "runs": "native Spark SQL"})
        return RegisteredModel(name, model_uri, resolved, inputs, data_type.simpleString(), replaced, notes,
                               decision.describe(), decision.sql)
    if env_manager == "virtualenv":
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=data_type, env_manager="virtualenv")
    else:
        start_workers(spark)
        phases.report("ship to the Python workers")
        udf = _model_udf(_ship(spark, local, name), name, inputs, data_type, f"{name} ({model_uri}; {resolved})")
    about["runs"] = "Python workers (pandas UDF)" if env_manager == "local" else "Python workers (mlflow spark_udf, virtualenv)"
    replaced = _register(spark, name, udf, inputs, about)
    return RegisteredModel(name, model_uri, resolved, inputs, data_type.simpleString(), replaced, notes,
                           decision.describe())


def _native_decision(spark, native: str, local: Path, meta, inputs: signatures.Inputs, data_type):
    from .. import native as _native

    if native == "off":
        return _native.Decision(None, "native compilation is off")
    if _jvm_functions(spark.sparkContext._jvm) is None:
        return _native.Decision(None, "native functions need pyshim's extension jar in Spark's JVM "
                                      "(a pyshim Toree kernel has it)")
    if inputs.tensor or not inputs.names:
        return _native.Decision(None, "the model's signature names no input columns")
    if signatures.result_kind(data_type)[0] != "scalar":
        return _native.Decision(None, f"the result type {data_type.simpleString()} is not a single value")
    return _native.decide(spark, local, meta, inputs.names, inputs.ddl_types, data_type.simpleString()).for_mode(native)


def _register_native(spark, name: str, sql: str, inputs: signatures.Inputs, result_ddl: str,
                     about: dict[str, str]) -> bool:
    functions = _jvm_functions(spark.sparkContext._jvm)
    return bool(functions.registerNative(spark._jsparkSession, name, sql, inputs.names, inputs.ddl_types,
                                         result_ddl, about))


def start_workers(spark) -> None:
    """Spark's Python workers started in the background as a model function that runs in them
    is registered, once per session: its first query then finds them up (a native model, or
    a Scala-only session, starts none: about 700 MiB for a daemon and two workers). The query
    runs on a JVM thread (Bridge.runInBackground), so this process runs no Python beside the
    user's; without pyshim's extension jar the first query starts them."""
    _use_this_python_locally(spark)
    sc = spark.sparkContext
    if getattr(sc, "_pyshim_workers_started", False) or _jvm_functions(sc._jvm) is None:
        return
    sc._pyshim_workers_started = True
    sc._jvm.pyshim.Bridge.runInBackground(worker_warm_up(spark)._jdf, "pyshim: start Python workers")


def worker_warm_up(spark):
    """A query of one small task per core through a pandas UDF: once it ran, Spark's Python
    workers are up before a first query needs them. Workers are pooled per Python executable
    and environment, the same for every pandas UDF made here, so the model functions' tasks
    reuse them (and their daemon's preloaded libraries make the model's load there cheap)."""
    from pyspark.sql.functions import pandas_udf

    _use_this_python_locally(spark)
    tasks = max(1, spark.sparkContext.defaultParallelism)

    @pandas_udf("long")
    def pyshim_warm_up(ids: pd.Series) -> pd.Series:
        return ids

    return spark.range(0, tasks, 1, tasks).select(pyshim_warm_up("id"))


def _preflight(name: str, uri: str, local: Path, meta, data_type) -> None:
    """Predict on the model's input example, when it has one, and turn the output into the
    result type as a query would: a model that fails there fails its registration, not the
    first query."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    from . import worker

    if not meta.saved_input_example_info:
        return
    try:
        import mlflow.pyfunc

        example = meta.load_input_example(str(local))
        model = mlflow.pyfunc.load_model(str(local), suppress_warnings=True)
        frame = example if isinstance(example, pd.DataFrame) else pd.DataFrame(example)
        kind, fields = signatures.result_kind(data_type)
        output = worker._to_output(model.predict(frame), len(frame), kind, fields)
        if kind == "struct":
            pa.Table.from_pandas(output, schema=pa.schema(list(to_arrow_type(data_type))), preserve_index=False)
        else:
            pa.array(output, type=to_arrow_type(data_type), from_pandas=True)
    except Exception as err:
        raise ModelError.preflight(name, uri, data_type.simpleString(), err) from None


def _check_server(uri: str, tracking_uri: str, registry_uri: str, timeout: float = 10) -> None:
    """Fail fast when an http(s) tracking server is down: mlflow's client would retry for
    minutes and then report a long urllib3 error. Servers reached through a proxy
    (HTTP(S)_PROXY) are left to mlflow's client."""
    import socket
    import urllib.request
    from urllib.parse import urlparse

    if Path(uri).is_dir() or not uri.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        return
    for server in dict.fromkeys((tracking_uri, registry_uri)):
        parsed = urlparse(server or "")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            continue
        if parsed.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(parsed.hostname):
            continue
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        except (OSError, ValueError) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise ModelError(f"cannot load model {uri!r}: the MLflow tracking server {server} does not answer "
                             f"({reason}). Start it, or set MLFLOW_TRACKING_URI to a running server.") from None


def _resolve(uri: str, tracking_uri: str) -> tuple[str, dict[str, str]]:
    """Which model a URI means now, as a phrase ("version 3, run ab12") and as facts
    (version, registered_model, run_id, model_id; those known)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        if uri.startswith("models:/"):
            ref, _, rest = uri[len("models:/"):].partition("/")
            client = MlflowClient()
            if "@" in ref:
                name, alias = ref.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            elif rest:
                mv = client.get_model_version(ref, rest.split("/")[0])
            else:  # MLflow 3 logged model id: models:/m-...
                logged = mlflow.get_logged_model(ref)
                return (f"logged model {logged.model_id}, run {logged.source_run_id}",
                        _known(model_id=logged.model_id, run_id=logged.source_run_id))
            return (f"version {mv.version}, run {mv.run_id}",
                    _known(version=mv.version, registered_model=mv.name, run_id=mv.run_id,
                           model_id=getattr(mv, "model_id", None)))
        if uri.startswith("runs:/"):
            run = uri[len("runs:/"):].split("/")[0]
            return f"run {run}", _known(run_id=run)
        return "local model", {}
    except (MlflowException, IndexError, ValueError) as err:
        raise ModelError.not_found(uri, tracking_uri, _first_line(err)) from None


def _known(**facts) -> dict[str, str]:
    return {k: str(v) for k, v in facts.items() if v}


@contextlib.contextmanager
def _downloaded(uri: str, tracking_uri: str):
    """The model's folder: a local folder as it is, or a download removed once the model is
    registered (what Python workers load was copied for Spark to serve: _ship)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if Path(uri).is_dir():
        yield Path(uri)
        return
    download = tempfile.mkdtemp(prefix="pyshim-model-")
    try:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=download))
        except (MlflowException, OSError) as err:
            raise ModelError.not_found(uri, tracking_uri, _first_line(err)) from None
        except Exception as err:  # network errors from an http tracking server come in many types
            raise ModelError.not_found(uri, tracking_uri, f"{type(err).__name__}: {_first_line(err)}") from None
        yield local
    finally:
        shutil.rmtree(download, ignore_errors=True)


def _pyfunc_metadata(local: Path, uri: str):
    from mlflow.models import Model

    mlmodel = local / "MLmodel"
    if not mlmodel.exists():
        raise ModelError(f"{uri!r} is not an MLflow model: no MLmodel file in {local}; "
                         "point at the model folder (for example runs:/<run_id>/model)")
    meta = Model.load(str(mlmodel))
    if "python_function" not in meta.flavors:
        raise ModelError.not_pyfunc(uri, sorted(meta.flavors))
    return meta


def _parse_ddl(ddl: str):
    from pyspark.sql.types import _parse_datatype_string

    try:
        return _parse_datatype_string(ddl)
    except Exception as err:
        raise ModelError.bad_result_type(ddl, _first_line(err)) from None


def _ship(spark, local: Path, name: str) -> str:
    """Give the model a unique folder name and add it to the job's files (executors fetch it)."""
    key = f"pyshim-{name}-{uuid.uuid4().hex[:8]}"
    staging = Path(tempfile.mkdtemp(prefix="pyshim-ship-"))
    sc = spark.sparkContext
    if sc._jsc.sc().isLocal():
        staged = staging / key
        shutil.copytree(local, staged)
        sc.addFile(str(staged), recursive=True)
    else:
        # On a cluster Spark refuses a local folder in addFile; an archive is fetched by every
        # executor and unpacked in its SparkFiles folder under the name after '#'.
        archive = shutil.make_archive(str(staging / key), "zip", root_dir=local)
        sc.addArchive(f"{archive}#{key}")
    return key


def _use_this_python_locally(spark) -> None:
    """PySpark's workers default to `python3` on PATH, which may lack pandas and pyshim.
    In local mode the workers run here, so this interpreter is the right one."""
    import os
    import sys

    sc = spark.sparkContext
    if not os.environ.get("PYSPARK_PYTHON") and sc.master.startswith("local"):
        sc.pythonExec = sys.executable


def _model_udf(key: str, name: str, inputs: signatures.Inputs, data_type, label: str):
    from pyspark.sql.functions import pandas_udf

    from . import worker as _worker

    kind, fields = signatures.result_kind(data_type)
    names, ddl_types, tensor = inputs.names, list(inputs.ddl_types), inputs.tensor

    def predict(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        yield from _worker.predict_batches(key, names, ddl_types, tensor, kind, fields, batches, label)

    predict.__name__ = predict.__qualname__ = name  # Spark names result columns after it
    return pandas_udf(predict, returnType=data_type)


def _register(spark, name: str, udf, inputs: signatures.Inputs, about: dict[str, str]) -> bool:
    """Through pyshim's JVM registry when the extension jar is loaded, else plain Spark."""
    jvm = spark.sparkContext._jvm
    functions = _jvm_functions(jvm)
    if functions is None:
        replaced = name in {f.name for f in spark.catalog.listFunctions() if f.isTemporary}
        spark.udf.register(name, udf)
        return replaced
    judf = udf._unwrapped._judf if hasattr(udf, "_unwrapped") else udf._judf
    names = inputs.names or [f"_{i}" for i in range(len(inputs.ddl_types))]
    return bool(functions.register(spark._jsparkSession, name, judf, names, inputs.ddl_types,
                                   inputs.positional, about))


def _jvm_functions(jvm):
    try:
        functions = jvm.pyshim.Functions
        functions.isRegistered("")  # raises when the class is not on the JVM's class path
        return functions
    except Exception:
        return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
