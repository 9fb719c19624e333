"""The Python process beside a Toree kernel: `python -m pyshim.bridge.sidecar`.

Started by the kernel's JVM (scala/src/pyshim/Sidecar.scala) with the gateway's port and
secret in its environment. It wraps the kernel's own SparkContext and SparkSession, then
serves requests from the JVM's Bridge on its main thread, so that Ctrl-C in Jupyter
(forwarded as SIGINT) interrupts user code and PySpark cancels its jobs.
"""
from __future__ import annotations

import ast
import importlib
import io
import json
import linecache
import os
import signal
import sys
import threading
import time
import traceback

# What PySpark's own launcher imports into the gateway view before making a SparkContext.
_JVM_IMPORTS = [
    "org.apache.spark.SparkConf", "org.apache.spark.api.java.*", "org.apache.spark.api.python.*",
    "org.apache.spark.ml.python.*", "org.apache.spark.mllib.api.python.*",
    "org.apache.spark.resource.*", "org.apache.spark.sql.*", "org.apache.spark.sql.api.python.*",
    "org.apache.spark.sql.hive.*", "scala.Tuple2",
]


def connect():
    from py4j.java_gateway import GatewayParameters, JavaGateway, java_import

    port = int(os.environ.pop("PYSHIM_GATEWAY_PORT"))
    secret = os.environ.pop("PYSHIM_GATEWAY_SECRET")  # not left for user code to read
    gateway = JavaGateway(gateway_parameters=GatewayParameters(
        address="127.0.0.1", port=port, auth_token=secret, auto_convert=True))
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
    """`z` in Python cells: values shared with Scala (`import pyshim.z`)."""

    def __init__(self, jstore):
        self._store = jstore

    def put(self, key: str, value) -> None:
        self._store.put(key, value)

    def get(self, key: str, *default):
        if not self._store.contains(key):
            if default:
                return default[0]
            raise KeyError(f"z.get: no value named {key!r}; put one first with z.put({key!r}, value) "
                           f"(names now: {', '.join(self.keys()) or 'none'})")
        return _to_python(self._store.getJava(key))

    def keys(self) -> list[str]:
        return list(self._store.keyList())

    def remove(self, key: str) -> None:
        self._store.remove(key)

    def __repr__(self) -> str:
        return f"<pyshim shared store: {', '.join(self.keys()) or 'empty'}>"


def _to_python(value):
    from py4j.java_collections import JavaList, JavaMap

    if isinstance(value, JavaMap):
        return {_to_python(k): _to_python(v) for k, v in value.items()}
    if isinstance(value, JavaList):
        return [_to_python(v) for v in value]
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


