"""The Python process beside a Toree kernel: `python -m pyshim.bridge.sidecar`.

Started by the kernel's JVM (scala/src/pyshim/Sidecar.scala) with the gateway's port and
secret in its environment. It wraps the kernel's own SparkContext and SparkSession, then
serves requests from the JVM's Bridge on its main thread, so that Ctrl-C in Jupyter
(forwarded as SIGINT) interrupts user code; the kernel cancels the cell's Spark jobs.

`%%python` cells run in an IPython InteractiveShell (made during the warm start, else on the
first cell): its display publisher and displayhook send every display(), figure and the
last expression's value back to the cell as Jupyter MIME bundles, in order with the text.
"""
from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

from .. import settings
from . import failures, jobtags

# What PySpark's own launcher imports into the gateway view before making a SparkContext.
_JVM_IMPORTS = [
    "org.apache.spark.SparkConf", "org.apache.spark.api.java.*", "org.apache.spark.api.python.*",
    "org.apache.spark.ml.python.*", "org.apache.spark.mllib.api.python.*",
    "org.apache.spark.resource.*", "org.apache.spark.sql.*", "org.apache.spark.sql.api.python.*",
    "org.apache.spark.sql.hive.*", "scala.Tuple2",
]

# Figures show inline, as in Jupyter: matplotlib picks this backend when it is first imported.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

# z.put of a pandas DataFrame copies it into the JVM through Arrow; past this many MB
# (PYSHIM_PANDAS_PUT_LIMIT_MB), it says how to make a Spark DataFrame instead.
PANDAS_PUT_LIMIT_MB = float(settings.default("PYSHIM_PANDAS_PUT_LIMIT_MB"))


def connect():
    """The kernel's gateway, in PySpark's pinned-thread mode (a JVM thread per Python thread:
    the job tag of a cell stays with the Python threads that run it, see jobtags.py)."""
    from py4j.clientserver import ClientServer, JavaParameters, PythonParameters
    from py4j.java_gateway import java_import

    port = int(os.environ.pop("PYSHIM_GATEWAY_PORT"))
    secret = os.environ.pop("PYSHIM_GATEWAY_SECRET")  # not left for user code to read
    gateway = ClientServer(
        java_parameters=JavaParameters(address="127.0.0.1", port=port, auth_token=secret, auto_convert=True),
        python_parameters=PythonParameters(port=0, eager_load=False))
    for name in _JVM_IMPORTS:
        java_import(gateway.jvm, name)
    return gateway


