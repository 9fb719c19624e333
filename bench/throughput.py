"""Benchmark 1: model UDF throughput, side by side with what users would pick instead.

All in ONE Toree kernel, so every variant uses the same JVM, the same Spark config and the
same cached data (ROWS x 3 doubles, `repartition(N).cache()` for each N):

* scala_model        the project's path: `%register_model`, then spark.sql in a Scala cell,
                     timed in the cell with System.nanoTime
* spark_udf          `mlflow.pyfunc.spark_udf(spark, uri)` applied from PySpark (%%python)
* identity_udf       an identity pandas UDF from PySpark: the Arrow round-trip floor
* identity_udf_fixed the same identity UDF with pyshim's worker fix applied (see _worker.py)
* jvm_sum            sum(a+b+c) in the JVM, no Python
* predict_floor      model.predict on one pandas DataFrame of ROWS rows (the compute floor)

The action is `sum(f(a, b, c))`: the UDF runs on every row and nothing big is collected.
Runs are interleaved (round-robin, the order rotating each round) after one warm-up of
each variant, so noise from the shared machine lands on all of them alike.

Spark closes a pool's idle Python workers after one minute without a task (hard-coded in
PythonWorkerFactory), and a long run of one pool can leave the other idle that long. So each
timed run is preceded by the same UDF on a tiny table (`abc_touch`, untimed): the figures
are for a session in use. What a query costs after a pause of more than a minute (new
workers: imports and model load again) is measured on its own (`after_idle`).

The baselines (spark_udf, identity_udf) run in a Python worker pool of their own: Spark
keys worker pools by the UDF's environment, and the baselines are created with an extra
variable in `sc.environment`, and that pool forks its workers from PySpark's own
`pyspark.daemon`, not from pyshim's (which preloads the model libraries). So what pyshim
does to its workers cannot make the alternatives look better (or worse) than they are in
a plain PySpark session.
"""
from __future__ import annotations

import time
import urllib.request
import json
from pathlib import Path

from harness import (MODEL_NAME, BenchError, PySpy, Target, Toree, classify_pyspy, environ, log,
                     pyspark_daemons, ratio, summary)

VARIANTS = {
    "scala_model": "pyshim model function from a Toree Scala cell",
    "spark_udf": "mlflow.pyfunc.spark_udf from PySpark",
    "identity_udf": "identity pandas UDF from PySpark (Arrow round-trip floor)",
    "identity_udf_fixed": "identity pandas UDF + pyshim's worker fix",
    "jvm_sum": "JVM only: sum(a+b+c), no Python",
}
SCALA_VARIANTS = ("scala_model", "jvm_sum")
POOL_VAR = "PYSHIM_BENCH_POOL"

SCALA_HELPERS = '''
def benchRun(variant: String, parts: Int, rep: String)(body: => Any): Unit = {
  spark.sparkContext.setJobDescription(s"bench $variant $parts $rep")
  val t0 = System.nanoTime
  val value = body
  val seconds = (System.nanoTime - t0) / 1e9
  spark.sparkContext.setJobDescription(null)
  println(s"""BENCH {"variant": "$variant", "partitions": $parts, "rep": "$rep", "seconds": $seconds, "value": "$value"}""")
}
def benchTable(view: String, rows: Long, parts: Int): Long = {
  val data = spark.range(0, rows, 1, 2).selectExpr("rand(1) AS a", "rand(2) AS b", "rand(3) AS c")
    .repartition(parts).cache()
  data.createOrReplaceTempView(view)
  data.count()
}
println("BENCH " + "{\\"ui\\": \\"" + spark.sparkContext.uiWebUrl.getOrElse("") + "\\", \\"app\\": \\"" + spark.sparkContext.applicationId + "\\"}")
'''


def scala_setup(rows: int, partitions: list[int]) -> str:
    tables = "\n".join(f'benchTable("abc_{n}", {rows}L, {n})' for n in partitions)
    return SCALA_HELPERS + tables + '\nbenchTable("abc_touch", 2000L, 2)\n'


def scala_run(variant: str, parts: int, rep: str, touch: bool = True) -> str:
    query = {"scala_model": f"SELECT sum({MODEL_NAME}(a, b, c)) FROM abc_{parts}",
             "jvm_sum": f"SELECT sum(a + b + c) FROM abc_{parts}"}[variant]
    code = f'benchRun("{variant}", {parts}, "{rep}") {{ spark.sql("{query}").collect()(0).get(0) }}'
    if touch and variant == "scala_model":
        code = f'spark.sql("SELECT sum({MODEL_NAME}(a, b, c)) FROM abc_touch").collect()\n' + code
    return code


