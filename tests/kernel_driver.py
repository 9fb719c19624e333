"""Drive a real kernel through jupyter_client and collect what a notebook would show."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import KernelManager


@dataclass
class CellResult:
    status: str
    stdout: str = ""
    stderr: str = ""
    data: dict = field(default_factory=dict)       # execute_result / display_data, merged
    error: dict | None = None                       # ename, evalue, traceback
    result_data: dict | None = None                 # execute_result alone
    outputs: list = field(default_factory=list)     # (msg_type, content) of every output, in order

    @property
    def text(self) -> str:
        return self.data.get("text/plain", "")

    @property
    def error_text(self) -> str:
        if not self.error:
            return ""
        return "\n".join([self.error.get("ename", ""), self.error.get("evalue", ""), *self.error.get("traceback", [])])

    def ok(self) -> "CellResult":
        assert self.status == "ok", f"cell failed: {self.error_text}\nstdout: {self.stdout}\nstderr: {self.stderr}"
        return self


class KernelDriver:
    """A kernel started by name. With wait=False the constructor returns once the process runs
    (a JVM then boots while the caller does other work); wait_ready() before the first cell."""

    def __init__(self, kernel_name: str, cwd: Path, log: Path, env: dict | None = None, wait: bool = True,
                 manager: KernelManager | None = None):
        # `manager`: a KernelManager of one's own (the benchmarks start the other Spark line's kernel).
        self.km = manager or KernelManager(kernel_name=kernel_name)
        self.log = log
        self._log_handle = open(log, "wb")
        self.km.start_kernel(cwd=str(cwd), stdout=self._log_handle, stderr=self._log_handle,
                             env=env or dict(os.environ))
        self.kc = self.km.client()
        self._shell_backlog: dict[str, dict] = {}  # replies read while waiting for another one
        self._iopub_backlog: list[dict] = []  # messages read ahead by wait_until_printing
        self.kc.start_channels(hb=False)  # we watch the process; Toree's heartbeat errors at exit
        self._ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> "KernelDriver":
        """Until the kernel answers kernel_info (once; later calls return at once)."""
        if not self._ready:
            self.kc.wait_for_ready(timeout=timeout)
            self._ready = True
        return self

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def run(self, code: str, timeout: float = 300) -> CellResult:
        return self.result_of(self.kc.execute(code), timeout)

    def result_of(self, msg_id: str, timeout: float = 300) -> CellResult:
        """What the cell asked for by `msg_id` (kc.execute) shows, up to its idle status, and its reply."""
        result = CellResult(status="?")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next_iopub(max(1.0, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            self._collect(result, msg)
        reply = self.shell_reply(msg_id, max(1.0, deadline - time.monotonic()))
        # Nothing is read after idle, as nbclient does: a cell's text and value must come
        # before it (pyshim's CellInterpreter sends both ahead of the reply). Toree sends a
        # failed cell's error message after the reply, so its text also comes from the reply.
        if result.result_data is not None:
            # The cell's value wins over displays (Toree may add a stray `lastException = null`).
            result.data = {**result.data, **result.result_data}
        result.status = reply["content"]["status"]
        if result.status == "error" and result.error is None:
            result.error = {k: reply["content"].get(k) for k in ("ename", "evalue", "traceback")}
        return result

    def wait_until_printing(self, msg_id: str, timeout: float = 120) -> None:
        """Until the cell `msg_id` has printed something: it runs. Its messages stay for result_of()."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
            self._iopub_backlog.append(msg)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                return

    def _next_iopub(self, timeout: float) -> dict:
        return self._iopub_backlog.pop(0) if self._iopub_backlog else self.kc.get_iopub_msg(timeout=timeout)

    def replied(self, msg_id: str) -> bool:
        """The reply to `msg_id` was read already, while waiting for another one."""
        return msg_id in self._shell_backlog

    def shell_reply(self, msg_id: str, timeout: float = 120) -> dict:
        """The reply to request `msg_id`; replies to other requests read meanwhile wait for their turn."""
        if msg_id in self._shell_backlog:
            return self._shell_backlog.pop(msg_id)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            parent = reply["parent_header"].get("msg_id")
            if parent == msg_id:
                return reply
            self._shell_backlog[parent] = reply

    @staticmethod
    def _collect(result: CellResult, msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"):
            result.outputs.append((kind, content))
        if kind == "stream":
            setattr(result, content["name"], getattr(result, content["name"]) + content["text"])
        elif kind == "execute_result":
            result.result_data = content["data"]
        elif kind == "display_data":
            result.data.update(content["data"])
        elif kind == "error":
            result.error = content

    def execute_notebook(self, nb, timeout: int = 600):
        """Run NB's cells in this kernel as `make demo` reads a notebook (nbclient, pyshim's
        client options, output read up to each cell's idle); NB, its outputs filled in."""
        from jupyter_client.asynchronous import AsyncKernelClient
        from nbclient import NotebookClient

        from pyshim.tools.demo import NBCLIENT_OPTIONS

        kc = AsyncKernelClient()
        kc.load_connection_info(self.km.get_connection_info())
        kc.start_channels(hb=False)
        try:
            # This kernel and a client of nbclient's own: nbclient neither starts nor stops it.
            client = NotebookClient(nb, km=self.km, timeout=timeout, **NBCLIENT_OPTIONS)
            client.kc = kc
            client.execute()
        finally:
            kc.stop_channels()
        return nb

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def log_text(self) -> str:
        self._log_handle.flush()
        return self.log.read_text(errors="replace")

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)
        finally:
            proc = self.km.provisioner.process if self.km.provisioner else None
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            self._log_handle.close()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.2)
    return not process_alive(pid)