def attach(gateway):
    """A PySpark view of the kernel's own SparkContext and SparkSession."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    bridge = gateway.entry_point
    jsc = bridge.javaSparkContext()
    sc = SparkContext(gateway=gateway, jsc=jsc, conf=SparkConf(_jconf=jsc.getConf()))
    spark = SparkSession(sc, jsparkSession=bridge.sparkSession())
    return bridge, sc, spark


class SharedStore:
    """`z` in Python cells: values shared with Scala (`import pyshim.z`).

    DataFrames travel as the JVM Dataset itself (no copy); a pandas DataFrame becomes a
    Spark DataFrame through Arrow.
    """

    def __init__(self, jstore, spark):
        self._store, self._spark = jstore, spark

    def put(self, key: str, value) -> None:
        self._store.put(key, self._to_jvm(key, value))

    def get(self, key: str, *default):
        if not self._store.contains(key):
            if default:
                return default[0]
            raise KeyError(f"z.get: no value named {key!r}; put one first with z.put({key!r}, value) "
                           f"(names now: {', '.join(self.keys()) or 'none'})")
        return self._to_python(self._store.getJava(key))

    def keys(self) -> list[str]:
        return list(self._store.keyList())

    def remove(self, key: str) -> None:
        self._store.remove(key)

    def __repr__(self) -> str:
        return f"<pyshim shared store: {', '.join(self.keys()) or 'empty'}>"

    def _to_jvm(self, key: str, value):
        from pyspark.sql import DataFrame

        if isinstance(value, DataFrame):
            return value._jdf
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(value, pandas.DataFrame):
            return self._from_pandas(key, value)._jdf
        return value

    def _from_pandas(self, key: str, frame):
        size_mb = frame.memory_usage(deep=True).sum() / 2**20
        limit = float(os.environ.get("PYSHIM_PANDAS_PUT_LIMIT_MB", PANDAS_PUT_LIMIT_MB))
        if size_mb > limit:
            raise ValueError(
                f"z.put({key!r}, ...): this pandas DataFrame takes {size_mb:,.2f} MB, more than z.put copies "
                f"into Spark ({limit:g} MB); make a Spark DataFrame of it first, "
                f"z.put({key!r}, spark.createDataFrame(df)), or write it to Parquet and read that from Scala")
        arrow = "spark.sql.execution.arrow.pyspark.enabled"
        before = self._spark.conf.get(arrow, None)
        self._spark.conf.set(arrow, "true")  # Arrow batches, not row by row through pickle
        try:
            return self._spark.createDataFrame(frame)
        finally:
            if before is None:
                self._spark.conf.unset(arrow)
            else:
                self._spark.conf.set(arrow, before)

    def _to_python(self, value):
        from py4j.java_collections import JavaList, JavaMap
        from py4j.java_gateway import JavaObject, is_instance_of

        if isinstance(value, JavaMap):
            return {self._to_python(k): self._to_python(v) for k, v in value.items()}
        if isinstance(value, JavaList):
            return [self._to_python(v) for v in value]
        # Spark 4's Dataset is org.apache.spark.sql.classic.Dataset, a subclass of Spark 3.5's name.
        if isinstance(value, JavaObject) and is_instance_of(self._spark.sparkContext._gateway, value, "org.apache.spark.sql.Dataset"):
            from pyspark.sql import DataFrame

            return DataFrame(value, self._spark)
        return value


class BridgeStream(io.TextIOBase):
    """sys.stdout / sys.stderr of a running cell: lines go to the cell as they come."""

    def __init__(self, bridge, request_id: int, name: str):
        self._bridge, self._id, self._name = bridge, request_id, name
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer.append(text)
        if "\n" in text or time.monotonic() - self._last_flush > 0.5:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            text, self._buffer = "".join(self._buffer), []
            self._bridge.write(self._id, self._name, text)
        self._last_flush = time.monotonic()


class Cell:
    """What one running %%python cell sends back besides its text: Jupyter messages
    (display_data, ...), the last expression's MIME bundle, the error if it failed."""

    def __init__(self, bridge=None, request_id: int = 0):
        self.bridge, self.request_id = bridge, request_id
        self.result: dict | None = None
        self.error: dict | None = None

    def send(self, msg_type: str, content: dict) -> None:
        if self.bridge is None:
            return  # no cell runs (warm-up): nobody would see it
        sys.stdout.flush()  # the text printed so far comes first
        sys.stderr.flush()
        self.bridge.display(self.request_id, msg_type, json.dumps(content, default=str))


def make_shell(namespace: dict):
    """IPython's InteractiveShell, wired to send its output to the running cell.

    Its profile and history live in a temp folder (nothing in ~/.ipython); `?` help shows
    in the cell instead of a pager.
    """
    from IPython.core.profiledir import ProfileDir
    from traitlets.config import Config

    profile = tempfile.mkdtemp(prefix="pyshim-ipython-")
    atexit.register(shutil.rmtree, profile, True)
    config = Config()
    config.HistoryManager.enabled = False  # In and Out still work, in memory
    config.InteractiveShell.display_page = True
    config.InteractiveShell.colors = "nocolor"
    # IPython's completer from the live objects, without jedi: a Tab answers in milliseconds,
    # where jedi on every Tab took seconds on its first uses (43 s on a loaded machine). jedi
    # reads the cell only when the live objects have no answer (assist.py), warmed at start.
    config.IPCompleter.use_jedi = False
    shell = _shell_class().instance(config=config, ipython_dir=profile,
                                    profile_dir=ProfileDir.create_profile_dir(os.path.join(profile, "profile")))
    shell.set_custom_exc((BaseException,), _short_traceback)
    shell.push(namespace, interactive=False)  # spark, sc, z, pyshim: bound, and not listed by %who
    return shell


