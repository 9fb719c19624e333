"""The kernel as the Python side of its Scala code (what the sidecar is for the Toree kernel).

Scala code asks Python through pyshim.Bridge: `%register_model` and `pyshim.Models.register`
load a model and register its function, `pyshim.PythonCode.run` runs Python. In this kernel
the cell loop (kernel.follow) serves those requests on the kernel's main thread between two
polls of the running cell, with the sidecar's own handlers, so Ctrl-C reaches them there.
"""
from __future__ import annotations

import json
import os

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
            request_id, op, payload = int(request[0]), request[1], request[2]
            with jobtags.cell(request[3] if len(request) > 3 else ""):
                answer = self.handle(request_id, op, payload)
            self.bridge.complete(request_id, json.dumps(answer, default=str))

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