def python_setup(uri: str, rows: int) -> str:
    return f'''
import json as _json, time as _time
import numpy as _np, pandas as _pd
import mlflow.pyfunc as _pyfunc
from pyspark.sql import functions as _F
from pyspark.sql.functions import pandas_udf as _pandas_udf
from pyshim.bridge import worker as _pyshim_worker

_fix = getattr(_pyshim_worker, "keep_zip_indexes", None)

def _bench(variant, parts, rep, action):
    sc.setJobDescription(f"bench {{variant}} {{parts}} {{rep}}")
    t0 = _time.perf_counter()
    value = action()
    seconds = _time.perf_counter() - t0
    sc.setJobDescription(None)
    print("BENCH " + _json.dumps({{"variant": variant, "partitions": parts, "rep": rep,
                                   "seconds": seconds, "value": str(value)}}))

# The baselines get a worker pool of their own (Spark keys pools by the UDF's environment);
# the UDF objects capture the environment when their column is first built, just below.
sc.environment["{POOL_VAR}"] = "stock"
try:
    _spark_udf = _pyfunc.spark_udf(spark, "{uri}", result_type="double", env_manager="local")

    @_pandas_udf("double")
    def pyshim_bench_identity(a: _pd.Series, b: _pd.Series, c: _pd.Series) -> _pd.Series:
        return a

    _columns = {{"spark_udf": _spark_udf("a", "b", "c"),
                "identity_udf": pyshim_bench_identity("a", "b", "c")}}
finally:
    del sc.environment["{POOL_VAR}"]

# A plain PySpark session forks its workers from pyspark.daemon; pyshim's kernel uses
# pyshim.bridge.daemon (model libraries preloaded, zip fix applied). A pool reads the daemon
# module when it starts, so the baselines' pool is started here with the stock one.
_jconf = sc._jsc.sc().conf()
_ours = _jconf.get("spark.python.daemon.module", "pyspark.daemon")
_jconf.set("spark.python.daemon.module", "pyspark.daemon")
try:
    spark.table("abc_touch").select(_columns["identity_udf"]).collect()
finally:
    _jconf.set("spark.python.daemon.module", _ours)

@_pandas_udf("double")
def pyshim_bench_identity_fixed(a: _pd.Series, b: _pd.Series, c: _pd.Series) -> _pd.Series:
    if _fix is not None:
        _fix()
    return a

_columns["identity_udf_fixed"] = pyshim_bench_identity_fixed("a", "b", "c")

def bench_udf(variant, parts, rep, touch=True):
    if touch:  # its Python workers alive and warm, as in a session in use (untimed)
        spark.table("abc_touch").select(_F.sum(_columns[variant])).collect()
    _bench(variant, parts, rep,
           lambda: spark.table(f"abc_{{parts}}").select(_F.sum(_columns[variant])).collect()[0][0])

# The compute floor: the same model's predict on one pandas DataFrame of as many rows.
_model = _pyfunc.load_model("{uri}")
_frame = _pd.DataFrame(_np.random.default_rng(7).random(({rows}, 3)), columns=["a", "b", "c"])
_model.predict(_frame.head(1000))
print("BENCH " + _json.dumps({{"fix_present": _fix is not None}}))
'''


def python_run(variant: str, parts: int, rep: str, touch: bool = True) -> str:
    if variant == "predict_floor":
        return f'_bench("predict_floor", 1, "{rep}", lambda: float(_np.sum(_model.predict(_frame))))'
    return f'bench_udf("{variant}", {parts}, "{rep}", touch={touch})'


def run_variant(kernel: Toree, variant: str, parts: int, rep: str, touch: bool = True) -> dict:
    for attempt in (1, 2):  # once more if the kernel lost the cell's output line
        try:
            if variant in SCALA_VARIANTS:
                found = kernel.measure(scala_run(variant, parts, rep, touch))
            else:
                found = kernel.measure(python_run(variant, parts, rep, touch), python=True)
            return found[-1]
        except BenchError as err:
            if attempt == 2 or "no BENCH line" not in str(err):
                raise
            log(f"throughput: {variant} x{parts} {rep}: no output line from the kernel, running it again")
    raise AssertionError("unreachable")


