"""Benchmark 10: the two Spark lines' Scala kernels side by side, start and memory.

In one run, the kernel of each line is started afresh several times, the lines taking turns
(the order rotating each round, after one warm-up start of each), and driven as a notebook
would be, one cell after the other:

  kernel ready     start the kernel (jupyter_client) until it answers kernel_info
  spark.version    the first Scala cell answered: JVM, Spark and the Scala interpreter up
  model load       `%register_model` of the benchmark's MLflow model (pyshim picks the path)
  first result     the first query with the model function, its result back

Then, after the kernel has been idle for a few seconds, the memory of every process of the
kernel (the kernel process and all its descendants: JVM, sidecar, Python workers): RSS as
the issue states it (shared pages counted in each process) and PSS (shared pages split).

Spark 3.5 is the Toree kernel of .venv; Spark 4 is pyshim's own Scala kernel of
.venv-spark4 (`python -m pyshim.scala_kernel`). Each runs from its own environment, whichever
environment runs the bench; a line whose environment is missing is skipped with the command
that makes it. The extension jar of each line is built before each start, so a Scala compile
never counts as start-up.
"""
from __future__ import annotations

import time
from pathlib import Path

from coldstart import FIRST_QUERY
from harness import (LINES, Line, Target, Toree, load_average, log, ratio, summary, tree_cpu_seconds,
                     tree_memory)

MODEL = "lines_model"
PHASES = ("kernel_ready", "spark_version", "model_load", "first_result")
BASE, NEW = "3.5", "4"  # the goals are the Spark 4 kernel against the Toree kernel
GOALS = {"spark_version": 0.7, "first_result": 0.7, "rss_mib": 0.8}


def one_start(line: Line, workdir: Path, uri: str, name: str, idle_seconds: float) -> dict:
    rebuilt = line.build_extension()
    t0 = time.perf_counter()
    kernel = Toree(workdir, name=name, line=line).start()
    marks, cpu = {}, {}

    def mark(phase: str) -> None:
        marks[phase] = time.perf_counter() - t0
        cpu[phase] = tree_cpu_seconds(kernel.pid)

    try:
        mark("kernel_ready")
        version = kernel.run("spark.version").text
        mark("spark_version")
        registered = kernel.run(f"%register_model {MODEL} {uri}")
        mark("model_load")
        first = kernel.run(FIRST_QUERY.format(m=MODEL)).text
        mark("first_result")
        time.sleep(idle_seconds)
        memory = tree_memory(kernel.pid)
    finally:
        kernel.close()
    walls = {p: round(marks[p] - (marks[PHASES[i - 1]] if i else 0.0), 3) for i, p in enumerate(PHASES)}
    return {"to": {p: round(marks[p], 3) for p in PHASES}, "phases": walls,
            "cpu_seconds": {p: round(cpu[p], 2) for p in PHASES},
            "memory": memory, "spark_version": version.strip().strip('"'), "result": first,
            "register_output": (registered.stdout + registered.text)[:2000], "path": model_path(registered.stdout),
            "load_average": load_average(), "jar_rebuilt_before": rebuilt}


def model_path(said: str) -> str:
    """Which path `%register_model` picked, from its summary's `runs:` line."""
    found = [line.split(":", 1)[1].strip() for line in said.splitlines() if line.strip().startswith("runs:")]
    return found[0] if found else "?"


def rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return items[shift:] + items[:shift]


def run(workdir: Path, uri: str, starts: int, warmup: bool = True, idle_seconds: float = 10.0,
        lines: tuple[Line, ...] = LINES) -> dict:
    ready, skipped = [], {}
    for line in lines:
        why = line.missing()
        if why:
            log(f"lines: {line.label} skipped: {why}")
            skipped[line.name] = why
        else:
            ready.append(line)
    samples: dict[str, list[dict]] = {line.name: [] for line in ready}
    firsts: dict[str, dict] = {}
    if warmup:
        for line in ready:
            log(f"lines: warm-up start of {line.label} (not counted)")
            firsts[line.name] = one_start(line, workdir / f"warmup-{line.name}", uri, f"warmup-{line.name}",
                                          idle_seconds)
    for i in range(starts):
        for line in rotated(ready, i):
            sample = one_start(line, workdir / f"start-{line.name}-{i}", uri, f"start-{line.name}-{i}", idle_seconds)
            samples[line.name].append(sample)
            log(f"lines: {line.label} start {i + 1}/{starts}: spark.version at {sample['to']['spark_version']:.1f}s, "
                f"first result at {sample['to']['first_result']:.1f}s, RSS {sample['memory']['rss_mib']:.0f} MiB "
                f"in {len(sample['memory']['processes'])} processes")
    return aggregate(samples, skipped, {line.name: line for line in lines}, starts, idle_seconds, firsts)


def aggregate(samples: dict[str, list[dict]], skipped: dict[str, str], lines: dict[str, Line],
              starts: int, idle_seconds: float, firsts: dict[str, dict] | None = None) -> dict:
    """The medians of the measured starts. Those register a model version that the warm-up
    start registered first, as a notebook's restart does: they take the decision kept on
    disk (pyshim/native/decisions.py). The warm-up start, the version's first registration
    (compile and check against predict), is shown beside them, not counted."""
    per_line = {}
    for name, runs in samples.items():
        line = lines[name]
        per_line[name] = {
            "label": line.label, "environment": line.venv.name, "versions": line.versions(),
            "spark_version": runs[0]["spark_version"] if runs else None,
            "to": {p: summary([r["to"][p] for r in runs]) for p in PHASES},
            "phases": {p: summary([r["phases"][p] for r in runs])["median"] for p in PHASES},
            "cpu_seconds": {p: summary([r["cpu_seconds"][p] for r in runs])["median"] for p in PHASES},
            "rss_mib": summary([r["memory"]["rss_mib"] for r in runs]),
            "pss_mib": summary([r["memory"]["pss_mib"] for r in runs if r["memory"]["pss_mib"] is not None]),
            "processes": _typical(runs)["memory"]["processes"] if runs else [],
            "model_path": runs[0].get("path", "?") if runs else "?",
            "samples": runs,
            "first_registration": (firsts or {}).get(name),
        }
    ratios = {}
    if BASE in per_line and NEW in per_line:
        base, new = per_line[BASE], per_line[NEW]
        ratios = {"spark_version": ratio(new["to"]["spark_version"]["median"], base["to"]["spark_version"]["median"]),
                  "first_result": ratio(new["to"]["first_result"]["median"], base["to"]["first_result"]["median"]),
                  "rss_mib": ratio(new["rss_mib"]["median"], base["rss_mib"]["median"]),
                  "pss_mib": ratio(new["pss_mib"]["median"], base["pss_mib"]["median"])}
    return {"starts": starts, "idle_seconds": idle_seconds, "lines": per_line, "skipped": skipped,
            "ratios": ratios, "goals": GOALS}


def _typical(runs: list[dict]) -> dict:
    """The start whose RSS is the median one (its processes are shown)."""
    ordered = sorted(runs, key=lambda r: r["memory"]["rss_mib"])
    return ordered[(len(ordered) - 1) // 2]


def targets(result: dict) -> list[Target]:
    r = result.get("ratios") or {}
    why = "; ".join(result.get("skipped", {}).values())
    names = {"spark_version": "kernel start to `spark.version`",
             "first_result": "kernel start to the first model result",
             "rss_mib": "RSS of all the kernel's processes, idle after the first result"}
    return [Target(f"Spark lines: Spark 4 kernel / Toree kernel (Spark 3.5), {label}", r.get(key), GOALS[key],
                   note=why) for key, label in names.items()]
