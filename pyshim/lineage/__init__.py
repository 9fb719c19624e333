"""Lineage of every write: which inputs, model versions and job made an output.

The records are made in the JVM by a Spark QueryExecutionListener (scala/src/pyshim/Lineage.scala)
and kept in `_pyshim_lineage.json` in each output folder; in a job they also go into its
MLflow run and, when configured, out as OpenLineage events (emit.py). This module reads and
shows them (`pyshim lineage PATH`) without importing Spark or MLflow, so it answers at once.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import PyshimError

FILE_NAME = "_pyshim_lineage.json"
FLUSH_TIMEOUT_MS = 120_000


class LineageError(PyshimError):
    """No lineage record where one was asked for."""


def record_file(path: str | Path) -> Path:
    """The lineage file of an output: PATH is its folder, a file in it, or the record itself."""
    text = str(path)
    for prefix in ("file://", "file:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    target = Path(text).expanduser()
    if target.name == FILE_NAME:
        candidate = target
    elif target.is_dir():
        candidate = target / FILE_NAME
    else:
        candidate = target.parent / FILE_NAME
    if not candidate.is_file():
        if not target.exists():
            raise LineageError(f"{path}: no such file or folder")
        raise LineageError(f"{path}: no lineage record ({FILE_NAME}) there; outputs written by a pyshim "
                           "Toree kernel or a session from pyshim.defaults.spark_session() have one")
    return candidate


def writes(path: str | Path) -> list[dict]:
    """Every write recorded for the output at PATH, oldest first."""
    file = record_file(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LineageError(f"{file}: not a readable lineage record ({err})") from None
    return list(data.get("writes", []))


def describe(record: dict) -> str:
    """A write as a few lines for people: job or notebook, parameters, models, inputs."""
    out = record.get("output", {})
    where = out.get("table") or out.get("path") or "?"
    stats = ", ".join(s for s in (_count(out.get("rows"), "row"), _count(out.get("files"), "file"),
                                  _size(out.get("bytes"))) if s)
    lines = [f"{where}",
             f"  written     {record.get('written_at', '?')} ({out.get('mode', '?')}, {out.get('format', '?')})"
             + (f": {stats}" if stats else "")]
    if out.get("table") and out.get("path"):
        lines.append(f"  folder      {out['path']}")
    job = record.get("job")
    if job:
        run = f"MLflow run {job.get('run_id')}"
        if job.get("run_name"):
            run += f" ({job['run_name']})"
        lines.append(f"  job         {job.get('name') or '(unnamed job)'}, {run}"
                     + (f", experiment {job['experiment_id']}" if job.get("experiment_id") else ""))
        if job.get("tracking_uri"):
            lines.append(f"  tracking    {job['tracking_uri']}")
        lines.append("  parameters  " + (_params(job) or "(none)"))
    else:
        lines.append(f"  notebook    {record.get('notebook') or '(an interactive session, not a job)'}")
    for fn in record.get("functions", []):
        lines.append(f"  model       {_function(fn)}")
    for item in record.get("inputs", []):
        lines.append(f"  input       {_input(item)}")
    if record.get("emit_error"):
        lines.append(f"  note        logging to MLflow / OpenLineage failed: {record['emit_error']}")
    return "\n".join(lines)


def _params(job: dict) -> str:
    """`a=1, b=x (default), c=s"..." (default expression)`, as `pyshim run` prints them."""
    from ..jobs.params import DEFAULT, EXPRESSION, PASSED, Value, shown

    defaults, expressions = set(job.get("defaults") or ()), set(job.get("expressions") or ())
    return shown([Value(k, v, EXPRESSION if k in expressions else DEFAULT if k in defaults else PASSED)
                  for k, v in sorted((job.get("params") or {}).items())])


def _function(fn: dict) -> str:
    if not fn.get("model"):
        return f"{fn.get('name')}: a Python function (not a model), {fn.get('runs')}"
    version = f"version {fn['version']}" if fn.get("version") else "no registry version"
    if fn.get("registered_model") and fn.get("version"):
        version += f" of {fn['registered_model']}"
    parts = [f"{fn.get('name')} = {fn.get('model_uri')}: {version}"]
    if fn.get("run_id"):
        parts.append(f"training run {fn['run_id']}")
    if fn.get("model_id"):
        parts.append(f"model {fn['model_id']}")
    parts.append(str(fn.get("runs")))
    return ", ".join(parts)


def _input(item: dict) -> str:
    name = item.get("table") or item.get("path") or ", ".join(item.get("paths") or []) or "?"
    facts = [f"digest {item['digest']}" if item.get("digest") else "no digest"]
    facts += [s for s in (_count(item.get("files"), "file"), _size(item.get("bytes"))) if s]
    if item.get("version"):
        facts.append(f"version {item['version']}")
    return f"{name} ({item.get('format', '?')}): " + ", ".join(facts)


def _count(n, word: str) -> str:
    return "" if n is None else f"{n:,} {word}{'' if n == 1 else 's'}"


def _size(n) -> str:
    if n is None:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def flush(spark=None, timeout_ms: int = FLUSH_TIMEOUT_MS) -> bool:
    """Wait until the writes run so far in SPARK's JVM are recorded. False when there is no
    lineage listener there, or the wait timed out."""
    if spark is None:
        pyspark = sys.modules.get("pyspark")
        context = pyspark.SparkContext._active_spark_context if pyspark else None
    else:
        context = spark.sparkContext
    if context is None:
        return False
    try:
        lineage = context._jvm.pyshim.Lineage
        return bool(lineage.isInstalled() and lineage.flush(timeout_ms))
    except Exception:  # no pyshim jar in that JVM, or it stopped
        return False


def flush_hook(result=None) -> None:
    """IPython post_run_cell: a cell ends once the lineage of its writes is recorded."""
    flush()


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="pyshim lineage", description=(
        "Which job, parameters, model versions and inputs wrote an output folder or table folder "
        f"(reads its {FILE_NAME})."))
    parser.add_argument("path", help="the output folder (or a file in it)")
    parser.add_argument("--all", action="store_true", help="every recorded write, oldest first (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print the record(s) as JSON")
    args = parser.parse_args(argv)
    try:
        found = writes(args.path)
    except LineageError as err:
        print(f"pyshim lineage: {err}", file=sys.stderr)
        return 1
    if not found:
        print(f"pyshim lineage: {args.path}: the lineage record lists no write", file=sys.stderr)
        return 1
    chosen = found if args.all else found[-1:]
    if args.json:
        print(json.dumps(chosen if args.all else chosen[0], indent=2))
        return 0
    print("\n\n".join(describe(r) for r in chosen))
    if not args.all and len(found) > 1:
        print(f"  earlier     {len(found) - 1} earlier write(s) to this folder: pyshim lineage --all {args.path}")
    return 0
