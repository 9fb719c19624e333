"""Benchmark 5: REST latency of the same model behind MLflow's scoring server (`make serve`).

The bench's model (models:/bench_model/N, the one the Scala path scores in batch) is served
as `make serve` serves it (pyshim.tools.serve: `mlflow models serve`, uvicorn, one worker,
127.0.0.1). One client on loopback posts `dataframe_split` payloads over one keep-alive
connection, as a service calling the model would: calls of 1 row and of 100 rows; and, for
reference, 1 row on a new connection per call (as curl does). The three kinds are
interleaved in rounds after a warm-up. Each call is timed from opening the request to
having parsed the JSON answer. The figures are the median and the 95th percentile.
"""
from __future__ import annotations

import http.client
import json
import statistics
import time
from pathlib import Path

from harness import BenchError, Target, abc_frame, load_average, log

# name -> (rows per call, a new connection for each call)
CASES = {"1": (1, False), "100": (100, False), "1_new_connection": (1, True)}
ROUND = 10  # calls of one kind in a row before switching to the next


def payload(rows: int, seed: int = 3) -> bytes:
    frame = abc_frame(rows, seed)
    return json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                           "data": frame.values.tolist()}}).encode()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency(values: list[float]) -> dict:
    """Median and p95 (the reported figures), mean, best and worst, in seconds."""
    return {"calls": len(values), "median": round(statistics.median(values), 6),
            "p95": round(percentile(values, 95), 6), "mean": round(statistics.fmean(values), 6),
            "best": round(min(values), 6), "worst": round(max(values), 6)}


def call(conn: http.client.HTTPConnection, body: bytes, rows: int) -> float:
    start = time.perf_counter()
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    seconds = time.perf_counter() - start
    if resp.status != 200:
        raise BenchError(f"POST /invocations answered {resp.status}: {answer[:300]!r}")
    if len(json.loads(answer)["predictions"]) != rows:
        raise BenchError(f"{rows} rows posted, {len(json.loads(answer)['predictions'])} predictions back")
    return seconds


def call_new_connection(host: str, port: int, body: bytes, rows: int) -> float:
    conn = http.client.HTTPConnection(host, port, timeout=60)  # connects in request(): timed by call()
    try:
        return call(conn, body, rows)
    finally:
        conn.close()


def measure(host: str, port: int, calls: int, warmup: int = 20) -> dict[str, list[float]]:
    """`calls` timed calls of each case, interleaved ROUND at a time, after `warmup` of each."""
    bodies = {name: payload(rows) for name, (rows, _) in CASES.items()}
    times: dict[str, list[float]] = {name: [] for name in CASES}
    conn = http.client.HTTPConnection(host, port, timeout=60)

    def one(name: str) -> float:
        rows, new = CASES[name]
        if new:
            return call_new_connection(host, port, bodies[name], rows)
        return call(conn, bodies[name], rows)

    try:
        for name in CASES:
            for _ in range(warmup):
                one(name)
        while any(len(t) < calls for t in times.values()):
            for name in CASES:
                for _ in range(min(ROUND, calls - len(times[name]))):
                    times[name].append(one(name))
    finally:
        conn.close()
    return times


def run(workdir: Path, model: str, calls: int = 200, warmup: int = 20) -> dict:
    from pyshim.tools import serve
    from pyshim.tools.cluster import free_port

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = serve.environment()
    log_path = workdir / "serve.log"
    log(f"rest: serving {model} on 127.0.0.1:{port} (`mlflow models serve`, log {log_path})")
    started = time.perf_counter()
    with open(log_path, "wb") as out:
        server = serve.start(model, port, env, stdout=out, stderr=out)
    try:
        try:
            serve.wait_ready(f"http://{serve.LOOPBACK}:{port}", server)
        except Exception as err:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise BenchError(f"the scoring server did not start: {err}\n{tail}") from None
        ready = time.perf_counter() - started
        load_start = load_average()
        times = measure(serve.LOOPBACK, port, calls, warmup)
        load_end = load_average()
    finally:
        server.stop()
    result = {"model": model, "server": "mlflow models serve (uvicorn, 1 worker), 127.0.0.1",
              "client": "one HTTP client on loopback", "warmup": warmup,
              "ready_seconds": round(ready, 2), "load_average_start": load_start, "load_average_end": load_end,
              "calls": {name: {**latency(t), "rows": CASES[name][0], "new_connection": CASES[name][1],
                               "runs": [round(v, 6) for v in t]} for name, t in times.items()}}
    one, hundred = result["calls"]["1"], result["calls"]["100"]
    log(f"rest: 1 row median {one['median'] * 1000:.1f} ms (p95 {one['p95'] * 1000:.1f}), "
        f"100 rows median {hundred['median'] * 1000:.1f} ms (p95 {hundred['p95'] * 1000:.1f})")
    return result


def targets(result: dict) -> list[Target]:
    one = result["calls"]["1"]["median"]
    return [Target("REST: median single-row call, loopback", None if one is None else round(one * 1000, 2), 20.0,
                   "ms", note="the articles this project comes from report under 20 ms per call")]