class Session:
    """The persistent namespace of %%python cells and the request handlers."""

    def __init__(self, bridge, sc, spark):
        import pyshim

        self.bridge, self.spark = bridge, spark
        self.namespace = {"__name__": "__main__", "spark": spark, "sc": sc,
                          "z": SharedStore(bridge.store()), "pyshim": pyshim}
        self.cells = 0

    def handle(self, request_id: int, op: str, payload: str) -> dict:
        handler = {"exec": self.execute, "register": self.register, "ping": lambda *_: {"status": "ok"}}.get(op)
        if handler is None:
            return {"status": "error", "ename": "ValueError", "evalue": f"unknown operation {op!r}"}
        return handler(request_id, payload)

    def execute(self, request_id: int, code: str) -> dict:
        self.cells += 1
        filename = f"<python-cell-{self.cells}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        out, err = BridgeStream(self.bridge, request_id, "stdout"), BridgeStream(self.bridge, request_id, "stderr")
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            with interruptible():
                value = self._run(code, filename)
            return {"status": "ok", "data": display_bundle(value)}
        except BaseException as exc:  # noqa: B036 - KeyboardInterrupt too: the cell failed, the sidecar goes on
            return error_answer(exc, filename)
        finally:
            out.flush()
            err.flush()
            sys.stdout, sys.stderr = saved

    def _run(self, code: str, filename: str):
        tree = ast.parse(code, filename=filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, filename, "exec"), self.namespace)
        if last is None:
            return None
        value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
        self.namespace["_"] = value
        return value

    def register(self, request_id: int, payload: str) -> dict:
        from . import models
        from ..errors import PyshimError

        req = json.loads(payload)
        try:
            registered = models.register_model(self.spark, req["name"], req["uri"],
                                               result_type=req.get("result_type"),
                                               env_manager=req.get("env_manager") or "local",
                                               native=req.get("native") or "auto")
        except PyshimError as err:
            return {"status": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": ""}
        except Exception as err:
            return error_answer(err, "")
        return {"status": "ok", "summary": registered.summary()}


def warm_up(bridge, spark) -> None:
    """At kernel start, before serving: have the JVM run a query that starts Spark's Python
    workers, on a thread of its own (this process runs no Python beside the user's code:
    imports from two threads at once can deadlock), then import what the first cells need
    while the workers start."""
    from . import models

    bridge.runInBackground(models.worker_warm_up(spark)._jdf, "pyshim: start Python workers")
    for name in ("mlflow", "IPython.core.formatters"):  # %register_model; a cell's display
        importlib.import_module(name)


class interruptible:
    """Ctrl-C raises KeyboardInterrupt only while user code runs; idle, it is ignored.

    Inside a py4j call it does not raise either: py4j mishandles an exception in the
    middle of its socket read, and the kernel's interrupt already cancels the Spark jobs,
    which makes that call return with an error of its own.
    """

    def __enter__(self):
        signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return False

    @staticmethod
    def _handle(signum, frame):
        while frame is not None:
            if f"{os.sep}py4j{os.sep}" in frame.f_code.co_filename:
                return
            frame = frame.f_back
        raise KeyboardInterrupt


def display_bundle(value) -> dict[str, str]:
    """The value of a cell's last expression as IPython would show it (a DataFrame as a table)."""
    if value is None:
        return {}
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(value, include={"text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml"})
    return {mime: content if isinstance(content, str) else json.dumps(content) for mime, content in data.items()}


def error_answer(exc: BaseException, filename: str) -> dict:
    """A short Python traceback: frames from the cell on, and a Java error's first line only."""
    ename, evalue = type(exc).__name__, _short_message(exc)
    frames = traceback.format_list(_user_frames(exc.__traceback__, filename))
    lines = (["Traceback (most recent call last):\n"] + frames if frames else []) + [f"{ename}: {evalue}\n"]
    return {"status": "error", "ename": ename, "evalue": evalue, "traceback": "".join(lines).rstrip()}


def _user_frames(tb, filename: str) -> list[traceback.FrameSummary]:
    """Frames from the cell on, without the sidecar's, PySpark's and py4j's internals."""
    while tb is not None and filename and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    internal = (os.sep + "pyspark" + os.sep, os.sep + "py4j" + os.sep, "pyspark.zip", "py4j-", __file__)
    return [f for f in traceback.extract_tb(tb) if not any(part in f.filename for part in internal)]


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

    while True:
        try:
            request = bridge.take(500)
        except Py4JNetworkError:
            return  # the kernel is gone
        if request is None:
            continue
        request_id, op, payload = int(request[0]), request[1], request[2]
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
    die_with_parent()
    gateway = connect()
    bridge, sc, spark = attach(gateway)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # PySpark's SparkContext installed its own
    session = Session(bridge, sc, spark)
    if os.environ.pop("PYSHIM_WARM_UP", "") == "1":
        try:
            warm_up(bridge, spark)
        except Exception as err:  # only slower: the first cells start what they need
            print(f"pyshim sidecar: warm-up skipped: {_short_message(err)}", file=sys.stderr, flush=True)
    bridge.ready(os.getpid())
    serve(bridge, session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