def _shell_class():
    """InteractiveShell with a display publisher and displayhook that talk to the running cell."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    class CellDisplayPublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            self.shell.cell.send("update_display_data" if update else "display_data",
                                 {"data": data, "metadata": metadata or {}, "transient": transient or {}})

        def clear_output(self, wait=False):
            self.shell.cell.send("clear_output", {"wait": wait})

    class CellDisplayHook(DisplayHook):
        """The last expression's value becomes the cell's result (Toree's execute_result)."""

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.cell.result = format_dict

        def finish_displayhook(self):
            self._is_active = False

    class SidecarShell(InteractiveShell):
        displayhook_class = CellDisplayHook
        display_pub_class = CellDisplayPublisher
        cell = Cell()

        def _showtraceback(self, etype, evalue, stb):
            if self.cell.error is None:  # what IPython reports itself; user code's errors come via _short_traceback
                self.cell.error = {"status": "error", "ename": etype.__name__, "evalue": str(evalue),
                                   "traceback": self.InteractiveTB.stb2text(stb).strip("\n")}

        def enable_gui(self, gui=None):
            if gui not in (None, "inline"):
                raise UsageError(f"%gui {gui}: the sidecar has no GUI event loop; figures show inline")

    return SidecarShell


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    shell.cell.error = error_answer(value)
    return [shell.cell.error["traceback"]]


class Session:
    """The %%python shell and the request handlers."""

    def __init__(self, bridge, sc, spark):
        import pyshim

        self.bridge, self.spark = bridge, spark
        self.namespace = {"spark": spark, "sc": sc, "z": SharedStore(bridge.store(), spark), "pyshim": pyshim}
        self._shell = None

    @property
    def shell(self):
        if self._shell is None:
            self._shell = make_shell(self.namespace)
        return self._shell

    def handle(self, request_id: int, op: str, payload: str) -> dict:
        if op in ("complete", "inspect", "is_complete"):
            return self.assist(op, payload)
        handler = {"exec": self.execute, "register": self.register, "ping": lambda *_: {"status": "ok"}}.get(op)
        if handler is None:
            return {"status": "error", "ename": "ValueError", "evalue": f"unknown operation {op!r}"}
        return handler(request_id, payload)

    def execute(self, request_id: int, code: str) -> dict:
        shell = self.shell
        cell = shell.cell = Cell(self.bridge, request_id)
        out, err = BridgeStream(self.bridge, request_id, "stdout"), BridgeStream(self.bridge, request_id, "stderr")
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            with interruptible(self.bridge, request_id):
                shell.run_cell(code, store_history=True)
        except BaseException as exc:  # noqa: B036 - Ctrl-C outside the user's code: the cell failed, the sidecar goes on
            cell.error = cell.error or error_answer(exc)
        finally:
            out.flush()
            err.flush()
            sys.stdout, sys.stderr = saved
            shell.cell = Cell()
        return cell.error or {"status": "ok", "data": cell.result or {}}

    def assist(self, op: str, payload: str) -> dict:
        """Completion, help and is-complete of a %%python cell (assist.py); never fails the kernel."""
        from . import assist

        req = json.loads(payload)
        try:
            if op == "complete":
                return assist.complete(self.shell, req["code"], req["cursor_pos"])
            if op == "inspect":
                return assist.inspect(self.shell, req["code"], req["cursor_pos"], req.get("detail_level", 0))
            return assist.is_complete(self.shell, req["cell"], req["code"])
        except Exception as err:  # a completer's bug must cost one empty answer, not the sidecar
            print(f"pyshim sidecar: {op} failed: {_short_message(err)}", file=sys.__stderr__, flush=True)
            return {"status": "error", "ename": type(err).__name__, "evalue": _short_message(err), "traceback": ""}

    def register(self, request_id: int, payload: str) -> dict:
        from .. import phases
        from ..errors import PyshimError
        from . import models

        req = json.loads(payload)

        def tell(phase: str) -> None:  # to the cell's progress display (Progress.scala)
            self.bridge.display(request_id, "pyshim_phase", json.dumps({"phase": phase}))

        try:
            with phases.reporting(tell):
                registered = models.register_model(self.spark, req["name"], req["uri"],
                                                   result_type=req.get("result_type"),
                                                   env_manager=req.get("env_manager") or "local",
                                                   native=req.get("native") or "auto")
        except PyshimError as err:
            return {"status": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": ""}
        except Exception as err:
            return error_answer(err)
        return {"status": "ok", "summary": registered.summary()}


# What every %register_model imports: mlflow's model loading.
REGISTRATION_IMPORTS = ("mlflow.pyfunc",)
# What the first compile of a model version imports (orbital: a second or two, as much as the
# rest of a registration); a version registered before takes the kept decision instead
# (native/decisions.py).
COMPILER_IMPORTS = ("orbital",)
# A tracking or registry store in a database (sqlite:///mlflow.db, MLflow 3's default): its
# SQLAlchemy and alembic modules, a second of a first registration's model lookup. Only
# imported: nothing connects to the store before the user's first registration.
DATABASE_STORE_IMPORTS = ("mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store")


def warm_up(shell) -> None:
    """At kernel start: make what the first cells need in Python, so they do not wait for it
    (warm_imports, the model compiler), and the IPython shell's completers' first uses
    (assist.warm_up: not on the user's first Tab). The Toree kernel's sidecar makes it while
    Toree's interpreter starts; pyshim's kernel the same parts, in its own order."""
    from . import assist

    warm_imports()
    import_compiler()
    assist.warm_up(shell)


def warm_imports() -> None:
    """What every %register_model imports: mlflow, the tracking store's modules. Spark's
    Python workers start with the first model function that runs in them
    (models.start_workers): a model that runs as native Spark SQL, or a Scala-only session,
    never needs them."""
    import mlflow
    from mlflow.store.db.db_types import DATABASE_ENGINES

    for module in REGISTRATION_IMPORTS:
        importlib.import_module(module)
    schemes = {uri.split(":", 1)[0].split("+", 1)[0] for uri in (mlflow.get_tracking_uri(), mlflow.get_registry_uri())}
    if schemes & set(DATABASE_ENGINES):
        for module in DATABASE_STORE_IMPORTS:
            importlib.import_module(module)


def import_compiler() -> None:
    for module in COMPILER_IMPORTS:
        importlib.import_module(module)


class interruptible:
    """Ctrl-C raises KeyboardInterrupt only while user code runs; idle, it is ignored.

    A Ctrl-C that came before the handler was set (the request was taken, user code not
    started yet) is not lost: the JVM marks the request first, and it is asked here.

    Inside a py4j call it does not raise either: py4j mishandles an exception in the
    middle of its socket read, and the kernel's interrupt already cancels the Spark jobs,
    which makes that call return with an error of its own.
    """

    def __init__(self, bridge, request_id: int):
        self.bridge, self.request_id = bridge, request_id

    def __enter__(self):
        signal.signal(signal.SIGINT, self._handle)
        if self.bridge.wasInterrupted(self.request_id):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise KeyboardInterrupt
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return False

    @staticmethod
    def _handle(signum, frame):
        if not in_py4j_call(frame):
            raise KeyboardInterrupt


def in_py4j_call(frame) -> bool:
    """True when the signal came while Python waited in py4j (for a JVM answer)."""
    while frame is not None:
        if f"{os.sep}py4j{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def error_answer(exc: BaseException, cell_label=None) -> dict:
    """A short Python traceback: the cell's frames and the user's own, a Java error's first line only.
    A model or Python UDF that failed in Spark's workers: its few lines (failures.py).
    `cell_label(filename)` names a cell's code ("Cell In[3]"), None for other files; by default
    the names of this shell's cells (`<ipython-input-3-...>`)."""
    label = cell_label or _ipython_input_label
    short = failures.short_failure(exc)
    if short is not None:
        traceback.print_exception(exc, file=sys.__stderr__)  # the full error, in the sidecar's log
        short.lines.append(f"  full error: {os.environ.get('PYSHIM_SIDECAR_LOG', 'the sidecar log')}")
        return {"status": "error", "ename": short.ename, "evalue": short.evalue, "traceback": str(short)}
    ename, evalue = type(exc).__name__, _short_message(exc)
    if isinstance(exc, SyntaxError):  # the offending line with a caret, as Python shows it
        text = _CELL_FILE.sub(r"Cell In[\1]", "".join(traceback.format_exception_only(exc)))
        return {"status": "error", "ename": ename, "evalue": exc.msg, "traceback": text.rstrip()}
    usage = ename == "UsageError"  # a magic's own message says it all
    frames = "" if usage else "".join(_format_frame(f, label) for f in _user_frames(exc.__traceback__, label))
    lines = ("Traceback (most recent call last):\n" + frames if frames else "") + f"{ename}: {evalue}"
    return {"status": "error", "ename": ename, "evalue": evalue, "traceback": lines}


_CELL_NAME = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>")
_CELL_FILE = re.compile(r'File "<ipython-input-(\d+)-[0-9a-f]+>"')
_INTERNAL = (os.sep + "pyspark" + os.sep, os.sep + "py4j" + os.sep, "pyspark.zip", "py4j-",
             os.sep + "IPython" + os.sep, __file__, os.sep + "scala_kernel" + os.sep)


def _ipython_input_label(filename: str) -> str | None:
    cell = _CELL_NAME.fullmatch(filename)
    return f"Cell In[{cell.group(1)}]" if cell else None


def _user_frames(tb, label) -> list[traceback.FrameSummary]:
    """Frames from the first cell frame on, without the sidecar's, IPython's, PySpark's and py4j's."""
    frames = traceback.extract_tb(tb)
    first = next((i for i, f in enumerate(frames) if label(f.filename)), 0)
    return [f for f in frames[first:] if not any(part in f.filename for part in _INTERNAL)]


def _format_frame(frame: traceback.FrameSummary, label) -> str:
    where = label(frame.filename) or f'File "{frame.filename}"'
    source = f"    {frame.line.strip()}\n" if frame.line else ""
    return f"  {where}, line {frame.lineno}, in {frame.name}\n{source}"


def _short_message(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString())
        except Exception:
            pass
    text = str(exc)
    if type(exc).__name__ == "KeyboardInterrupt":
        return "interrupted"
    if type(exc).__module__.startswith("pyspark.errors"):
        return text.split("\n")[0].split("; line ")[0]  # Spark appends the whole query plan
    return text if len(text) < 2000 else text[:2000] + " ..."


def serve(bridge, session: Session) -> None:
    from py4j.protocol import Py4JNetworkError

    pid = os.getpid()  # the JVM hands requests to the sidecar that said ready only
    while True:
        try:
            request = bridge.take(pid, 500)
        except Py4JNetworkError:
            return  # the kernel is gone
        if request is None:
            continue
        request_id, op, payload = int(request[0]), request[1], request[2]
        with jobtags.cell(request[3] if len(request) > 3 else ""):
            answer = session.handle(request_id, op, payload)
        bridge.complete(request_id, json.dumps(answer, default=str))


def die_with_parent() -> None:
    """Never outlive the kernel JVM, even when it is killed with SIGKILL.

    Not PR_SET_PDEATHSIG: it fires when the JVM *thread* that started us ends, and
    Toree replaces its interpreter thread on every interrupt.
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="pyshim-parent-watch", daemon=True).start()


def main() -> int:
    # Jupyter interrupts a kernel by signalling its process group; the JVM forwards
    # Ctrl-C to us only while a Python cell runs, so we leave that group.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    die_with_parent()
    gateway = connect()
    bridge, sc, spark = attach(gateway)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # PySpark's SparkContext installed its own
    jobtags.install(sc)
    session = Session(bridge, sc, spark)
    if os.environ.pop("PYSHIM_WARM_UP", "") == "1":
        try:
            warm_up(session.shell)
        except Exception as err:  # only slower: the first cells start what they need
            print(f"pyshim sidecar: warm-up skipped: {_short_message(err)}", file=sys.stderr, flush=True)
    bridge.ready(os.getpid())
    serve(bridge, session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
