"""`python -m pyshim.tools.demo` (`make demo`): the main job, end to end, headless.

1. notebooks/01_train_model.ipynb (Python): train a wine classifier, track it in MLflow,
   register it with the alias `champion`
2. notebooks/02_score_from_scala.ipynb (Scala, on the line's Scala kernel): score with it through spark.sql
   and callUDF, write Parquet
3. notebooks/03_pyspark_pipeline.ipynb (PySpark): a Spark ML feature pipeline tracked in
   MLflow, then a Python classifier as a UDF on the features

Each notebook runs as a job of `pyshim run` (pyshim/jobs: papermill, in its own kernel, the
one named in its metadata; one progress line per cell; one MLflow run per notebook in the
experiment pyshim-jobs). Executed notebooks go to notebooks/_executed/ and their review
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
from pathlib import Path
from typing import Callable, TextIO

from .. import defaults, paths
from ..errors import PyshimError
from ..jobs.execute import CELL_TIMEOUT, STARTUP_TIMEOUT, NotebookFailed, NotebookRun, execute, first_line, kernel_of
from ..jobs.execute import CLIENT_OPTIONS as NBCLIENT_OPTIONS
from ..jobs.run import EXPERIMENT as JOB_EXPERIMENT
from ..jobs.run import export_review, run_job
from ..paths import REPO_ROOT

__all__ = ["NBCLIENT_OPTIONS", "NotebookFailed", "NotebookRun", "export_review", "kernel_of", "main", "run_all",
           "run_notebook"]

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = NOTEBOOKS_DIR / "_executed"
DEMO_NOTEBOOKS = ("01_train_model.ipynb", "02_score_from_scala.ipynb", "03_pyspark_pipeline.ipynb")
MODEL_NAME, MODEL_ALIAS = "wine_classifier", "champion"
# Parquet folders the notebooks write under PYSHIM_OUTPUT_DIR (named in the notebooks too).
SCORED_OUTPUTS = {"02_score_from_scala.ipynb": "wine_scored_scala.parquet",
                  "03_pyspark_pipeline.ipynb": "wine_scored_pyspark.parquet"}


def run_notebook(source: Path, executed_dir: Path, env: dict[str, str],
                 progress: Callable[[str], None] | None = None, cwd: Path | None = None,
                 timeout: int = CELL_TIMEOUT, startup_timeout: int = STARTUP_TIMEOUT) -> NotebookRun:
    """Execute `source` in a new kernel (no parameters, no MLflow run) into executed_dir,
    with `pyshim run`'s runner (pyshim/jobs/execute.py); also saved when a cell fails."""
    source = Path(source).resolve()
    return execute(source, Path(executed_dir) / source.name, env, progress=progress, cwd=cwd,
                   timeout=timeout, startup_timeout=startup_timeout)


# --- the whole demo ----------------------------------------------------------------------

def run_all(notebooks: list[Path], executed_dir: Path, env: dict[str, str],
            out: TextIO | None = None) -> list[NotebookRun]:
    """Each notebook as a job without parameters (`pyshim run`'s runner), one after the other."""
    import nbformat

    out = out or sys.stdout
    runs = []
    for i, path in enumerate(notebooks, 1):
        kernel = kernel_of(nbformat.read(path, as_version=4))
        print(f"[{i}/{len(notebooks)}] {path.name} on kernel {kernel}", file=out, flush=True)
        job = run_job(path, {}, executed_dir / Path(path).name, None, env,
                      progress=lambda text: print(text, end="", file=out, flush=True))
        print(f"      done in {_duration(job.run.seconds)}; saved {_show(job.run.executed)}; "
              f"MLflow run {job.run_id} in experiment {job.experiment}", file=out, flush=True)
        runs.append(job.run)
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
        return f"{MODEL_NAME}@{MODEL_ALIAS}: not found ({first_line(str(err), 100)})"


def _bin() -> str:
    """This environment's bin folder as the user would type it (.venv/bin, .venv-spark4/bin)."""
    return _show(paths.environment_bin())


def mlflow_ui_hint(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        return f"open {uri} (the tracking server's UI)"
    return f"{_bin()}/mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000  # then open http://127.0.0.1:5000"


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
    lines.append(f"  MLflow tracking URI: {env['MLFLOW_TRACKING_URI']} (one run per notebook in experiment "
                 f"{env.get('PYSHIM_JOB_EXPERIMENT') or JOB_EXPERIMENT})")
    line = "" if paths.spark_line() == "3.5" else f" SPARK={paths.spark_line()}"
    lines += ["", "Try next:",
              f"  make lab{line}     JupyterLab on notebooks/ with the pyshim kernels, the save hook and the %load",
              "               snippets ready: `%load setup` in Scala, `%load snippets/setup.py` in Python;",
              "               `touch notebooks/.ipynb_saveprocess` turns on review copies (_review/) on save",
              f"  make serve{line}   the same model over REST: MLflow's scoring server on http://127.0.0.1:5001",
              "  pyshim run   a notebook as a job with parameters, one MLflow run each:",
              f"               {_bin()}/pyshim run notebooks/02_score_from_scala.ipynb -r output_path /tmp/scored.parquet",
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
        print(f"  MLflow run {getattr(err, 'run_id', '?')}: FAILED", file=sys.stderr)
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
