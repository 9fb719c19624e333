"""Trust, but verify: a compiled model against its own `predict`, in the session's Spark.

The check scores the model's input example plus a sample built to reach what matters: for
every tree threshold, values just on both sides of it (pulled back through the per-column
affine steps in front, such as StandardScaler or MinMaxScaler), every category an encoder
knows, and random mixes of all of these. Labels must be equal, numbers within 1e-9 relative.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

RELATIVE = 1e-9
RANDOM_ROWS = 1000
MAX_EDGE_ROWS = 20_000


def check(spark, sql: str, result_ddl: str, model, names: list[str], ddl_types: list[str],
          example: pd.DataFrame | None) -> str | None:
    """None when the compiled `sql` agrees with `model.predict`; else the one-line reason."""
    sample = sample_frame(model, names, ddl_types, example)
    expected = np.asarray(model.predict(sample))
    got = jvm_frame(spark, sample, names, ddl_types).selectExpr(f"CAST({sql} AS {result_ddl}) AS p")
    return compare(expected, np.array([row[0] for row in got.collect()], dtype=object))


def jvm_frame(spark, sample: pd.DataFrame, names: list[str], ddl_types: list[str]):
    """SAMPLE as a Spark DataFrame built in the JVM alone: `createDataFrame` would start Spark's
    Python workers, which a cluster scoring natively may not have. The rows travel as one JSON
    string literal that `from_json` parses: Python writes each double as its shortest repr and
    the JVM parses it back to the same double (NaN and infinities as JSON's NaN/Infinity, which
    Spark reads by default; None as null)."""
    from pyspark.sql import functions as F

    text = json.dumps([{n: _json_value(v) for n, v in zip(names, row)}
                       for row in sample[names].itertuples(index=False, name=None)], allow_nan=True)
    fields = ", ".join(f"`{n.replace('`', '``')}`: {t}" for n, t in zip(names, ddl_types))
    rows = spark.range(1).select(F.from_json(F.lit(text), f"array<struct<{fields}>>").alias("rows"))
    return rows.selectExpr("inline(rows)")


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return str(value)


def compare(expected: np.ndarray, got: np.ndarray) -> str | None:
    if expected.ndim != 1:
        return f"the model predicts {expected.shape[1:]} values per row, not one"
    if expected.dtype.kind in "fc":
        ok = np.isclose(got.astype(float), expected, rtol=RELATIVE, atol=1e-12)
    else:
        ok = np.array([str(g) == str(e) for g, e in zip(got, expected)])
    if ok.all():
        return None
    first = int(np.flatnonzero(~ok)[0])
    return (f"the compiled SQL disagrees with predict on {int((~ok).sum())} of {len(ok)} check rows "
            f"(first: row {first}, SQL {got[first]!r}, predict {expected[first]!r})")


def sample_frame(model, names: list[str], ddl_types: list[str], example: pd.DataFrame | None,
                 seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pools = _pools(model, names, ddl_types, example)
    base = _base_row(pools, names)
    rows = [dict(base)]
    for name in names:
        for edge in _edges(model, names, ddl_types, base, name)[:MAX_EDGE_ROWS // max(len(names), 1)]:
            row = {n: rng.choice(pools[n]) for n in names}
            row[name] = edge
            rows.append(row)
            pools[name].append(edge)
    rows += [{n: rng.choice(pools[n]) for n in names} for _ in range(RANDOM_ROWS)]
    frame = pd.DataFrame(rows, columns=names)
    if example is not None and len(example):
        frame = pd.concat([example[names].dropna(), frame], ignore_index=True)
    return _typed(frame, names, ddl_types)


def _typed(frame: pd.DataFrame, names, ddl_types) -> pd.DataFrame:
    for name, ddl in zip(names, ddl_types):
        if ddl in ("bigint", "int", "smallint", "tinyint"):
            frame[name] = np.round(frame[name].astype(float)).astype("int64")
        elif ddl in ("double", "float"):
            frame[name] = frame[name].astype("float64" if ddl == "double" else "float32")
        elif ddl == "boolean":
            frame[name] = frame[name].astype(bool)
        else:
            frame[name] = frame[name].astype(str)
    return frame


def _pools(model, names, ddl_types, example) -> dict[str, list]:
    pools: dict[str, list] = {n: [] for n in names}
    if example is not None:
        for name in names:
            if name in example:
                pools[name] += [v for v in example[name].tolist() if not _missing(v)]
    for encoder in _encoders(model):
        for name, categories in zip(getattr(encoder, "feature_names_in_", []), encoder.categories_):
            if name in pools:
                pools[name] += [c for c in categories.tolist() if not _missing(c)]
    for name, ddl in zip(names, ddl_types):
        if not pools[name]:
            pools[name] = ["a", "b"] if ddl == "string" else ([True, False] if ddl == "boolean" else [0.0, 1.0, -1.0])
    return pools


def _base_row(pools, names) -> dict:
    return {n: pools[n][len(pools[n]) // 2] for n in names}


def _edges(model, names, ddl_types, base: dict, name: str) -> list:
    """Input values of `name` just below, at and above each tree threshold that depends on it."""
    ddl = ddl_types[names.index(name)]
    if ddl not in ("double", "float", "bigint", "int", "smallint", "tinyint"):
        return []
    thresholds = _thresholds(model)
    if not thresholds:
        return []
    transform = _front(model)
    probe = [dict(base, **{name: float(base[name]) + step}) for step in (0.0, 1.0, 2.0)]
    try:
        out = [np.asarray(_dense(transform(_typed(pd.DataFrame([p], columns=names), names, ddl_types))),
                          dtype=float).ravel() for p in probe]
    except Exception:  # a step in front that does not take this probe: no edges for this column
        return []
    slope, intercept = out[1] - out[0], out[0] - (out[1] - out[0]) * float(base[name])
    linear = np.isclose(out[2] - out[1], slope, rtol=1e-6, atol=1e-12)
    edges = []
    for feature, t in thresholds:
        if feature < len(slope) and slope[feature] != 0 and linear[feature]:
            for edge in (np.nextafter(np.float32(t), np.float32(-np.inf)), np.float32(t),
                         np.nextafter(np.float32(t), np.float32(np.inf)), t):
                edges.append((float(edge) - intercept[feature]) / slope[feature])
    return edges


def _thresholds(model) -> list[tuple[int, float]]:
    from .compile import _trees

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    trees, _ = _trees(final)
    found = set()
    for tree in trees:
        inner = tree.feature >= 0
        found.update(zip(tree.feature[inner].tolist(), tree.threshold[inner].tolist()))
    return sorted(found)


def _front(model):
    if hasattr(model, "steps") and len(model.steps) > 1:
        from sklearn.pipeline import Pipeline

        return Pipeline(model.steps[:-1]).transform
    return lambda frame: frame.to_numpy(dtype=float)


def _dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else matrix


def _encoders(model):
    from sklearn.preprocessing import OneHotEncoder

    from .compile import _leaves

    steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
    return [e for step in steps for e in _leaves(step) if isinstance(e, OneHotEncoder)]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
