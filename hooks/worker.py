"""A background worker that exports notebooks off the save request's path.

jupyter_server runs post-save hooks synchronously inside the HTTP request, so
the hook only calls :meth:`ExportWorker.submit` (a dict write under a lock) and
returns. One daemon thread does the exports. Saves of the same notebook
coalesce: the pending map holds each path once, and the export reads the
notebook from disk when it runs, so the latest saved content always wins. A
save that lands while that notebook is being exported queues one more export.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import ExportError

ExportFunction = Callable[[Path], object]


class ExportWorker:
    """Runs ``export(path)`` for submitted paths on one background thread."""

    def __init__(
        self,
        export: ExportFunction,
        log: logging.Logger | logging.LoggerAdapter,
        debounce_seconds: float = 0.0,
    ):
        self._export = export
        self._log = log
        self._debounce = debounce_seconds
        self._pending: dict[Path, float] = {}  # path -> monotonic time it is due
        self._running: Path | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ public API

    def submit(self, path: Path) -> None:
        """Queue an export of ``path``; cheap and non-blocking (safe in a request)."""
        with self._changed:
            if self._stopping:
                return
            # Re-inserting moves the path to the back and pushes its due time:
            # the export waits until the burst of saves is over.
            self._pending.pop(path, None)
            self._pending[path] = time.monotonic() + self._debounce
            self._start_thread_if_needed()
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running; False if ``timeout`` ran out.

        Pending exports are made due now, so a flush does not wait out the debounce.
        For tests, benchmarks and shutdown; the save hook never calls it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            now = time.monotonic()
            for path in self._pending:
                self._pending[path] = min(self._pending[path], now)
            self._changed.notify_all()
            while self._pending or self._running is not None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Finish pending exports (up to ``timeout``), then end the thread."""
        idle = self.wait_idle(timeout)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None and idle:
            # An idle thread exits at once; a stuck export is abandoned (daemon
            # thread) rather than holding up the server's exit a second time.
            self._thread.join(timeout)
        return idle

    # ------------------------------------------------------------ the thread

    def _start_thread_if_needed(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            # Daemon: a stuck export must never keep the server from exiting.
            self._thread = threading.Thread(
                target=self._run, name="pyshim-save-export", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            path = self._next_due_path()
            if path is None:
                return
            try:
                self._export(path)
            except ExportError as exc:
                self._log.error(
                    "pyshim_hooks: review copies of %s not updated: %s. The notebook itself "
                    "was saved; fix the cause and save again, or run `pyshim export %s`.",
                    path, exc.reason, path,
                )
            except Exception as exc:  # never let one notebook kill the worker
                self._log.error(
                    "pyshim_hooks: review copies of %s not updated: unexpected %s: %s. "
                    "The notebook itself was saved.",
                    path, type(exc).__name__, exc, exc_info=True,
                )
            finally:
                with self._changed:
                    self._running = None
                    self._changed.notify_all()

    def _next_due_path(self) -> Path | None:
        """Wait for the earliest due path and claim it; None when stopping."""
        with self._changed:
            while True:
                if self._stopping:
                    return None
                if self._pending:
                    path, due = min(self._pending.items(), key=lambda item: item[1])
                    wait = due - time.monotonic()
                    if wait <= 0:
                        del self._pending[path]
                        self._running = path
                        return path
                    self._changed.wait(wait)
                else:
                    self._changed.wait()
