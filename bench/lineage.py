"""Benchmark 9: what the lineage listener (scala/src/pyshim/Lineage.scala) costs.

In the throughput benchmark's kernel, with its cached table and model function: the same
query (`sum(model(a, b, c))` from a Scala cell) with the listener on and off
(`pyshim.Lineage.enabled`), alternating in one kernel, the order rotating each round. Also a
write of the scored table to Parquet, on and off, timed up to the moment its lineage record
is written (`pyshim.Lineage.flush()`, as a cell does at its end): the whole cost of a record.
"""
from __future__ import annotations

import tempfile

from harness import MODEL_NAME, Target, Toree, log, ratio, summary

STATES = ("on", "off")


def _query_code(state: str, parts: int, rep: str) -> str:
    query = f"SELECT sum({MODEL_NAME}(a, b, c)) FROM abc_{parts}"
    return (f"pyshim.Lineage.enabled = {'true' if state == 'on' else 'false'}\n"
            f'benchRun("query_{state}", {parts}, "{rep}") {{ spark.sql("{query}").collect()(0).get(0) }}')


def _write_code(state: str, parts: int, rep: str, folder: str) -> str:
    query = f"SELECT a, b, c, {MODEL_NAME}(a, b, c) AS p FROM abc_{parts}"
    return (f"pyshim.Lineage.enabled = {'true' if state == 'on' else 'false'}\n"
            f'benchRun("write_{state}", {parts}, "{rep}") {{ spark.sql("{query}").write.mode("overwrite")'
            f'.parquet("{folder}/{state}"); pyshim.Lineage.flush() }}')


def run(kernel: Toree, partitions: list[int], runs: int) -> dict:
    """Needs a kernel set up by throughput.setup_kernel (helpers defined, model registered)."""
    parts = min(partitions)
    folder = tempfile.mkdtemp(prefix="pyshim-bench-lineage-")
    times: dict[str, list[float]] = {}
    for kind, code in (("query", _query_code), ("write", lambda s, p, r: _write_code(s, p, r, folder))):
        for state in STATES:
            kernel.measure(code(state, parts, "warmup"))
        for rep in range(runs):
            for state in (STATES if rep % 2 == 0 else STATES[::-1]):
                found = kernel.measure(code(state, parts, f"run{rep}"))[-1]
                times.setdefault(f"{kind}_{state}", []).append(found["seconds"])
            log(f"lineage: {kind} round {rep + 1}/{runs}: on {times[f'{kind}_on'][-1]:.2f}s, "
                f"off {times[f'{kind}_off'][-1]:.2f}s")
    kernel.run("pyshim.Lineage.enabled = true")
    result = {"partitions": parts, "runs": runs, **{k: summary(v) for k, v in times.items()}}
    for kind in ("query", "write"):
        result[f"{kind}_on_vs_off"] = ratio(result[f"{kind}_on"]["median"], result[f"{kind}_off"]["median"])
    return result


def targets(result: dict) -> list[Target]:
    return [Target("lineage: throughput query time, listener on / off", result["query_on_vs_off"], 1.02,
                   note="the listener is asynchronous; a query that writes nothing costs one pattern match")]
