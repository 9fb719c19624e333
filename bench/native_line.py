"""Where a model compiled to Spark SQL stops being faster than the Python workers.

    .venv/bin/python bench/native_line.py            # both JVM settings, every size below
    .venv/bin/python bench/native_line.py --sizes lr:13:3 rf:10:5

The measurement behind pyshim/native/compile.py's lines (MAX_FAST_*_SQL_CHARS): in a plain
PySpark session (local[2], 1M cached rows, `count(f(...))`, median of 3 after a warm-up), the
compiled expression against the Python path of the same model logged to MLflow, once in a
JVM with HotSpot's default (no JIT compilation of methods past 8000 bytes of bytecode) and
once with defaults.JIT_HUGE_METHODS, as pyshim's kernels start. Sizes: `lr:F:K` a scaled
logistic regression on F features and K classes, `rf:T:D` a random forest regressor of T trees
of depth D, `gb:T:K` gradient boosting of T trees of depth 3 on K classes.
Not part of `make bench`: it takes about 10 minutes. Results in bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
SIZES = ["lr:13:3", "lr:30:5", "lr:40:6", "lr:30:10", "lr:40:10", "lr:80:10",
         "rf:5:4", "rf:5:5", "rf:10:5", "rf:15:5", "rf:10:6", "rf:15:6", "gb:5:3", "gb:8:3"]
ROWS = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=SIZES)
    parser.add_argument("--rows", type=int, default=ROWS, help="rows scored (1M; fewer for wide models on a small driver)")
    parser.add_argument("--measure", choices=["default", "jit"], help=argparse.SUPPRESS)  # one JVM setting (child)
    args = parser.parse_args(argv)
    if args.measure:
        return _measure(args.sizes, args.measure == "jit", args.rows)
    rows = []
    for setting in ("default", "jit"):
        out = subprocess.run([sys.executable, __file__, "--measure", setting, "--rows", str(args.rows), "--sizes", *args.sizes],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        rows += [json.loads(line[6:]) for line in out.splitlines() if line.startswith("BENCH ")]
    print("| model | SQL chars | JVM | native s | Python s | native speed-up |")
    print("|---|---:|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['chars']:,} | {row['jvm']} | {row['native_s']:.2f} | {row['python_s']:.2f} "
              f"| {row['python_s'] / row['native_s']:.2f}x |")
    return 0


def _measure(sizes: list[str], jit: bool, rows: int) -> int:
    folder = tempfile.mkdtemp(prefix="pyshim-native-line-")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    spark = _session(jit)
    for size in sizes:
        kind, first, second = size.split(":")
        row = _row(spark, rows, *_model(kind, int(first), int(second)))
        print("BENCH " + json.dumps({**row, "jvm": "JIT huge methods" if jit else "HotSpot default"}), flush=True)
    spark.stop()
    return 0


def _session(jit: bool):
    from pyspark.sql import SparkSession

    from pyshim import defaults, paths

    builder = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.jars", str(paths.EXTENSION_JAR)))
    if jit:
        builder = builder.config("spark.driver.extraJavaOptions", defaults.JIT_HUGE_METHODS)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    return spark


def _model(kind: str, first: int, second: int):
    """(label, fitted model, its training frame of double features x0, x1, ...)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features = first if kind == "lr" else 4
    X = pd.DataFrame(rng.random((3000, features)) * 4 - 2, columns=[f"x{i}" for i in range(features)])
    if kind == "lr":
        y = np.argmax(X.values[:, :second] + rng.normal(0, 0.5, (3000, second)), axis=1)
        return f"logistic {first} features x {second} classes", make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y), X
    if kind == "rf":
        y = X.x0 * 2 + np.sin(X.x1 * 3) + X.x2 * X.x3
        return f"forest {first} trees x depth {second}", make_pipeline(
            StandardScaler(), RandomForestRegressor(n_estimators=first, max_depth=second, random_state=0)).fit(X, y), X
    y = np.argmax(X.values[:, :second], axis=1)
    return f"boosting {first} trees x {second} classes", GradientBoostingClassifier(
        n_estimators=first, max_depth=3, random_state=0).fit(X, y), X


def _row(spark, rows: int, label: str, model, X) -> dict:
    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    import pyshim
    from pyshim.native import compile as compiler

    names = list(X.columns)
    compiled = compiler.compile_model(model, names, ["double"] * len(names))
    result = "bigint" if model.predict(X[:1]).dtype.kind == "i" else "double"
    spark.sparkContext._jvm.pyshim.Functions.registerNative(
        spark._jsparkSession, "f_native", compiled.sql, names, ["double"] * len(names), result)
    with mlflow.start_run():
        uri = mlflow.sklearn.log_model(model, name="m", signature=infer_signature(X, model.predict(X)),
                                       skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model))).model_uri
    pyshim.register_model(spark, "f_python", uri, native="off")
    view = _view(spark, len(names), rows)
    args = ", ".join(names)
    return {"model": label, "chars": compiled.size,
            "native_s": _time(spark, f"SELECT count(f_native({args})) FROM {view}"),
            "python_s": _time(spark, f"SELECT count(f_python({args})) FROM {view}")}


def _view(spark, features: int, rows: int) -> str:
    name = f"rows_{features}"
    if not spark.catalog.tableExists(name):
        spark.range(0, rows, 1, 2).selectExpr(*[f"rand({i}) * 4 - 2 AS x{i}" for i in range(features)]) \
            .cache().createOrReplaceTempView(name)
        spark.table(name).count()
    return name


def _time(spark, sql: str, runs: int = 3) -> float:
    spark.sql(sql).collect()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        spark.sql(sql).collect()
        times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2], 3)


if __name__ == "__main__":
    sys.exit(main())