def touch(kernel: Toree, variant: str) -> None:
    """The variant's UDF on the tiny table, untimed: its Python workers are alive and warm."""
    if variant == "scala_model":
        kernel.run(f'spark.sql("SELECT sum({MODEL_NAME}(a, b, c)) FROM abc_touch").collect()')
    elif variant in ("spark_udf", "identity_udf", "identity_udf_fixed"):
        kernel.python(f'spark.table("abc_touch").select(_F.sum(_columns["{variant}"])).collect()')


SHORT_PARTITIONS, SHORT_REPEATS = 8, 3
IDLE_SECONDS = 75  # Spark closes a pool's workers after 60 s without a task, checking every 10 s


def after_idle(kernel: Toree, parts: int, samples: int, wait: float = IDLE_SECONDS) -> dict:
    """The first query after a pause: both pools' workers are gone, new ones import and load."""
    times: dict[str, list[float]] = {"scala_model": [], "spark_udf": []}
    for i in range(samples):
        log(f"throughput: waiting {wait:.0f}s with no Python task, then scala_model and spark_udf ({i + 1}/{samples})")
        time.sleep(wait)
        for variant in rotated(list(times), i):
            times[variant].append(run_variant(kernel, variant, parts, f"idle{i}", touch=False)["seconds"])
    out = {"partitions": parts, "pause_seconds": wait,
           **{variant: summary(values) for variant, values in times.items()}}
    out["scala_vs_spark_udf"] = ratio(out["scala_model"]["median"], out["spark_udf"]["median"])
    return out


def rotated(items: list[str], shift: int) -> list[str]:
    shift %= len(items)
    return items[shift:] + items[:shift]


# ---------------------------------------------------------------- Spark's own task metrics


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read().decode())


def stage_metrics(ui: str, app: str) -> dict[str, dict]:
    """Per timed action (`bench VARIANT PARTS REP`), the stage that ran the UDF: the one with
    the most task time (with adaptive execution one action runs two jobs: the UDF's stage,
    then the final sum). Tasks, task run time and JVM CPU time are summed over its tasks."""
    if not ui:
        return {}
    base = f"{ui.rstrip('/')}/api/v1/applications/{app}"
    out: dict[str, dict] = {}
    for job in _get_json(f"{base}/jobs?status=succeeded"):
        description = job.get("description") or ""
        if not description.startswith("bench "):
            continue
        for stage_id in job.get("stageIds", []):
            for attempt in _get_json(f"{base}/stages/{stage_id}"):
                best = out.get(description)
                if attempt.get("status") != "COMPLETE" or (best and attempt.get("executorRunTime", 0) <= best["run_ms"]):
                    continue
                out[description] = {"tasks": attempt.get("numCompleteTasks", 0),
                                    "run_ms": float(attempt.get("executorRunTime", 0)),
                                    "cpu_ms": attempt.get("executorCpuTime", 0) / 1e6,
                                    "gc_ms": float(attempt.get("jvmGcTime", 0))}
    return out


def summarize_metrics(metrics: dict[str, dict], variant: str, parts: int) -> dict | None:
    runs = [m for d, m in metrics.items() if d.startswith(f"bench {variant} {parts} run")]
    if not runs:
        return None
    tasks = sum(m["tasks"] for m in runs)
    return {"jobs": len(runs), "tasks_per_run": round(tasks / len(runs), 1),
            "task_run_ms_mean": round(sum(m["run_ms"] for m in runs) / max(tasks, 1), 1),
            "task_jvm_cpu_ms_mean": round(sum(m["cpu_ms"] for m in runs) / max(tasks, 1), 1),
            "gc_ms_per_run": round(sum(m["gc_ms"] for m in runs) / len(runs), 1)}


# ---------------------------------------------------------------- the benchmark


def setup_kernel(kernel: Toree, uri: str, rows: int, partitions: list[int]) -> dict:
    log(f"throughput: caching {rows:,} rows x 3 doubles as {', '.join(f'abc_{n}' for n in partitions)}")
    ui = kernel.measure(scala_setup(rows, partitions))[-1]
    log(f"throughput: %register_model {MODEL_NAME} {uri} --native off (the Python path; bench/native.py has the native one)")
    kernel.run(f"%register_model {MODEL_NAME} {uri} --native off")
    log("throughput: PySpark side (spark_udf, identity UDFs, the model in pandas)")
    fix = kernel.measure(python_setup(uri, rows), python=True)[-1]
    return {**ui, **fix}


