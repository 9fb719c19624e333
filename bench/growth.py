"""Benchmark 4: growth. The Scala model path over 0.5M, 1M, 2M and 4M cached rows.

Same kernel, model and query as the throughput benchmark (`sum(model(a, b, c))` from a
Scala cell), on `repartition(2).cache()` tables of each size. The figure is seconds per
million rows at each size; it should stay flat (no cost that grows faster than the data).
Sizes are interleaved in each round, after one warm-up of each.
"""
from __future__ import annotations

from harness import MODEL_NAME, Target, Toree, log, summary

PARTITIONS = 2


def table(size: int) -> str:
    return f"grow_{size}"


def setup_code(sizes: list[int]) -> str:
    return "\n".join(f'benchTable("{table(n)}", {n}L, {PARTITIONS})' for n in sizes) + '\nprintln("BENCH {}")'


def run_code(size: int, rep: str) -> str:
    query = f"SELECT sum({MODEL_NAME}(a, b, c)) FROM {table(size)}"
    return f'benchRun("growth", {size}, "{rep}") {{ spark.sql("{query}").collect()(0).get(0) }}'


def run(kernel: Toree, sizes: list[int], runs: int) -> dict:
    """Needs a kernel set up by throughput.setup_kernel (helpers defined, model registered)."""
    log(f"growth: caching {', '.join(f'{n:,}' for n in sizes)} rows")
    kernel.measure(setup_code(sizes))
    for size in sizes:
        kernel.measure(run_code(size, "warmup"))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for rep in range(runs):
        order = sizes[rep % len(sizes):] + sizes[:rep % len(sizes)]
        for size in order:
            times[size].append(kernel.measure(run_code(size, f"run{rep}"))[-1]["seconds"])
        log(f"growth: round {rep + 1}/{runs}: " + ", ".join(f"{n:,} {times[n][-1]:.2f}s" for n in sizes))
    kernel.run("\n".join(f'spark.catalog.uncacheTable("{table(n)}")' for n in sizes))
    rows = []
    for size in sizes:
        s = summary(times[size])
        s["rows"] = size
        s["seconds_per_million"] = round(s["median"] / (size / 1e6), 4)
        rows.append(s)
    per_million = [r["seconds_per_million"] for r in rows]
    return {"partitions": PARTITIONS, "runs": runs, "sizes": rows,
            "spread": round(max(per_million) / min(per_million), 3),
            "largest_vs_smallest": round(per_million[-1] / per_million[0], 3)}


def targets(result: dict) -> list[Target]:
    return [Target("growth: time per million rows, largest size / smallest", result["largest_vs_smallest"], 1.25,
                   note="flat: the per-row cost does not grow with the data")]
