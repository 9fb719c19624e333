"""`pyshim run NOTEBOOK [-p NAME VALUE]... [-r NAME VALUE]... [-f params.yaml] [--output PATH] [--experiment NAME]`

Runs a Scala (pyshim-scala, Toree) or Python (pyshim-python) notebook as a job on papermill
(execute.py) and records it as one MLflow run: every parameter of the notebook's `parameters`
cell, passed or default (params; the tags `pyshim.job.params_*` say which), the notebook's
sha256, the git commit, the versions (tags), the executed notebook, its review copies and
the kernel's log (artifacts), and the run's status: FINISHED, FAILED when a cell fails or
the kernel dies, KILLED on Ctrl-C.

Contract with the code that runs inside the kernel (the lineage listener; any notebook code)
-------------------------------------------------------------------------------------------
The runner creates the job's MLflow run *before* the kernel starts, and starts the kernel with
these environment variables (outside a job, PYSHIM_JOB_RUN_ID and PYSHIM_JOB_NAME are unset):

- ``PYSHIM_JOB_RUN_ID``: the MLflow run id of this job, RUNNING while the kernel lives. Log
  into it by id (``MlflowClient().log_dict(run_id, ...)``, ``log_inputs``, ``set_tag``);
  do not end it: the runner sets its final status after the kernel has stopped.
- ``MLFLOW_TRACKING_URI``: the tracking store that holds that run (the runner's own, from
  the environment or the project's embedded default).
- ``PYSHIM_JOB_NAME``: the notebook's path, absolute, as the job was started with it.

The runner never sets ``MLFLOW_RUN_ID``: MLflow's fluent ``start_run()`` would resume the
job's run inside the notebook and end it there.
"""
from __future__ import annotations

import argparse
import hashlib
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

from .. import defaults, settings
from ..errors import PyshimError
from . import params as job_params
from .execute import CELL_TIMEOUT, NotebookFailed, NotebookRun, execute, kernel_of

EXPERIMENT = settings.default("PYSHIM_JOB_EXPERIMENT")
RUNS_DIR = defaults.HOME / "runs"   # executed notebooks when --output is not given (git-ignored)
RUN_ID, JOB_NAME = "PYSHIM_JOB_RUN_ID", "PYSHIM_JOB_NAME"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class Job:
    run: NotebookRun
    run_id: str
    experiment: str
    status: str


# --- the job ----------------------------------------------------------------------------------

def run_job(notebook: Path, parameters: dict | None = None, output: Path | None = None,
            experiment: str | None = None, env: dict[str, str] | None = None,
            progress: Callable[[str], None] | None = None, timeout: int | None = CELL_TIMEOUT) -> Job:
    """Run `notebook` with `parameters` as a job; record it as an MLflow run in `experiment`.

    Raises job_params.BadParameters before anything starts, and NotebookFailed (with a
    `run_id` attribute) after the run is marked FAILED and the partial notebook logged.
    """
    notebook = Path(notebook).resolve()
    parameters = dict(parameters or {})
    nb = read_notebook(notebook)
    kernel = kernel_of(nb)
    values = job_params.effective(notebook, nb, parameters)
    env = defaults.environment(env)
    experiment = experiment or env.get("PYSHIM_JOB_EXPERIMENT") or EXPERIMENT
    executed = Path(output).resolve() if output else _default_output(notebook)
    client = _client(env["MLFLOW_TRACKING_URI"])
    run_id = _start_run(client, env["MLFLOW_TRACKING_URI"], experiment, notebook, kernel, values, executed)
    kernel_env = {**env, RUN_ID: run_id, JOB_NAME: str(notebook)}
    status, started = "FAILED", time.monotonic()
    try:
        done = execute(notebook, executed, kernel_env, parameters, progress=progress, timeout=timeout)
        status = "FINISHED"
    except NotebookFailed as err:
        err.run_id = run_id
        _tag_failure(client, run_id, err)
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        copies = _finish(client, run_id, executed, status, time.monotonic() - started)
    done.review_copies = copies
    return Job(done, run_id, experiment, status)


