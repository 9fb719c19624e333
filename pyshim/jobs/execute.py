"""One notebook, executed in a new kernel on papermill, with one progress line per cell.

papermill injects the parameters after the cell tagged `parameters` (its Scala translator
writes `val name = value` for the pyshim-scala kernel), keeps cell timings in the notebook's
metadata and saves the executed notebook as it goes, so a failure leaves the partial notebook
behind with papermill's error banner. pyshim adds, through a papermill engine of its own:
the kernel's environment and working folder, its own stdout/stderr in a log file beside the
executed notebook (Toree and Spark log a lot), timeouts that fit a Toree cold start, the
progress lines, and one short error (`ename: evalue`, no JVM stack) when a cell fails.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import PyshimError

ENGINE = "pyshim"
CELL_TIMEOUT = 900     # seconds per cell; the first Toree cell also waits for the Python sidecar
STARTUP_TIMEOUT = 300  # seconds for a kernel to answer: Toree needs 15 s on an idle laptop, minutes on a busy one
# nbclient stops reading a cell's output when its idle status has not come this many
# seconds after its reply (4 s by default), and then saves the notebook without the rest.
# The idle normally follows at once; on a loaded machine it can lag: wait for it, and
# fail loudly rather than save a notebook with output missing.
CLIENT_OPTIONS = {"iopub_timeout": 120, "raise_on_iopub_timeout": True}
ERROR_LINES, ERROR_CHARS = 12, 1500  # of a failed cell's evalue (Spark puts whole plans there)


class NotebookFailed(PyshimError):
    """A notebook stopped on an error; the partly executed notebook is saved."""

    def __init__(self, notebook: Path, cell: int | None, cells: int, ename: str, evalue: str,
                 partial: Path, source: str = ""):
        self.notebook, self.cell, self.ename, self.evalue, self.partial = notebook, cell, ename, evalue, partial
        where = f"at cell {cell} of {cells}" if cell else "before the first cell"
        first = first_line(source)
        self.headline = f"{notebook.name} failed {where}" + (f" ({first})" if first else "")
        self.error = f"{ename}: {short_error(evalue)}"
        super().__init__("\n".join([self.headline, "  " + self.error.replace("\n", "\n  "),
                                    f"  partly executed notebook: {partial}"]))


@dataclass
class NotebookRun:
    source: Path
    executed: Path
    kernel: str
    seconds: float
    cells: int
    review_copies: list[Path] = field(default_factory=list)


def kernel_of(nb) -> str:
    spec = nb.metadata.get("kernelspec") or {}
    if not spec.get("name"):
        raise PyshimError("the notebook names no kernel (metadata.kernelspec.name); open it in "
                          "JupyterLab, pick a pyshim kernel and save")
    return spec["name"]


def execute(source: Path, executed: Path, env: dict[str, str], parameters: dict | None = None,
            progress: Callable[[str], None] | None = None, cwd: Path | None = None,
            timeout: int | None = CELL_TIMEOUT, startup_timeout: int = STARTUP_TIMEOUT) -> NotebookRun:
    """Execute `source` with `parameters` in a new kernel; save it as `executed` (also when a cell fails).

    The kernel runs in `cwd` (default: the notebook's folder, as in JupyterLab) with `env`;
    its own output goes to `<executed stem>.kernel.log`. Raises NotebookFailed naming the
    cell and the saved partial notebook.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = Path(source).resolve()
    kernel = kernel_of(nbformat.read(source, as_version=4))
    executed.parent.mkdir(parents=True, exist_ok=True)
    _register_engine()
    logging.getLogger("papermill").setLevel(logging.ERROR)  # pyshim checks parameters itself (params.py)
    lines = _Progress(progress or (lambda _text: None))
    started = time.monotonic()
    with open(executed.with_name(f"{executed.stem}.kernel.log"), "wb") as log:
        try:
            papermill.execute_notebook(
                source, executed, parameters=parameters or None, engine_name=ENGINE, kernel_name=kernel,
                progress_bar=False, cwd=cwd or source.parent, start_timeout=startup_timeout,
                execution_timeout=timeout, kernel_env=dict(env), kernel_log=log, lines=lines)
        except PapermillExecutionError as err:
            lines.close("FAILED")
            raise NotebookFailed(source, err.cell_index + 1, lines.total, err.ename, err.evalue,
                                 executed, err.source) from None
        except KeyboardInterrupt:
            lines.close("interrupted")
            raise
        except Exception as err:  # kernel died, timed out, or never started
            lines.close("FAILED")
            index = lines.index
            message = str(err) or repr(err)
            if type(err).__name__ == "NoSuchKernel":
                message += "; `make setup` installs the pyshim kernels into .venv"
            raise NotebookFailed(source, None if index is None else index + 1, lines.total,
                                 type(err).__name__, message, executed, lines.source) from None
    return NotebookRun(source, executed, kernel, time.monotonic() - started, lines.total)


class _Progress:
    """`  cell  3/19  %register_model wine ...          4.2 s`, one line per code cell."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.total, self.index, self.source = say, 0, None, ""
        self.start, self.open = 0.0, False

    def on_cell_execute(self, cell, cell_index, **_):  # code cells only, just before they run
        self.index, self.source = cell_index, cell.source
        self.start, self.open = time.monotonic(), True
        self.say(f"  cell {cell_index + 1:>2}/{self.total}  {first_line(cell.source, 64):<64} ")

    def on_cell_executed(self, cell, cell_index, execute_reply=None, **_):
        failed = (execute_reply or {}).get("content", {}).get("status") == "error"
        self.say(f"{time.monotonic() - self.start:6.1f} s{'  FAILED' if failed else ''}\n")
        self.open = False

    def close(self, word: str) -> None:
        if self.open:
            self.say(word + "\n")
            self.open = False


_registered = False


def _register_engine() -> None:
    """papermill's nbclient engine, plus the kernel's environment, log file and progress hooks."""
    global _registered
    if _registered:
        return
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    class Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     kernel_env=None, kernel_log=None, lines=None, **kwargs):
            kwargs.pop("input_path", None)
            lines.total = len(nb_man.nb.cells)
            client = PapermillNotebookClient(
                nb_man, kernel_name=kernel_name, timeout=execution_timeout, startup_timeout=start_timeout,
                log=logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
                kernel_manager_class=_kernel_manager_class(), on_cell_execute=lines.on_cell_execute,
                on_cell_executed=lines.on_cell_executed, **CLIENT_OPTIONS, **kwargs)
            try:
                return client.execute(env=kernel_env, stdout=kernel_log, stderr=kernel_log)
            finally:
                _forget(client)

    papermill_engines.register(ENGINE, Engine)
    _registered = True


def _forget(client) -> None:
    """After a kernel that never became ready, nbclient has already shut it down but leaves
    an exit hook that fails on the missing manager; end a kernel still running, drop the hook."""
    import atexit

    try:
        if client.km is not None and client.km.has_kernel:
            client._cleanup_kernel()
    except Exception:
        pass
    atexit.unregister(client._cleanup_kernel)


def _kernel_manager_class():
    """nbclient's kernel manager, with clients that start no heartbeat thread.

    nbclient watches the kernel process itself; the heartbeat thread only adds a race at
    exit (a ZMQError traceback from jupyter_client's HBChannel after a Toree run).
    """
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class Client(AsyncKernelClient):
        def start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
            super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)

    class Manager(AsyncKernelManager):
        @default("client_factory")
        def _client_factory_default(self):
            return Client

    return Manager


# --- text ---------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def short_error(evalue: str) -> str:
    """The first lines of a cell's error value, without colours; never a whole Spark plan."""
    lines = [line.rstrip() for line in _ANSI.sub("", evalue or "").strip().splitlines()]
    text = "\n".join(lines[:ERROR_LINES]) + ("\n..." if len(lines) > ERROR_LINES else "")
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 4] + " ..."


def first_line(text: str, width: int = 80) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 3] + "..."
    return ""
