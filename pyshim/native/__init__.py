"""Models as Spark SQL expressions: compile (compile.py), then check against predict (verify.py).

`decide(...)` is what registration asks: the checked expression of a model, or why the model
runs in Python workers. The answer is cached per model version (the MLmodel's model_uuid, so
a moved alias compiles its new version) in this driver process, and on disk (decisions.py)
for the next kernels: registering the same version again, after a restart too, compiles and
checks nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import phases

MODES = ("auto", "require", "off")
CHECK_FAILED = "the check of the compiled SQL failed"
_cache: dict[tuple, "Decision"] = {}
cache_hits = 0  # tests read it: a second registration of a version compiles nothing


@dataclass(frozen=True)
class Decision:
    sql: str | None          # the expression when the model runs natively
    reason: str              # why not, when sql is None
    seconds: float = 0.0     # compile + check time
    size: int = 0            # characters of SQL (also when too big to be worth it)
    slower: str = ""         # why Spark would run `sql` slower than the Python path ("" when it would not)

    def describe(self) -> str:
        return "native Spark SQL, no Python workers" if self.sql else f"Python workers: {self.reason}"

    def for_mode(self, native: str) -> "Decision":
        """What `auto` takes: the Python workers when the expression would be slower. `require`
        keeps it (a cluster without Python on its executors has no other way)."""
        if self.sql and self.slower and native == "auto":
            return Decision(None, self.slower, self.seconds, self.size)
        return self


def decide(spark, local: Path, meta, names, ddl_types, result_ddl: str) -> Decision:
    """Compile and check the model in LOCAL (an MLflow model folder), or say why not."""
    from . import decisions

    global cache_hits
    jit = jit_compiles_huge_methods(spark)
    key = (meta.model_uuid or str(local), tuple(names or ()), tuple(ddl_types), result_ddl, jit)
    if key in _cache:
        cache_hits += 1
        return _cache[key]
    stored = decisions.Stored(spark, meta.model_uuid, key)
    decision = stored.read()
    if decision is None:
        decision = _decide(spark, local, meta, list(names or []), list(ddl_types), result_ddl, jit)
        if not decision.reason.startswith(CHECK_FAILED):  # Spark refused it now: maybe not next time
            stored.write(decision)
    _cache[key] = decision
    return decision


def jit_compiles_huge_methods(spark) -> bool:
    """Whether the JVMs that run Spark's tasks JIT-compile methods past 8000 bytes of bytecode
    (defaults.JIT_HUGE_METHODS): the driver's in local mode, else the executors' options."""
    from ..defaults import JIT_HUGE_METHODS

    context = spark.sparkContext
    try:
        if not context.master.startswith("local"):
            conf = context.getConf()
            options = " ".join(conf.get(key, "") for key in ("spark.executor.defaultJavaOptions",
                                                              "spark.executor.extraJavaOptions"))
            return JIT_HUGE_METHODS in options.split()
        jvm = context._jvm
        bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
            jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
        return bean.getVMOption("DontCompileHugeMethods").getValue() == "false"
    except Exception:  # not HotSpot, or no such option: assume the default
        return False


def _slower(compiled, jit: bool, kb: str) -> str:
    """Why `auto` keeps the Python workers for COMPILED ("" when Spark runs it faster); KB says
    what it compiles to."""
    from . import compile as compiler
    from ..defaults import JIT_HUGE_METHODS

    line = compiler.fast_line(compiled.trees, jit)
    if compiled.size <= line:
        return ""
    said = f"{kb}, which Spark runs slower than the Python workers past {line // 1000} KB"
    if compiled.trees and not jit:
        return (f"{said} in a JVM without {JIT_HUGE_METHODS} (start Spark with it, as pyshim's kernels do, "
                "or use --native require to run it in Spark anyway)")
    return f"{said} (use --native require to run it in Spark anyway)"


def _decide(spark, local, meta, names, ddl_types, result_ddl, jit) -> Decision:
    from . import compile as compiler
    from . import verify

    started = time.perf_counter()
    phases.report("compile")
    try:
        model = compiler.load_sklearn(local)
        compiled = compiler.compile_model(model, names, ddl_types)
    except compiler.NotCompilable as err:
        return Decision(None, str(err), time.perf_counter() - started)
    kb = f"{compiled.estimator} compiles to {compiled.size // 1000} KB of SQL"
    if compiled.size > compiler.MAX_SQL_CHARS:
        return Decision(None, f"{kb}, more than Spark's code generator takes ({compiler.MAX_SQL_CHARS // 1000} KB)",
                        time.perf_counter() - started, compiled.size)
    slower = _slower(compiled, jit, kb)
    try:
        example = meta.load_input_example(str(local))
    except Exception:  # an example that does not load is no reason to refuse the model
        example = None
    import pandas as pd

    example = example if isinstance(example, pd.DataFrame) else None
    phases.report("check against predict")
    try:
        mismatch = verify.check(spark, compiled.sql, result_ddl, model, names, ddl_types, example)
    except Exception as err:  # Spark refused the SQL, or predict failed on the sample
        mismatch = f"{CHECK_FAILED} ({type(err).__name__}: {compiler._first_line(err)})"
    seconds = time.perf_counter() - started
    if mismatch:
        return Decision(None, mismatch, seconds, compiled.size)
    return Decision(compiled.sql, "", seconds, compiled.size, slower)
