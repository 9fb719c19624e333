"""Tab, Shift-Tab and is-complete of the Scala kernel, answered beside a running cell.

ipykernel handles the shell channel's requests one at a time on the main thread, and a cell
holds that thread while it runs: a complete_request queued behind it would be answered when
the cell ends. The Toree kernel answers them beside a running cell; here they are taken off
the shell channel before that queue (on ipykernel's shell channel thread) and answered in
turn on a thread of their own, `pyshim-assist`: `%%python` from the kernel's IPython
(pyshim.bridge.assist, as the Toree kernel's sidecar answers), the other cells by the REPL's
Assist in the JVM, over the py4j connection of this thread (pyspark gives each Python thread
its own), never the running cell's. The REPL's compiler is shared with a cell only while the
cell compiles (scala/src/repl/CompilerLock.scala).

Nothing here sets the kernel's parent message: a running cell's output keeps going to the cell.
"""
from __future__ import annotations

import queue
import threading

from ipykernel.jsonutil import json_clean

REPLIES = {"complete_request": "complete_reply", "inspect_request": "inspect_reply",
           "is_complete_request": "is_complete_reply"}


class AssistThread:
    """The kernel's assist requests, answered in the order they came by one daemon thread."""

    def __init__(self, kernel):
        self.kernel = kernel
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="pyshim-assist", daemon=True).start()

    def submit(self, job) -> None:
        """Run JOB() on the assist thread, after what is queued (warm-ups at start)."""
        self._work.put(job)

    def take(self, msg) -> bool:
        """On the shell channel thread: whether MSG (a shell message's frames) is an assist
        request of the main shell, now queued here. Anything else goes on to ipykernel, a
        request to a subshell too (ipykernel answers those beside the main shell itself)."""
        session = self.kernel.session
        if session is None:
            return False
        try:
            _, frames = session.feed_identities(msg, copy=False)
            header = session.deserialize(frames, content=False, copy=False)["header"]
        except Exception:  # ipykernel reports a message it cannot read
            return False
        if header.get("msg_type") not in REPLIES or header.get("subshell_id"):
            return False
        self.submit(lambda: self._answer(msg))
        return True

    def _serve(self) -> None:
        while True:
            job = self._work.get()
            try:
                job()
            except Exception:  # one request failed: its reply says so, the next ones are answered
                self.kernel.log.exception("pyshim: an assist request failed")

    def _answer(self, msg) -> None:
        kernel = self.kernel
        idents, frames = kernel.session.feed_identities(msg, copy=False)
        request = kernel.session.deserialize(frames, content=True, copy=False)
        kind, content = request["header"]["msg_type"], request["content"]
        kernel.publish("status", {"execution_state": "busy"}, parent=request)
        try:
            if kind == "complete_request":
                reply = kernel.do_complete(content["code"], content["cursor_pos"])
            elif kind == "inspect_request":
                reply = kernel.do_inspect(content["code"], content["cursor_pos"], content.get("detail_level", 0))
            else:
                reply = kernel.do_is_complete(content["code"])
        except Exception as err:  # a front end waits for a reply: it gets one that says what failed
            kernel.log.exception("pyshim: %s failed", kind)
            reply = {"status": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": []}
        # The shell socket belongs to the shell channel thread: the reply goes out from there.
        kernel.shell_channel_thread.io_loop.add_callback(self._send, REPLIES[kind], json_clean(reply), request, idents)

    def _send(self, reply_type: str, reply: dict, request: dict, idents) -> None:
        kernel = self.kernel
        kernel.session.send(kernel.shell_stream, reply_type, reply, request, idents)
        kernel.publish("status", {"execution_state": "idle"}, parent=request)
