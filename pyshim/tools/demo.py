"""`python -m pyshim.tools.demo` (`make demo`): the main job, end to end, headless.

1. notebooks/01_train_model.ipynb (Python): train a wine classifier, track it in MLflow,
   register it with the alias `champion`
2. notebooks/02_score_from_scala.ipynb (Scala on Toree): score with it through spark.sql
   and callUDF, write Parquet
3. notebooks/03_pyspark_pipeline.ipynb (PySpark): a Spark ML feature pipeline tracked in
   MLflow, then a Python classifier as a UDF on the features

Each notebook runs in its own kernel (the one named in its metadata) with nbclient, one
progress line per cell. Executed notebooks go to notebooks/_executed/ and their review
copies (pyshim_hooks) to notebooks/_executed/_review/; both are git-ignored, since they
change with every run. On the embedded defaults (pyshim/defaults.py) unless
MLFLOW_TRACKING_URI, PYSHIM_OUTPUT_DIR or SPARK_OPTS say otherwise.

A failing cell stops the demo: the message names the notebook, the cell, the error and
the partly executed notebook, which is saved first. Exit code 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from .. import defaults
from ..errors import PyshimError
from ..paths import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = NOTEBOOKS_DIR / "_executed"
DEMO_NOTEBOOKS = ("01_train_model.ipynb", "02_score_from_scala.ipynb", "03_pyspark_pipeline.ipynb")
MODEL_NAME, MODEL_ALIAS = "wine_classifier", "champion"
# Parquet folders the notebooks write under PYSHIM_OUTPUT_DIR (named in the notebooks too).
SCORED_OUTPUTS = {"02_score_from_scala.ipynb": "wine_scored_scala.parquet",
                  "03_pyspark_pipeline.ipynb": "wine_scored_pyspark.parquet"}
CELL_TIMEOUT = 900     # seconds per cell; the first Toree cell also starts the Python sidecar
STARTUP_TIMEOUT = 300  # seconds for a kernel to answer: Toree needs 15 s on an idle laptop, minutes on a busy one
# nbclient stops reading a cell's output when its idle status has not come this many
# seconds after its reply (4 s by default), and then saves the notebook without the rest.
# The idle normally follows at once; on a loaded machine it can lag: wait for it, and
# fail loudly rather than save a notebook with output missing.
NBCLIENT_OPTIONS = {"iopub_timeout": 120, "raise_on_iopub_timeout": True}


class NotebookFailed(PyshimError):
    """A notebook stopped on an error; the partly executed notebook is saved."""

    def __init__(self, notebook: Path, cell: int | None, cells: int, ename: str, evalue: str,
                 partial: Path, source: str = ""):
        self.notebook, self.cell, self.ename, self.evalue, self.partial = notebook, cell, ename, evalue, partial
        where = f"at cell {cell} of {cells}" if cell else "before the first cell"
        first = _first_line(source)
        lines = [f"{notebook.name} failed {where}" + (f" ({first})" if first else ""),
                 f"  {ename}: {_shorten(evalue, 1500)}",
                 f"  partly executed notebook: {partial}"]
        super().__init__("\n".join(lines))


@dataclass
class NotebookRun:
    source: Path
    executed: Path
    kernel: str
    seconds: float
    cells: int
    review_copies: list[Path] = field(default_factory=list)


# --- one notebook ------------------------------------------------------------------------

def kernel_of(nb) -> str:
    spec = nb.metadata.get("kernelspec") or {}
    if not spec.get("name"):
        raise PyshimError("the notebook names no kernel (metadata.kernelspec.name); open it in "
                          "JupyterLab, pick a pyshim kernel and save")
    return spec["name"]


def run_notebook(source: Path, executed_dir: Path, env: dict[str, str],
                 progress: Callable[[str], None] | None = None, cwd: Path | None = None,
                 timeout: int = CELL_TIMEOUT, startup_timeout: int = STARTUP_TIMEOUT) -> NotebookRun:
    """Execute `source` in a new kernel; save it to executed_dir (also when a cell fails).

    The kernel runs in `cwd` (default: the notebook's folder, as in JupyterLab) with `env`.
    Raises NotebookFailed naming the cell and the saved partial notebook.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    source = Path(source).resolve()
    say = progress or (lambda _text: None)
    nb = nbformat.read(source, as_version=4)
    kernel = kernel_of(nb)
    executed_dir.mkdir(parents=True, exist_ok=True)
    executed = executed_dir / source.name
    total = len(nb.cells)
    state: dict = {"index": None, "start": 0.0}

    def on_cell_start(cell, cell_index, **_):
        state["index"] = cell_index

    def on_cell_execute(cell, cell_index, **_):  # code cells only, just before they run
        state["start"], state["open"] = time.monotonic(), True
        say(f"  cell {cell_index + 1:>2}/{total}  {_first_line(cell.source, 64):<64} ")

    def on_cell_executed(cell, cell_index, execute_reply=None, **_):
        failed = (execute_reply or {}).get("content", {}).get("status") == "error"
        say(f"{time.monotonic() - state['start']:6.1f} s{'  FAILED' if failed else ''}\n")
        state["open"] = False

    def close_line():
        if state.get("open"):
            say("FAILED\n")
            state["open"] = False

    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout, startup_timeout=startup_timeout,
                            allow_errors=False, **NBCLIENT_OPTIONS,
                            kernel_manager_class=_kernel_manager_class(),
                            resources={"metadata": {"path": str(cwd or source.parent)}},
                            on_cell_start=on_cell_start, on_cell_execute=on_cell_execute,
                            on_cell_executed=on_cell_executed)
    started = time.monotonic()
    log = open(executed_dir / f"{source.stem}.kernel.log", "wb")  # the kernel's own stdout/stderr
    try:
        client.execute(env=dict(env), stdout=log, stderr=log)
    except CellExecutionError as err:
        close_line()
        index = state["index"]
        nbformat.write(nb, executed)
        ename, evalue = err.ename, err.evalue
        if ename in (None, "", "CellExecutionError"):
            ename, evalue = "error", str(err)
        raise NotebookFailed(source, _number(index), total, ename, evalue, executed,
                             nb.cells[index].source if index is not None else "") from None
    except Exception as err:  # kernel died, timed out, or never started
        close_line()
        index = state["index"]
        nbformat.write(nb, executed)
        message = str(err) or repr(err)
        if type(err).__name__ == "NoSuchKernel":
            message += "; `make setup` installs the pyshim kernels into .venv"
        raise NotebookFailed(source, _number(index), total, type(err).__name__, message,
                             executed, nb.cells[index].source if index is not None else "") from None
    except KeyboardInterrupt:
        close_line()
        nbformat.write(nb, executed)
        say(f"      interrupted; partly executed notebook: {executed}\n")
        raise
    finally:
        _forget(client)
        log.close()
    nbformat.write(nb, executed)
    return NotebookRun(source, executed, kernel, time.monotonic() - started, total)


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