def read_notebook(notebook: Path):
    import nbformat

    try:
        return nbformat.read(notebook, as_version=4)
    except Exception as err:
        raise PyshimError(f"{notebook} is not a notebook that can be read: {_one_line(err)}") from None


def _default_output(notebook: Path) -> Path:
    """.pyshim/runs/<name>-<UTC time>.ipynb, a new name for every run."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path, n = RUNS_DIR / f"{notebook.stem}-{stamp}.ipynb", 1
    while path.exists():
        n += 1
        path = RUNS_DIR / f"{notebook.stem}-{stamp}-{n}.ipynb"
    return path


# --- the MLflow run ---------------------------------------------------------------------------

def _client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def _experiment_id(client, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:  # a new experiment in a local SQLite store keeps its artifacts beside the database
        return client.create_experiment(name, artifact_location=defaults.artifact_location(uri))
    except Exception:  # another job created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _start_run(client, uri: str, experiment: str, notebook: Path, kernel: str,
               parameters: list[job_params.Value], executed: Path) -> str:
    from mlflow.entities import Param

    try:
        experiment_id = _experiment_id(client, uri, experiment)
        run = client.create_run(experiment_id, run_name=notebook.stem,
                                tags={**_tags(notebook, kernel, executed), **job_params.tags(parameters)})
    except Exception as err:
        raise PyshimError(f"cannot start an MLflow run in experiment {experiment!r} at {uri}: "
                          f"{_one_line(err)}; check MLFLOW_TRACKING_URI") from None
    run_id = run.info.run_id
    try:
        client.log_batch(run_id, params=[Param(p.name, p.text) for p in parameters])
    except Exception as err:  # a value past MLflow's limit for params, say
        client.set_terminated(run_id, "FAILED")
        raise PyshimError(f"MLflow run {run_id} did not take the parameters: {_one_line(err)}") from None
    return run_id


def _tags(notebook: Path, kernel: str, executed: Path) -> dict[str, str]:
    tags = {
        "mlflow.source.name": str(notebook),
        "mlflow.source.type": "JOB",
        "pyshim.job.notebook": str(notebook),
        "pyshim.job.notebook_sha256": hashlib.sha256(notebook.read_bytes()).hexdigest(),
        "pyshim.job.kernel": kernel,
        "pyshim.job.executed": str(executed),
        **{f"pyshim.version.{name}": value for name, value in versions().items()},
    }
    commit, dirty = git_state(notebook)
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["pyshim.job.git_dirty"] = str(dirty).lower()
    return tags


def versions() -> dict[str, str]:
    """pyshim, Spark (pyspark's jars are the kernel's Spark), Toree, MLflow, papermill, Python."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name, package in (("pyshim", "pyshim"), ("spark", "pyspark"), ("toree", "toree"),
                          ("mlflow", "mlflow"), ("papermill", "papermill")):
        try:
            found[name] = version(package)
        except PackageNotFoundError:
            pass
    return found