def profile_workers(kernel: Toree, pyspy: str, workdir: Path, parts: int) -> dict:
    """py-spy on the worker pools during one extra run of each Python variant."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for variant in ("identity_udf", "spark_udf", "scala_model", "identity_udf_fixed"):
        stock = variant in ("identity_udf", "spark_udf")
        touch(kernel, variant)  # workers alive before the profile starts, as before a timed run
        daemons = [p for p in pyspark_daemons(kernel.pid) if (POOL_VAR in environ(p)) == stock]
        if not daemons:
            out[variant] = {"error": "no pyspark.daemon found for this pool"}
            continue
        raw = workdir / f"pyspy-{variant}-{parts}.txt"
        with PySpy(pyspy, daemons[0], raw):
            seconds = run_variant(kernel, variant, parts, "profiled", touch=False)["seconds"]
        out[variant] = {"seconds": round(seconds, 3), **classify_pyspy(raw), "raw": str(raw)}
        log(f"throughput: py-spy {variant} x{parts}: {out[variant]['shares']}")
    return out


def run(kernel: Toree, uri: str, rows: int, partitions: list[int], runs: int,
        pyspy: str | None = None, workdir: Path | None = None, idle_samples: int = 0) -> dict:
    info = setup_kernel(kernel, uri, rows, partitions)
    names = list(VARIANTS)
    times: dict[tuple[str, int], list[float]] = {}
    log("throughput: warm-up (one run of each)")
    for parts in partitions:
        for variant in names:
            run_variant(kernel, variant, parts, "warmup")
    kernel.measure(python_run("predict_floor", 1, "warmup"), python=True)
    for rep in range(runs):
        for parts in partitions:
            # Few partitions: runs of a second or so, where noise weighs most; three times the runs.
            for sub in range(SHORT_REPEATS if parts <= SHORT_PARTITIONS else 1):
                label = f"run{rep}" if sub == 0 else f"run{rep}.{sub}"
                for variant in rotated(names, rep * SHORT_REPEATS + sub):
                    found = run_variant(kernel, variant, parts, label)
                    times.setdefault((variant, parts), []).append(found["seconds"])
                log(f"throughput: round {rep + 1}/{runs}, {parts} partitions: " + ", ".join(
                    f"{v} {times[(v, parts)][-1]:.2f}s" for v in names))
        found = kernel.measure(python_run("predict_floor", 1, f"run{rep}"), python=True)[-1]
        times.setdefault(("predict_floor", 1), []).append(found["seconds"])

    try:
        metrics = stage_metrics(info.get("ui", ""), info.get("app", ""))
    except Exception as err:  # the UI is a nice-to-have for the profile
        log(f"throughput: no Spark UI metrics: {err}")
        metrics = {}

    results: dict[str, dict] = {}
    for parts in partitions:
        block = {}
        for variant in names:
            s = summary(times[(variant, parts)])
            s["rows_per_s"] = round(rows / s["median"]) if s["median"] else None
            s["spark_metrics"] = summarize_metrics(metrics, variant, parts)
            block[variant] = s
        floor = summary(times[("predict_floor", 1)])
        floor["rows_per_s"] = round(rows / floor["median"]) if floor["median"] else None
        block["predict_floor"] = floor
        spark_udf = block["spark_udf"]["median"]
        for variant in block:
            block[variant]["vs_spark_udf"] = ratio(block[variant]["median"], spark_udf)
        results[str(parts)] = block

    profile = {}
    if pyspy and workdir is not None:
        profile_parts = max(partitions)
        log(f"throughput: profiling the Python workers with py-spy ({profile_parts} partitions)")
        try:
            profile = {str(profile_parts): profile_workers(kernel, pyspy, workdir, profile_parts)}
        except (BenchError, OSError) as err:
            profile = {"error": str(err)}

    idle = after_idle(kernel, min(partitions), idle_samples) if idle_samples else None

    return {"rows": rows, "partitions": partitions, "runs": runs, "variants": VARIANTS,
            "worker_fix_present": info.get("fix_present"), "results": results, "profile": profile,
            "after_idle": idle}


def targets(result: dict) -> list[Target]:
    out = []
    limits = {2: 1.05, 64: 0.8}
    for parts in result["partitions"]:
        block = result["results"][str(parts)]
        limit = limits.get(parts)
        if limit is None:
            continue
        out.append(Target(f"throughput: Scala model path / spark_udf time, {parts} partitions",
                          block["scala_model"]["vs_spark_udf"], limit))
    return out
