"""Benchmark 6: native model functions (pyshim/native): a model compiled to Spark SQL.

In one Scala kernel, on the same cached ROWS x 3 doubles as the throughput benchmark (the
throughput kernel of the bench's own Spark line; a kernel of its own, from that line's
environment, for each other line, with the ElasticNet rows only):

* native_model   the ElasticNet registered with `%register_model` (native: one Spark SQL expression)
* hand_sql       the same linear model written by hand in SQL (its coefficients as double literals)
* python_model   the same model with `--native off` (pyshim's Python-worker path)
* spark_udf      mlflow.pyfunc.spark_udf from PySpark
* jvm_sum        sum(a+b+c) in the JVM

Then one row per model kind (tests/native_zoo.py: the preprocessing front and each
estimator), native against the Python path, with compile time and SQL size; and a sweep of
random forests of growing size, native against Python, in the kernel as users run it (HotSpot
JIT-compiles huge methods). The lines in pyshim/native/compile.py come from
bench/native_line.py, which also measures a JVM with HotSpot's default and linear models.
"""
from __future__ import annotations

import json

import throughput
from harness import TESTS, Target, Toree, log, ratio, summary

VARIANTS = {
    "native_model": "pyshim native model function (compiled Spark SQL) from a Scala cell",
    "hand_sql": "the same linear model as a hand-written SQL expression",
    "python_model": "pyshim model function on the Python path (--native off)",
    "spark_udf": "mlflow.pyfunc.spark_udf from PySpark",
    "jvm_sum": "JVM only: sum(a+b+c), no Python",
}
KIND_ROWS = 1_000_000
FOREST_SIZES = [(5, 4), (5, 5), (10, 5), (15, 5), (10, 6), (20, 6)]  # (trees, depth) around the line; 50 x 6 (475 K) runs the driver out of memory


def _hand_sql(uri: str) -> str:
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(uri)
    terms = " + ".join(f"{float(w)!r}D * {c}" for w, c in zip(model.coef_, "abc"))
    return f"{terms} + {float(model.intercept_)!r}D"


def _scala(variant: str, parts: int, rep: str, hand: str, table: str | None = None) -> str:
    table = table or f"abc_{parts}"
    query = {"native_model": f"SELECT sum(native_model(a, b, c)) FROM {table}",
             "python_model": f"SELECT sum(python_model(a, b, c)) FROM {table}",
             "hand_sql": f"SELECT sum({hand}) FROM {table}",
             "jvm_sum": f"SELECT sum(a + b + c) FROM {table}"}[variant]
    return f'benchRun("{variant}", {parts}, "{rep}") {{ spark.sql("{query}").collect()(0).get(0) }}'


def _time(kernel: Toree, variant: str, parts: int, rep: str, hand: str) -> float:
    if variant == "spark_udf":
        return throughput.run_variant(kernel, "spark_udf", parts, rep)["seconds"]
    if variant == "python_model":
        kernel.run('spark.sql("SELECT sum(python_model(a, b, c)) FROM abc_touch").collect()')
    return kernel.measure(_scala(variant, parts, rep, hand))[-1]["seconds"]


def run(kernel: Toree, uri: str, rows: int, partitions: list[int], runs: int, kinds: bool = True) -> dict:
    log(f"native: caching {rows:,} rows x 3 doubles")
    kernel.measure(throughput.scala_setup(rows, partitions))
    summary_native = kernel.run(f"%register_model native_model {uri}")
    kernel.run(f"%register_model python_model {uri} --native off")
    kernel.measure(throughput.python_setup(uri, rows), python=True)
    hand = _hand_sql(uri)
    names = list(VARIANTS)
    for parts in partitions:
        for variant in names:
            _time(kernel, variant, parts, "warmup", hand)
    times: dict[tuple[str, int], list[float]] = {}
    for rep in range(runs):
        for parts in partitions:
            for sub in range(throughput.SHORT_REPEATS if parts <= throughput.SHORT_PARTITIONS else 1):
                for variant in throughput.rotated(names, rep * 3 + sub):
                    times.setdefault((variant, parts), []).append(_time(kernel, variant, parts, f"run{rep}.{sub}", hand))
            log(f"native: round {rep + 1}/{runs}, {parts} partitions: " + ", ".join(
                f"{v} {times[(v, parts)][-1]:.2f}s" for v in names))
    results = {}
    for parts in partitions:
        block = {v: summary(times[(v, parts)]) for v in names}
        for v in names:
            block[v]["rows_per_s"] = round(rows / block[v]["median"]) if block[v]["median"] else None
            block[v]["vs_spark_udf"] = ratio(block[v]["median"], block["spark_udf"]["median"])
        block["native_vs_hand_sql"] = ratio(block["native_model"]["median"], block["hand_sql"]["median"])
        block["spark_udf_vs_native"] = ratio(block["spark_udf"]["median"], block["native_model"]["median"])
        results[str(parts)] = block
    out = {"rows": rows, "partitions": partitions, "runs": runs, "variants": VARIANTS, "results": results,
           "native_summary": getattr(summary_native, "stdout", ""), "hand_sql": hand}
    if kinds:
        out["kinds"] = model_kinds(kernel, runs)
        out["forests"] = forest_sweep(kernel, runs)
    return out