def export_review(notebook: Path) -> list[Path]:
    """Review copies (`_review/<name>.py|.scala|.html` beside the notebook), as the save hook writes them."""
    from pyshim_hooks.exporter import ExportOptions, export_notebook, review_folder

    try:
        from pyshim_hooks.config import settings_from_config

        options = settings_from_config().export_options()
    except Exception:  # a broken Jupyter config must not stop the demo; defaults then
        options = ExportOptions()
    export_notebook(notebook, options)
    folder = review_folder(notebook, options)
    return sorted(p for p in folder.glob(f"{notebook.stem}.*") if p.is_file())


# --- the whole demo ----------------------------------------------------------------------

def run_all(notebooks: list[Path], executed_dir: Path, env: dict[str, str],
            out: TextIO | None = None) -> list[NotebookRun]:
    out = out or sys.stdout
    runs = []
    for i, path in enumerate(notebooks, 1):
        import nbformat

        kernel = kernel_of(nbformat.read(path, as_version=4))
        print(f"[{i}/{len(notebooks)}] {path.name} on kernel {kernel}", file=out, flush=True)
        run = run_notebook(path, executed_dir, env, progress=lambda text: print(text, end="", file=out, flush=True))
        try:
            run.review_copies = export_review(run.executed)
        except Exception as err:  # pyshim_hooks' ExportError names the notebook and the reason
            raise PyshimError(f"review copies of {run.executed} could not be written: {err}") from None
        print(f"      done in {_duration(run.seconds)}; saved {_show(run.executed)}", file=out, flush=True)
        runs.append(run)
    return runs


