"""Benchmark 2: cold start, from starting a new Toree kernel to the first model result.

Each start is a fresh kernel (a new JVM, a new sidecar, new Python workers), driven as a
notebook would be, one cell after the other:

  JVM and Spark   start the kernel (jupyter_client) until it answers, then `spark.version`
  sidecar attach  `%%python 1`: the Python sidecar attached to the JVM's session
  model load      `%register_model`: resolve the URI in MLflow, download, ship to the workers
  first batch     the first query with the model: Python workers, the model loaded in
                  them, one batch scored

pyshim's warm start does most of this in the background while Toree's interpreter starts
(SparkSession, sidecar, Python workers forked from pyshim.bridge.daemon with the model libraries
imported, so a model loads there in milliseconds); each phase is what its cell still
waits for. PYSHIM_WARM_START=0 in the environment of
`make bench` measures the lazy path instead.

One start is run first as a warm-up (OS file cache), then the median of the others.
The worker probe times the same imports a fresh Spark Python worker does, one by one, in a
plain subprocess: it says where the first batch goes.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BenchError, Target, Toree, load_average, log, summary, tree_cpu_seconds

PHASES = ("jvm_and_spark", "sidecar_attach", "model_load", "first_batch")
COLD_MODEL = "cold_model"
FIRST_QUERY = ('spark.range(0, 8, 1, 2).selectExpr("{m}(CAST(id AS double), 0.5D, 0.25D) AS p")'
               '.agg(org.apache.spark.sql.functions.sum("p")).collect()(0).getDouble(0)')


def one_start(workdir: Path, uri: str, name: str) -> dict:
    from pyshim.kernel import scala_build

    # The launcher rebuilds the extension jar when a Scala source is newer: not a cold start.
    rebuilt = scala_build.build()
    t0 = time.perf_counter()
    kernel = Toree(workdir, name=name).start()
    cpu = {}
    try:
        marks = {"kernel_ready": time.perf_counter()}
        cpu["kernel_ready"] = tree_cpu_seconds(kernel.pid)
        kernel.run("spark.version")
        marks["spark"] = time.perf_counter()
        cpu["spark"] = tree_cpu_seconds(kernel.pid)
        kernel.python("1")
        marks["sidecar"] = time.perf_counter()
        cpu["sidecar"] = tree_cpu_seconds(kernel.pid)
        kernel.run(f"%register_model {COLD_MODEL} {uri}")
        marks["registered"] = time.perf_counter()
        cpu["registered"] = tree_cpu_seconds(kernel.pid)
        first = kernel.run(FIRST_QUERY.format(m=COLD_MODEL))
        marks["first"] = time.perf_counter()
        cpu["first"] = tree_cpu_seconds(kernel.pid)
        kernel.run(FIRST_QUERY.format(m=COLD_MODEL))
        marks["second"] = time.perf_counter()
    finally:
        kernel.close()
    cpu_phases = {"jvm_and_spark": cpu["spark"], "sidecar_attach": cpu["sidecar"] - cpu["spark"],
                  "model_load": cpu["registered"] - cpu["sidecar"], "first_batch": cpu["first"] - cpu["registered"],
                  "total": cpu["first"]}
    return {
        "cpu_seconds": {k: round(v, 2) for k, v in cpu_phases.items()},
        "load_average": load_average(),
        "kernel_ready": round(marks["kernel_ready"] - t0, 3),
        "jvm_and_spark": round(marks["spark"] - t0, 3),
        "sidecar_attach": round(marks["sidecar"] - marks["spark"], 3),
        "model_load": round(marks["registered"] - marks["sidecar"], 3),
        "first_batch": round(marks["first"] - marks["registered"], 3),
        "same_query_warm": round(marks["second"] - marks["first"], 3),
        "total": round(marks["first"] - t0, 3),
        "result": first.text,
        "jar_rebuilt_before": rebuilt,
    }


WORKER_PROBE = r'''
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import pyspark.worker                      # what pyspark.daemon imports before forking workers
mark("pyspark.worker (from pyspark.zip)")
import pandas, pyarrow                     # Arrow UDF serializers
mark("pandas + pyarrow")
import pyshim.bridge.worker                      # unpickling the model function
mark("pyshim.bridge.worker")
import mlflow.pyfunc
mark("mlflow.pyfunc")
model = mlflow.pyfunc.load_model(sys.argv[1])
mark("load_model (sklearn)")
model.predict(pandas.DataFrame({"a": [0.1] * 10000, "b": [0.2] * 10000, "c": [0.3] * 10000}))
mark("first predict (10,000 rows)")
print(json.dumps({name: marks[i + 1][1] - marks[i][1] for i, (name, _) in enumerate(marks[1:])}))
'''

SIDECAR_PROBE = r'''
import json, time
t0 = time.perf_counter()
import pyspark.sql, py4j.java_gateway
t1 = time.perf_counter()
import mlflow
t2 = time.perf_counter()
print(json.dumps({"pyspark + py4j (sidecar attach)": t1 - t0, "mlflow (first %register_model)": t2 - t1}))
'''


def _probe(code: str, args: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise BenchError(f"probe failed: {done.stderr[-2000:]}")
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    parts["interpreter start and exit"] = wall - sum(parts.values())
    return parts


def worker_env() -> dict:
    """The PYTHONPATH Spark gives its Python workers (pyspark.zip, py4j's zip, spark-core)."""
    import pyspark

    home = Path(pyspark.__file__).parent
    zips = [*sorted((home / "python" / "lib").glob("*.zip")), *sorted((home / "jars").glob("spark-core_*.jar"))]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(z) for z in zips)
    return env


def probes(uri: str, repeats: int, workdir: Path) -> dict:
    import mlflow

    workdir.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tempfile.mkdtemp(dir=workdir))
    worker = [_probe(WORKER_PROBE, [local], worker_env()) for _ in range(repeats)]
    sidecar = [_probe(SIDECAR_PROBE, [], dict(os.environ)) for _ in range(repeats)]

    def medians(samples: list[dict]) -> dict:
        return {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}

    return {"worker_imports": medians(worker), "sidecar_imports": medians(sidecar)}


def run(workdir: Path, uri: str, starts: int, warmup: bool = True) -> dict:
    if warmup:
        log("coldstart: warm-up start (not counted)")
        one_start(workdir / "cold-warmup", uri, "cold-warmup")
    samples = []
    for i in range(starts):
        sample = one_start(workdir / f"cold-{i}", uri, f"cold-{i}")
        samples.append(sample)
        log(f"coldstart: start {i + 1}/{starts}: total {sample['total']:.1f}s (" +
            ", ".join(f"{p} {sample[p]:.1f}s" for p in PHASES) + ")")
    log("coldstart: import probes (what a fresh Python worker and the sidecar import)")
    profile = probes(uri, repeats=max(1, min(3, starts)), workdir=workdir / "probe-model")
    keys = ("kernel_ready", *PHASES, "same_query_warm", "total")
    cpu_keys = (*PHASES, "total")
    return {"starts": starts, "nproc": os.cpu_count(), "samples": samples,
            "median": {k: summary([s[k] for s in samples])["median"] for k in keys},
            "cpu_median": {k: summary([s["cpu_seconds"][k] for s in samples])["median"] for k in cpu_keys},
            "summary": {k: summary([s[k] for s in samples]) for k in keys},
            "profile": profile}


def targets(result: dict) -> list[Target]:
    return [Target("cold start: kernel start to first model result", result["median"]["total"], 25.0, "s")]
