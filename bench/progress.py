"""Benchmark 7: what the per-cell progress display costs a job of many short tasks.

Two Toree kernels, one with the progress display (the default) and one started with
PYSHIM_PROGRESS=0, run the same Scala cell: a job of 10,000 tasks that do nothing, timed in
the cell with System.nanoTime. The runs alternate between the kernels (the order rotating each
round) after one warm-up in each, so the shared machine's noise lands on both; the figure is
the median. The display polls Spark's status tracker twice a second and its listener sees one
event per job and stage, never per task: the target is at most 3% slower, or 0.5 s, whichever
is larger. Both kernel logs are checked for Spark's "Dropping event from queue" (a listener
that falls behind).
"""
from __future__ import annotations

import os
from pathlib import Path

from harness import Target, Toree, load_average, log, summary

DROPPED = "Dropping event from queue"
JOB = ('val t0 = System.nanoTime\nsc.parallelize(1 to {n}, {n}).count\n'
       'println("BENCH {{\\"seconds\\": " + (System.nanoTime - t0) / 1e9 + "}}")')


def run(root: Path, tasks: int, runs: int) -> dict:
    kernels = {"on": Toree(root / "progress-on", name="progress-on"),
               "off": Toree(root / "progress-off", name="progress-off", env={"PYSHIM_PROGRESS": "0"})}
    times: dict[str, list[float]] = {"on": [], "off": []}
    start_load = load_average()
    try:
        for kernel in kernels.values():
            kernel.start()
            kernel.measure(JOB.format(n=tasks))  # warm-up: JIT, Spark's first job
        order = ["on", "off"]
        for i in range(runs):
            for mode in order if i % 2 == 0 else order[::-1]:
                seconds = kernels[mode].measure(JOB.format(n=tasks))[0]["seconds"]
                times[mode].append(seconds)
                log(f"progress {mode}: {tasks:,} tasks in {seconds:.2f} s")
        dropped = {mode: k.driver.log_text().count(DROPPED) for mode, k in kernels.items()}
    finally:
        for kernel in kernels.values():
            kernel.close()
    on, off = summary(times["on"]), summary(times["off"])
    return {"tasks": tasks, "runs": runs, "on": on, "off": off,
            "slower_seconds": round(on["median"] - off["median"], 3),
            "allowed_seconds": round(max(0.03 * off["median"], 0.5), 3),
            "dropped_events": dropped, "load_average_start": start_load, "load_average_end": load_average(),
            "env": {"PYSHIM_PROGRESS": os.environ.get("PYSHIM_PROGRESS", "")}}


def targets(result: dict) -> list[Target]:
    return [Target(f"progress display: job of {result['tasks']:,} tasks, on minus off (max of 3% and 0.5 s)",
                   result["slower_seconds"], result["allowed_seconds"], "s"),
            Target('progress display: "Dropping event from queue" in the kernel logs',
                   float(sum(result["dropped_events"].values())), 0.0, "x")]