def rows_in(parquet: Path) -> int | None:
    """Row count of a Parquet file or folder written by Spark, or None if absent or unreadable."""
    if not parquet.exists():
        return None
    try:
        import pyarrow.dataset as ds

        return ds.dataset(str(parquet), format="parquet").count_rows()
    except Exception:
        return None


def champion(env: dict[str, str]) -> str:
    """'wine_classifier version 3 (alias champion, run 1a2b...)', or why it is unknown."""
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
        mv = client.get_model_version_by_alias(MODEL_NAME, MODEL_ALIAS)
        return f"{MODEL_NAME} version {mv.version} (alias {MODEL_ALIAS}, run {mv.run_id})"
    except Exception as err:
        return f"{MODEL_NAME}@{MODEL_ALIAS}: not found ({_first_line(str(err), 100)})"


def mlflow_ui_hint(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"open {uri} (the tracking server's UI)"
    return f".venv/bin/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000  # then open http://127.0.0.1:5000"


def summary(runs: list[NotebookRun], env: dict[str, str], seconds: float) -> str:
    output_dir = Path(env["PYSHIM_OUTPUT_DIR"])
    lines = ["", f"pyshim demo: {len(runs)} notebooks in {_duration(seconds)}"]
    for run in runs:
        lines.append(f"  {run.source.stem:<28} {run.kernel:<14} {run.cells:>3} cells  {_duration(run.seconds):>8}")
    lines.append(f"  model: {champion(env)}")
    for run in runs:
        name = SCORED_OUTPUTS.get(run.source.name)
        if name:
            rows = rows_in(output_dir / name)
            count = "missing" if rows is None else f"{rows:,} rows"
            lines.append(f"  scored by {run.source.stem}: {count} in {_show(output_dir / name)}")
    if runs:
        folder = runs[0].executed.parent
        lines.append(f"  executed notebooks: {_show(folder)}/")
        copies = sorted({p.parent for run in runs for p in run.review_copies})
        if copies:
            lines.append(f"  review copies: {', '.join(_show(c) + '/' for c in copies)}")
    lines.append(f"  MLflow tracking URI: {env['MLFLOW_TRACKING_URI']}")
    lines += ["", "Try next:",
              "  make lab     JupyterLab on notebooks/ with the pyshim kernels, the save hook and the %load",
              "               snippets ready: `%load setup` in Scala, `%load snippets/setup.py` in Python;",
              "               `touch notebooks/.ipynb_saveprocess` turns on review copies (_review/) on save",
              "  make serve   the same model over REST: MLflow's scoring server on http://127.0.0.1:5001",
              f"  MLflow UI:   {mlflow_ui_hint(env['MLFLOW_TRACKING_URI'])}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyshim.tools.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                        help="notebooks to run in order (default: the three demo notebooks)")
    parser.add_argument("--executed-dir", type=Path, default=None,
                        help=f"where executed notebooks go (default {_show(EXECUTED_DIR)})")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or [NOTEBOOKS_DIR / n for n in DEMO_NOTEBOOKS]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"pyshim demo: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    executed_dir = (args.executed_dir or EXECUTED_DIR).resolve()
    env = defaults.environment()
    print(f"pyshim demo: {len(notebooks)} notebooks; MLflow at {env['MLFLOW_TRACKING_URI']}, "
          f"output in {_show(Path(env['PYSHIM_OUTPUT_DIR']))}", flush=True)
    started = time.monotonic()
    try:
        runs = run_all(notebooks, executed_dir, env)
    except NotebookFailed as err:
        print(f"\npyshim demo stopped: {err}", file=sys.stderr)
        return 1
    except PyshimError as err:
        print(f"\npyshim demo stopped: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\npyshim demo: interrupted", file=sys.stderr)
        return 130
    print(summary(runs, env, time.monotonic() - started), flush=True)
    return 0


# --- small helpers -----------------------------------------------------------------------

def _number(index: int | None) -> int | None:
    return None if index is None else index + 1


def _first_line(text: str, width: int = 80) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 3] + "..."
    return ""


def _shorten(text: str, width: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= width else text[: width - 4] + " ..."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _show(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