def git_state(notebook: Path) -> tuple[str | None, bool]:
    """(HEAD's commit, whether the notebook differs from it), or (None, False) outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(notebook.parent), *args], capture_output=True,
                              text=True, timeout=30)

    try:
        head = git("rev-parse", "--verify", "-q", "HEAD")
        if head.returncode != 0:
            return None, False
        changed = git("status", "--porcelain", "--", notebook.name)
    except (OSError, subprocess.SubprocessError):
        return None, False
    return head.stdout.strip(), bool(changed.stdout.strip())


def _tag_failure(client, run_id: str, err: NotebookFailed) -> None:
    try:
        client.set_tag(run_id, "pyshim.job.error", f"{err.headline}\n{err.error}"[:5000])
        if err.cell:
            client.set_tag(run_id, "pyshim.job.failed_cell", str(err.cell))
    except Exception:
        pass  # the job's own error matters more than this tag


def _finish(client, run_id: str, executed: Path, status: str, seconds: float) -> list[Path]:
    """Review copies of the executed notebook, everything as artifacts, the final status."""
    copies: list[Path] = []
    try:
        if executed.is_file():
            copies = export_review(executed)
            client.log_artifact(run_id, str(executed))
            for copy in copies:
                client.log_artifact(run_id, str(copy), artifact_path=copy.parent.name)
        log = executed.with_name(f"{executed.stem}.kernel.log")
        if log.is_file():
            client.log_artifact(run_id, str(log))
        client.log_metric(run_id, "duration_seconds", round(seconds, 1))
    except Exception as err:
        print(f"pyshim run: could not log the notebook to MLflow run {run_id}: {_one_line(err)}", file=sys.stderr)
    finally:
        client.set_terminated(run_id, status)
    return copies


def export_review(notebook: Path) -> list[Path]:
    """Review copies (`_review/<name>.py|.scala|.html` beside the notebook), as the save hook writes them."""
    from pyshim_hooks.exporter import ExportOptions, export_notebook, review_folder

    try:
        from pyshim_hooks.config import settings_from_config

        options = settings_from_config().export_options()
    except Exception:  # a broken Jupyter config must not stop a job; defaults then
        options = ExportOptions()
    try:
        export_notebook(notebook, options)
    except Exception as err:  # pyshim_hooks' ExportError names the notebook and the reason
        raise PyshimError(f"review copies of {notebook} could not be written: {err}") from None
    folder = review_folder(notebook, options)
    return sorted(p for p in folder.glob(f"{notebook.stem}.*") if p.is_file())


# --- the command ------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyshim run", description="Run a Scala or Python notebook as a job with parameters "
        "(papermill) and record it as an MLflow run.")
    p.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a parameter, typed as papermill types it (True, None, 3, 0.5, else a string)")
    p.add_argument("-r", "--raw", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a parameter, always a string")
    p.add_argument("-f", "--parameters-file", type=Path, action="append", default=[], metavar="PARAMS_YAML",
                   help="a YAML file of NAME: VALUE lines (-p and -r win over it)")
    p.add_argument("--output", type=Path, metavar="PATH",
                   help=f"the executed notebook (default {_show(RUNS_DIR)}/<name>-<time>.ipynb); "
                        "review copies go to _review/ beside it")
    p.add_argument("--experiment", metavar="NAME",
                   help=f"the MLflow experiment (default $PYSHIM_JOB_EXPERIMENT or {EXPERIMENT})")
    p.add_argument("--help-notebook", "--help-params", action="store_true",
                   help="list the notebook's parameters and their defaults (as papermill's --help-notebook), "
                        "then exit; starts no kernel")
    p.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT, metavar="SECONDS",
                   help=f"the longest one cell may run (default {CELL_TIMEOUT}; 0: no limit)")
    return p


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    out = out or sys.stdout
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        print(f"pyshim run: no such notebook: {args.notebook}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.help_notebook:
            print(job_params.help_text(notebook, read_notebook(notebook)), file=out)
            return EXIT_OK
        values = job_params.resolve(args.parameters_file, args.parameter, args.raw)
        shown = job_params.shown(job_params.effective(notebook, read_notebook(notebook), values))
        env = defaults.environment()
        say = lambda text: print(text, end="", file=out, flush=True)  # noqa: E731
        say(f"pyshim run: {_show(notebook)}; MLflow at {env['MLFLOW_TRACKING_URI']}\n" +
            (f"  parameters: {shown}\n" if shown else ""))
        job = run_job(notebook, values, args.output, args.experiment, env, progress=say,
                      timeout=args.cell_timeout or None)
    except job_params.BadParameters as err:
        print(f"pyshim run: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NotebookFailed as err:
        print(f"pyshim run: {err}", file=sys.stderr)
        print(f"  MLflow run {getattr(err, 'run_id', '?')}: FAILED", file=sys.stderr)
        return EXIT_FAILED
    except PyshimError as err:
        print(f"pyshim run: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\npyshim run: interrupted", file=sys.stderr)
        return 130
    print(f"done in {_duration(job.run.seconds)}: {_show(job.run.executed)}", file=out)
    if job.run.review_copies:
        print(f"  review copies: {', '.join(_show(p) for p in job.run.review_copies)}", file=out)
    print(f"  MLflow run {job.run_id} in experiment {job.experiment}: {job.status}", file=out, flush=True)
    return EXIT_OK


# --- small helpers ----------------------------------------------------------------------------

def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


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
