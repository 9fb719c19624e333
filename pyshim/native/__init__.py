"""Models as Spark SQL expressions: compile (compile.py), then check against predict (verify.py).

`decide(...)` is what registration asks: the checked expression of a model, or why the model
runs in Python workers. The answer is cached per model version (the MLmodel's model_uuid, so
a moved alias compiles its new version) in this driver process: registering the same version
again is instant.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "require", "off")
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
    global cache_hits
    key = (meta.model_uuid or str(local), tuple(names or ()), tuple(ddl_types), result_ddl)
    if key in _cache:
        cache_hits += 1
        return _cache[key]
    decision = _decide(spark, local, meta, list(names or []), list(ddl_types), result_ddl)
    _cache[key] = decision
    return decision


def _decide(spark, local, meta, names, ddl_types, result_ddl) -> Decision:
    from . import compile as compiler
    from . import verify

    started = time.perf_counter()
    try:
        model = compiler.load_sklearn(local)
        compiled = compiler.compile_model(model, names, ddl_types)
    except compiler.NotCompilable as err:
        return Decision(None, str(err), time.perf_counter() - started)
    kb = f"{compiled.estimator} compiles to {compiled.size // 1000} KB of SQL"
    if compiled.size > compiler.MAX_SQL_CHARS:
        return Decision(None, f"{kb}, more than Spark's code generator takes ({compiler.MAX_SQL_CHARS // 1000} KB)",
                        time.perf_counter() - started, compiled.size)
    slower = ""
    if compiled.size > compiler.MAX_FAST_SQL_CHARS:
        slower = (f"{kb}, which Spark runs slower than the Python workers past {compiler.MAX_FAST_SQL_CHARS // 1000} KB "
                  "(use --native require to run it in Spark anyway)")
    try:
        example = meta.load_input_example(str(local))
    except Exception:  # an example that does not load is no reason to refuse the model
        example = None
    import pandas as pd

    example = example if isinstance(example, pd.DataFrame) else None
    try:
        mismatch = verify.check(spark, compiled.sql, result_ddl, model, names, ddl_types, example)
    except Exception as err:  # Spark refused the SQL, or predict failed on the sample
        mismatch = f"the check of the compiled SQL failed ({type(err).__name__}: {compiler._first_line(err)})"
    seconds = time.perf_counter() - started
    if mismatch:
        return Decision(None, mismatch, seconds, compiled.size)
    return Decision(compiled.sql, "", seconds, compiled.size, slower)