KINDS_SETUP = '''
import sys as _sys, time as _t, json as _json
_sys.path.insert(0, {tests!r})
import native_zoo as _zoo
import pyshim as _pyshim
from pyshim.native import compile as _compiler
spark.range(0, {rows}, 1, 2).selectExpr("rand(1) * 10 - 5 AS a", "rand(2) * 4 AS b", "rand(3) - 0.5 AS c",
    "element_at(array('red', 'green', 'blue'), CAST(rand(4) * 3 AS INT) + 1) AS color").cache().createOrReplaceTempView("kinds")
spark.table("kinds").count()
spark.table("kinds").limit(2000).createOrReplaceTempView("kinds_touch")

def _time_sql(sql, runs):
    spark.sql(sql).collect()
    times = []
    for _ in range(runs):
        t0 = _t.perf_counter(); spark.sql(sql).collect(); times.append(_t.perf_counter() - t0)
    return sorted(times)[len(times) // 2]

def _kind_row(kind, uri, runs):
    t0 = _t.perf_counter()
    native = _pyshim.register_model(spark, "k_native", uri, native="require")  # timed even past the line
    register_s = _t.perf_counter() - t0
    auto = _pyshim.register_model(spark, "k_auto", uri)  # what auto picks (the cached decision)
    _pyshim.register_model(spark, "k_python", uri, native="off")
    from pyshim import native as _native
    decision = [d for k, d in _native._cache.items() if d.sql == native.native_sql][-1] if native.native else None
    row = {{"kind": kind, "native": native.native, "auto_native": auto.native, "runs": auto.runs, "register_s": register_s,
           "compile_check_s": decision.seconds if decision else None, "sql_chars": decision.size if decision else None}}
    if native.native:
        row["native_s"] = _time_sql("SELECT count(k_native(a, b, c, color)) FROM kinds", runs)
    spark.sql("SELECT count(k_python(a, b, c, color)) FROM kinds_touch").collect()
    row["python_s"] = _time_sql("SELECT count(k_python(a, b, c, color)) FROM kinds", runs)
    print("BENCH " + _json.dumps(row))
'''

FOREST_CODE = '''
def _forest_row(trees, depth, runs):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline
    train = _zoo.features(2000, 0)
    model = Pipeline([("front", _zoo._front()), ("model", RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0))])
    model.fit(train, _zoo.target(train, "number"))
    compiled = _compiler.compile_model(model, _zoo.INPUTS, ["double", "double", "double", "string"])
    jf = spark.sparkContext._jvm.pyshim.Functions
    jf.registerNative(spark._jsparkSession, "f_native", compiled.sql, _zoo.INPUTS, ["double", "double", "double", "string"], "double")
    import mlflow
    with mlflow.start_run():
        from mlflow.models import infer_signature
        uri = mlflow.sklearn.log_model(model, name="forest", skops_trusted_types=_zoo._own_types(model),
                                       signature=infer_signature(train, model.predict(train))).model_uri
    _pyshim.register_model(spark, "f_python", uri, native="off")
    row = {{"trees": trees, "depth": depth, "sql_chars": compiled.size, "compile_s": compiled.seconds,
           "native_s": _time_sql("SELECT sum(f_native(a, b, c, color)) FROM kinds", runs)}}
    spark.sql("SELECT sum(f_python(a, b, c, color)) FROM kinds_touch").collect()
    row["python_s"] = _time_sql("SELECT sum(f_python(a, b, c, color)) FROM kinds", runs)
    print("BENCH " + _json.dumps(row))
'''


def model_kinds(kernel: Toree, runs: int) -> list[dict]:
    kernel.python(KINDS_SETUP.format(tests=str(TESTS), rows=KIND_ROWS))
    kernel.python("_kinds = _zoo.build()")
    out = []
    for kind in [k for k in _kinds() if k != "svc"]:
        row = kernel.measure(f'_kind_row("{kind}", _kinds.uris["{kind}"], {runs})', python=True)[-1]
        log(f"native: kind {kind}: {json.dumps(row)}")
        out.append(row)
    return out


def _kinds() -> list[str]:
    import sys

    sys.path.insert(0, str(TESTS))
    import native_zoo

    return list(native_zoo.estimators())


def forest_sweep(kernel: Toree, runs: int) -> list[dict]:
    kernel.python(FOREST_CODE.format())
    out = []
    for trees, depth in FOREST_SIZES:
        row = kernel.measure(f"_forest_row({trees}, {depth}, {runs})", python=True)[-1]
        log(f"native: forest {trees} trees, depth {depth}: {json.dumps(row)}")
        out.append(row)
    return out


def targets(result: dict, line: str | None = None) -> list[Target]:
    """The goals, per partition count; `line` ("Spark 4") names the Spark line they were measured on."""
    prefix = f"native ({line})" if line else "native"
    out = []
    goals = {2: 5.0, 64: 15.0}
    for parts in result["partitions"]:
        block = result["results"][str(parts)]
        if parts in goals:
            # Target holds "measured <= limit": express "native at least Nx faster" as native/spark_udf time <= 1/N.
            out.append(Target(f"{prefix}: native model / spark_udf time, {parts} partitions",
                              block["native_model"]["vs_spark_udf"], round(1 / goals[parts], 4)))
        out.append(Target(f"{prefix}: native model / hand-written SQL time, {parts} partitions",
                          block["native_vs_hand_sql"], 2.0))
    return out
