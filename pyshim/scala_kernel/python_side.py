"""The kernel as the Python side of its Scala code (what the sidecar is for the Toree kernel).

Scala code asks Python through pyshim.Bridge: `%register_model` and `pyshim.Models.register`
load a model and register its function, `pyshim.PythonCode.run` runs Python. In this kernel
the cell loop (kernel.follow) serves those requests on the kernel's main thread between two
polls of the running cell, with the sidecar's own handlers, so Ctrl-C reaches them there.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import threading

from ..bridge import jobtags
from ..bridge.sidecar import Session, error_answer


class InProcessSession(Session):
    def __init__(self, bridge, sc, spark, kernel):
        super().__init__(bridge, sc, spark)
        self.kernel = kernel
        self.pid = os.getpid()

    @property
    def shell(self):
        return self.kernel.shell

    def serve_pending(self) -> None:
        """Answer the requests Scala code made since the last poll."""
        while True:
            request = self.bridge.take(self.pid, 0)
            if request is None:
                return
            self.kernel.ready_for_python()
            request_id, op, payload = int(request[0]), request[1], request[2]
            with jobtags.cell(request[3] if len(request) > 3 else ""):
                answer = self.handle(request_id, op, payload)
            self.bridge.complete(request_id, json.dumps(answer, default=str))

    def register(self, request_id: int, payload: str) -> dict:
        """As the Toree kernel's sidecar does, what Python prints while it registers a model goes
        to the kernel's log, not into the cell, which shows pyshim's summary and progress
        display: MLflow's first import in this process (tqdm warns that ipywidgets is missing in
        a Jupyter kernel), its download bars, the model libraries' warnings."""
        with to_kernel_log():
            return super().register(request_id, payload)

    def execute(self, request_id: int, code: str) -> dict:
        """pyshim.PythonCode.run: in the kernel's own IPython; its output goes to the cell."""
        try:
            result = self.shell.run_cell(code, store_history=False)
        except BaseException as exc:  # noqa: B036 - Ctrl-C: the request failed, the kernel goes on
            return error_answer(exc)
        if not result.success:
            return error_answer(result.error_in_exec or result.error_before_exec)
        value = result.result
        return {"status": "ok", "data": {} if value is None else {"text/plain": repr(value)}}


class _ByThread:
    """sys.stdout or sys.stderr that sends what some threads write to the kernel's log, and
    what every other thread writes (a cell's output) where it always went."""

    def __init__(self, usual):
        self.usual = usual

    def _target(self):
        return _to_log.get(threading.get_ident(), self.usual)

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def __getattr__(self, attr):
        return getattr(self._target(), attr)


_to_log: dict[int, object] = {}  # thread id -> the kernel's log, while it runs to_kernel_log()
_routing = threading.Lock()


@contextlib.contextmanager
def to_kernel_log():
    """What this thread writes to sys.stdout and sys.stderr, to the kernel's log for a while
    (ipykernel captures file descriptors 1 and 2 for the cells: the log is the copy it kept of
    the original stderr). Only this thread's: contextlib.redirect_stdout would swap the stream
    of the whole process, and a Scala cell running meanwhile would lose its output to the log."""
    from .jvm import kernel_log

    log = kernel_log()
    fd = log if isinstance(log, int) else log.fileno()
    with os.fdopen(os.dup(fd), "w", buffering=1, errors="replace") as stream:
        with _routing:
            for name in ("stdout", "stderr"):
                if not isinstance(getattr(sys, name), _ByThread):
                    setattr(sys, name, _ByThread(getattr(sys, name)))
            _to_log[threading.get_ident()] = stream
        try:
            yield
        finally:
            with _routing:
                del _to_log[threading.get_ident()]
                if not _to_log:  # the last thread routed: the usual streams back
                    for name in ("stdout", "stderr"):
                        current = getattr(sys, name)
                        if isinstance(current, _ByThread):
                            setattr(sys, name, current.usual)
