"""`make bench`: pyshim's speed side by side with what users would pick instead.

    .venv/bin/python bench/run.py                       # everything; writes bench/results/
    .venv/bin/python bench/run.py --quick               # a small smoke run (to a temp folder)
    .venv/bin/python bench/run.py --only throughput,growth --runs 5

Benchmarks: coldstart, throughput, growth and lineage (share throughput's kernel), savehook, native (models compiled to Spark SQL), rest (REST
latency of the same model behind `make serve`), progress (the per-cell Spark progress display on and off),
completion (Tab latency per cell language on a warm kernel), lines (the Spark 4 kernel of .venv-spark4
beside the Toree kernel of .venv: start and memory). native runs on every Spark line whose environment exists.
Everything runs isolated: HOME, Jupyter's folders and the MLflow store live in a temp
folder; the model is trained and logged there. See bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import REPO, BenchError, log  # noqa: E402

ALL = ("coldstart", "throughput", "growth", "lineage", "savehook", "rest", "native", "progress", "completion", "lines")


def settings(args) -> dict:
    if args.quick:
        return {"rows": 100_000, "partitions": [2, 8], "runs": args.runs or 1, "starts": 1, "cold_warmup": False,
                "sizes": [50_000, 100_000, 200_000], "saves": 3, "idle_samples": 0, "classic_saves": 1, "cells": 30, "save_warmup": 1,
                "rest_calls": 20, "rest_warmup": 5, "progress_tasks": 2_000, "completions": 5,
                "line_starts": 1, "line_idle": 5.0}
    return {"rows": 2_000_000, "partitions": [2, 64], "runs": args.runs or 3, "starts": args.starts,
            "cold_warmup": True, "sizes": [500_000, 1_000_000, 2_000_000, 4_000_000], "saves": 30,
            "idle_samples": 0 if args.no_idle else 2,
            "classic_saves": 3, "cells": 100, "save_warmup": 3, "rest_calls": 200, "rest_warmup": 20,
            "progress_tasks": 10_000, "completions": 30, "line_starts": args.starts, "line_idle": 10.0}


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: checks the bench works")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--runs", type=int, default=0, help="measured runs per figure (default 3; quick 1)")
    parser.add_argument("--starts", type=int, default=3, help="cold starts measured after the warm-up one")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results, from .venv-spark4 bench/results/spark4; quick: a temp folder)")
    parser.add_argument("--spark-opts", default=None, help="SPARK_OPTS for the kernels (default: none, local[*])")
    parser.add_argument("--pyspy", default=None,
                        help="py-spy executable for the worker profile (default: py-spy on PATH or /tmp/pyspy/bin)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--no-idle", action="store_true",
                        help="skip the queries after a pause of more than a minute (about 3 minutes)")
    parser.add_argument("--native-main-only", action="store_true",
                        help="native: only the ElasticNet comparison, no per-kind rows or forest sweep (saves about 5 minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (kernel logs, py-spy output)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    args.chosen = [name for name in ALL if name in chosen]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    conf = settings(args)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="pyshim-bench-"))
    out_dir = (args.out or (root / "results" if args.quick else default_results())).resolve()
    harness.isolate(root / "isolated", args.spark_opts)
    os.chdir(root)  # nothing lands in the checkout, whatever a library writes to its cwd
    log(f"working in {root}; results go to {out_dir}")
    results: dict = {"meta": {"started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                              "quick": args.quick, "only": args.chosen, "settings": conf,
                              "machine": harness.machine()},
                     "targets": [], "notes": [], "errors": {}}
    targets = []
    needs_model = {"coldstart", "throughput", "growth", "lineage", "rest", "native", "lines"} & set(args.chosen)
    uri = None
    kernel = None
    try:
        if needs_model:
            log("training and logging the model (sklearn ElasticNet on a, b, c) in the temp MLflow store")
            uri = harness.log_model(root / "isolated" / "mlartifacts")
        if "coldstart" in args.chosen:
            targets += _step(results, "coldstart", lambda: _coldstart(root, uri, conf))
        if {"throughput", "growth", "lineage", "native"} & set(args.chosen):
            import throughput

            kernel = harness.Toree(root / "toree-throughput", name="throughput").start()
            log(f"throughput kernel ready in {kernel.ready_seconds:.1f}s")
            if "throughput" in args.chosen:
                pyspy = None if args.no_profile else harness.find_pyspy(args.pyspy)
                if pyspy is None and not args.no_profile:
                    results["notes"].append("py-spy not found (--pyspy PATH): no worker profile in this run.")
                targets += _step(results, "throughput", lambda: _throughput(kernel, uri, conf, pyspy, root))
            elif {"growth", "lineage"} & set(args.chosen):
                throughput.setup_kernel(kernel, uri, conf["rows"], conf["partitions"][:1])
            if "growth" in args.chosen and "throughput" not in results["errors"]:
                targets += _step(results, "growth", lambda: _growth(kernel, conf))
            if "lineage" in args.chosen and "throughput" not in results["errors"]:
                targets += _step(results, "lineage", lambda: _lineage(kernel, conf))
            if "native" in args.chosen:
                targets += _step(results, "native", lambda: _native(kernel, uri, conf, args.quick or args.native_main_only))
            kernel.close()
            kernel = None
        if "native" in args.chosen:
            for line in harness.other_lines():
                targets += _native_line(results, root, line, uri, conf)
        if "savehook" in args.chosen:
            targets += _step(results, "savehook", lambda: _savehook(root, conf))
        if "rest" in args.chosen:
            targets += _step(results, "rest", lambda: _rest(root, uri, conf))
        if "progress" in args.chosen:
            targets += _step(results, "progress", lambda: _progress(root, conf))
        if "completion" in args.chosen:
            targets += _step(results, "completion", lambda: _completion(root, conf))
        if "lines" in args.chosen:
            targets += _step(results, "lines", lambda: _lines(root, uri, conf))
            results["notes"] += [f"Spark lines: Spark {name} not measured: {why}."
                                 for name, why in (results.get("lines") or {}).get("skipped", {}).items()]
    finally:
        if kernel is not None:
            kernel.close()
        results["targets"] = [t.as_dict() for t in targets]
        results["meta"]["finished"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
        results["meta"]["load_average_end"] = harness.load_average()
        import report

        md, js = report.write(results, out_dir)
        log(f"wrote {md} and {js}")
        print(md.read_text(encoding="utf-8"))
        if args.keep:
            log(f"kept {root}")
        else:
            if args.quick and args.out is None:
                log(f"results stay in {out_dir}")
                for child in root.iterdir():
                    if child != out_dir.parent:
                        shutil.rmtree(child, ignore_errors=True)
            else:
                shutil.rmtree(root, ignore_errors=True)
    return 1 if results["errors"] else 0


def default_results() -> Path:
    """bench/results (the docs show its results.md); a run in the Spark 4 environment
    (`make bench SPARK=4`) writes to bench/results/spark4 instead of over it."""
    line = harness.current_line()
    return REPO / "bench" / "results" / ("" if line.name == "3.5" else f"spark{line.name}")


def _step(results: dict, name: str, fn, store: bool = True) -> list:
    log(f"--- {name}")
    try:
        result, targets = fn()
    except (BenchError, Exception) as err:  # one failed benchmark still leaves the others' results
        log(f"{name} failed: {err}")
        results["errors"][name] = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
        return []
    if store:
        results[name] = result
    return targets


def _coldstart(root: Path, uri: str, conf: dict):
    import coldstart

    result = coldstart.run(root / "coldstart", uri, conf["starts"], warmup=conf["cold_warmup"])
    return result, coldstart.targets(result)


def _throughput(kernel, uri: str, conf: dict, pyspy: str | None, root: Path):
    import throughput

    result = throughput.run(kernel, uri, conf["rows"], conf["partitions"], conf["runs"], pyspy, root / "profile",
                            idle_samples=conf["idle_samples"])
    return result, throughput.targets(result)


def _growth(kernel, conf: dict):
    import growth

    result = growth.run(kernel, conf["sizes"], conf["runs"])
    return result, growth.targets(result)


def _lineage(kernel, conf: dict):
    import lineage

    # More rounds than the others: the listener's cost is far below the machine's noise.
    result = lineage.run(kernel, conf["partitions"], max(5, 2 * conf["runs"]))
    return result, lineage.targets(result)


def _savehook(root: Path, conf: dict):
    import savehook

    result = savehook.run(root / "savehook", conf["saves"], conf["classic_saves"], conf["cells"],
                          warmup=conf["save_warmup"])
    return result, savehook.targets(result)


def _native(kernel, uri: str, conf: dict, main_only: bool):
    import native

    line = harness.current_line()
    result = native.run(kernel, uri, conf["rows"], conf["partitions"], conf["runs"], kinds=not main_only)
    result["line"] = {"name": line.name, "label": line.label}
    return result, native.targets(result, f"Spark {line.name}")


def _native_line(results: dict, root: Path, line, uri: str, conf: dict) -> list:
    """The native benchmark's main comparison (no per-kind rows) in a kernel of another Spark
    line, started from that line's environment; skipped with how to make it when missing."""
    import native

    why = line.missing()
    if why:
        log(f"native: {line.label} skipped: {why}")
        results["notes"].append(f"Native model functions on {line.label}: not measured: {why}.")
        return []

    def measure():
        kernel = harness.Toree(root / f"native-spark{line.name}", name=f"native-spark{line.name}", line=line).start()
        try:
            result = native.run(kernel, uri, conf["rows"], conf["partitions"], conf["runs"], kinds=False)
        finally:
            kernel.close()
        result["line"] = {"name": line.name, "label": line.label, "versions": line.versions()}
        results.setdefault("native_lines", {})[line.name] = result
        return result, native.targets(result, f"Spark {line.name}")

    return _step(results, f"native (Spark {line.name})", measure, store=False)


def _lines(root: Path, uri: str, conf: dict):
    import spark_lines

    result = spark_lines.run(root / "lines", uri, conf["line_starts"], warmup=conf["cold_warmup"],
                             idle_seconds=conf["line_idle"])
    return result, spark_lines.targets(result)


def _completion(root: Path, conf: dict):
    import completion
    from harness import Toree

    kernel = Toree(root / "toree-completion", name="completion").start()
    try:
        result = completion.run(kernel, conf["completions"])
    finally:
        kernel.close()
    return result, completion.targets(result)


def _rest(root: Path, uri: str, conf: dict):
    import rest

    result = rest.run(root / "rest", uri, conf["rest_calls"], conf["rest_warmup"])
    return result, rest.targets(result)


def _progress(root: Path, conf: dict):
    import progress

    result = progress.run(root / "progress", conf["progress_tasks"], max(conf["runs"], 3))
    return result, progress.targets(result)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
