"""Benchmark 8: Tab completion on a warm kernel, per cell language.

A complete_request goes to the kernel as a front end sends it (jupyter_client, loopback) and
is timed until its complete_reply: a Scala cell (`spark.rang`, Toree's presentation
compiler), a `%%python` cell (`collections.Ord`, IPython's completer on the live namespace),
a `%%python` cell that imports a module under a name not yet bound (jedi reads the cell) and a
`%%sql` cell (a temp view by its prefix, from the session's catalog). The kinds are
interleaved, after warm-up requests of each, a second apart as a user types between two
Tabs; every reply must hold the expected name. Target: a median of 300 ms or less for each.
"""
from __future__ import annotations

import time

from harness import BenchError, Target, Toree, log, summary

VIEW = "bench_completion_view"
CASES = {
    "scala": ("val n = spark.rang", "range"),
    "python": ("%%python\nimport collections\ncollections.Ord", "OrderedDict"),
    "python-import": ("%%python\nimport textwrap as bench_wrap\nbench_wrap.ded", "dedent"),
    "sql": (f"%%sql\nSELECT * FROM {VIEW[:-4]}", VIEW),
}
LIMIT_MS = 300.0
TYPING_S = 1.0  # between two Tabs


def _time_one(kernel: Toree, kind: str) -> float:
    code, expected = CASES[kind]
    driver = kernel.driver
    time.sleep(TYPING_S)
    started = time.perf_counter()
    reply = driver.shell_reply(driver.kc.complete(code, len(code)))
    seconds = time.perf_counter() - started
    if expected not in reply["content"].get("matches", []):
        raise BenchError(f"completion of {code!r} did not offer {expected!r}: {reply['content']}")
    return seconds


def run(kernel: Toree, runs: int, warmup: int = 3) -> dict:
    kernel.run(f'spark.range(10).createOrReplaceTempView("{VIEW}")')
    kernel.python("import collections")
    kinds = list(CASES)
    for kind in kinds:
        for _ in range(warmup):
            _time_one(kernel, kind)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for rep in range(runs):
        for kind in kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]:
            times[kind].append(_time_one(kernel, kind))
    result = {"runs": runs, "warmup": warmup, "cases": {k: {"code": CASES[k][0], **summary(times[k])} for k in kinds}}
    log("completion: " + ", ".join(f"{k} {result['cases'][k]['median'] * 1000:.0f} ms" for k in kinds))
    return result


def targets(result: dict) -> list[Target]:
    return [Target(f"completion: median Tab latency, {kind} cell", round(case["median"] * 1000, 1), LIMIT_MS, "ms",
                   note="warm kernel, loopback, request to reply")
            for kind, case in result["cases"].items()]
