"""Runs in Spark's Python workers: one model load per worker process, reused by every task.

mlflow's spark_udf loads the model for every task in local mode; Python workers are
reused across tasks (spark.python.worker.reuse), so module state here survives and a
model is loaded once per worker. `LOADS` counts loads so tests can see it.
"""
from __future__ import annotations

import os
import sys
from typing import Iterator

import numpy as np
import pandas as pd

_MODELS: dict[str, object] = {}
LOADS: dict[str, int] = {}  # model key -> loads in this worker process (tests read it)

# Spark DDL type of an input column -> pandas dtype the model's signature expects.
_PANDAS_DTYPES = {"double": "float64", "float": "float32", "bigint": "int64", "int": "int32",
                  "smallint": "int16", "tinyint": "int8", "boolean": "bool", "string": "object"}


def model_for(key: str):
    model = _MODELS.get(key)
    if model is None:
        import mlflow.pyfunc
        from pyspark import SparkFiles

        # suppress_warnings: skip mlflow's check of the model's pip requirements against every
        # installed package (about 1 s per load); from a worker it would only reach the executor log.
        model = mlflow.pyfunc.load_model(SparkFiles.get(key), suppress_warnings=True)
        _MODELS[key] = model
        LOADS[key] = LOADS.get(key, 0) + 1
    return model


def keep_zip_indexes() -> None:
    """Stop every task from re-reading the zip archives on sys.path (once per worker).

    PySpark's worker calls importlib.invalidate_caches() at the start of every task, and
    since Python 3.10 that makes each zipimporter re-read its archive's whole directory
    (cpython#103200). Workers have pyspark.zip, py4j's zip and the spark-core jar on
    sys.path, held by 13 importers: about 0.3-0.5 s of CPU per task, far more than a task
    of a small model costs. An archive is re-read only when its size or mtime changed.
    """
    import zipimport

    original = zipimport.zipimporter.invalidate_caches
    if getattr(original, "_pyshim", False):
        return

    def invalidate_caches(self):
        try:
            stat = os.stat(self.archive)
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp is None or self.__dict__.get("_pyshim_stamp") != stamp:
            original(self)
            self._pyshim_stamp = stamp

    invalidate_caches._pyshim = True
    zipimport.zipimporter.invalidate_caches = invalidate_caches
    # This task's start re-read them all just now: that is their stamp.
    for importer in list(sys.path_importer_cache.values()):
        if isinstance(importer, zipimport.zipimporter):
            try:
                stat = os.stat(importer.archive)
                importer._pyshim_stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                pass


def predict_batches(key: str, names: list[str] | None, ddl_types: list[str], tensor: bool,
                    result_kind: str, fields: list[str],
                    batches: Iterator, label: str | None = None) -> Iterator[pd.Series | pd.DataFrame]:
    """label, `NAME (URI; RESOLVED)`, names the function in the error of a failing model."""
    keep_zip_indexes()
    model = model_for(key)
    for batch in batches:
        columns = batch if isinstance(batch, tuple) else (batch,)
        frame = _frame(columns, names)
        valid = frame.notna().all(axis=1).to_numpy()
        try:
            result = _result(model, frame, valid, names, ddl_types, tensor, result_kind, fields)
        except Exception as exc:
            if label is None:
                raise
            from .failures import model_call_error

            raise model_call_error(label, exc, _first_failing_row(model, frame[valid], ddl_types, tensor)) from exc
        yield result


def _first_failing_row(model, frame: pd.DataFrame, ddl_types: list[str], tensor: bool,
                       limit: int = 1000) -> dict | None:
    """The input values of the first row the model rejects alone (None when each row alone
    passes: then the batch as a whole failed, or the output did not fit the result type)."""
    for i in range(min(len(frame), limit)):
        row = frame.iloc[[i]]
        try:
            model.predict(_model_input(row, ddl_types, tensor))
        except Exception:
            return {str(k): _plain(v) for k, v in row.iloc[0].items()}
    return None


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _frame(columns, names) -> pd.DataFrame:
    if all(isinstance(c, pd.Series) and _plain_index(c.index, len(columns[0])) for c in columns):
        # The usual case (Series of one Arrow batch): no concat, no copy of the data.
        return pd.DataFrame(dict(zip(names or range(len(columns)), columns)), copy=False)
    frame = pd.concat([c.reset_index(drop=True) for c in columns], axis=1, ignore_index=True)
    if names:
        frame.columns = names
    return frame


def _plain_index(index, length: int) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and len(index) == length


def _model_input(frame: pd.DataFrame, ddl_types: list[str], tensor: bool):
    """Cast back what Arrow widened (ints with nulls arrive as floats); columns that already
    have the signature's dtype are passed as they are (copying and casting doubles into
    doubles cost 10-25% of the time per batch of a small model)."""
    casts = {}
    for i, ddl in enumerate(ddl_types):
        dtype = _PANDAS_DTYPES.get(ddl)
        if dtype and dtype != "object" and frame.dtypes.iloc[i] != dtype:
            casts[i] = dtype
    typed = frame.copy() if casts else frame
    for i, dtype in casts.items():
        typed.isetitem(i, typed.iloc[:, i].astype(dtype))
    if tensor:
        return typed.to_numpy()
    return typed


def _result(model, frame, valid, names, ddl_types, tensor, result_kind, fields):
    n = len(frame)
    if valid.all():
        preds = model.predict(_model_input(frame, ddl_types, tensor)) if n else []
        return _to_output(preds, n, result_kind, fields)
    # Rows with a null or NaN input get a NULL result; the others are scored.
    scored = frame[valid]
    preds = model.predict(_model_input(scored, ddl_types, tensor)) if len(scored) else []
    out = _to_output(preds, len(scored), result_kind, fields)
    return _spread(out, valid, result_kind)


def _to_output(preds, n: int, result_kind: str, fields: list[str]):
    if result_kind == "struct":
        frame = preds if isinstance(preds, pd.DataFrame) else pd.DataFrame(np.asarray(preds).reshape(n, -1))
        if isinstance(preds, pd.DataFrame) and all(f in frame.columns for f in fields):
            frame = frame[fields]
        frame.columns = fields
        return frame.reset_index(drop=True)
    if result_kind == "array":
        if isinstance(preds, pd.DataFrame):
            preds = preds.to_numpy()
        return pd.Series([np.asarray(row).tolist() for row in preds], dtype=object)
    if isinstance(preds, pd.DataFrame):
        preds = preds.iloc[:, 0]
    values = np.asarray(preds)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return pd.Series(values).reset_index(drop=True)


def _spread(out, valid, result_kind):
    """Put the scored rows back at their places; None elsewhere."""
    n = len(valid)
    positions = np.flatnonzero(valid)
    if result_kind == "struct":
        full = pd.DataFrame({c: pd.Series([None] * n, dtype=object) for c in out.columns})
        for c in out.columns:
            full.loc[positions, c] = out[c].to_numpy(dtype=object)
        return full
    full = pd.Series([None] * n, dtype=object)
    full.iloc[positions] = list(out.to_numpy(dtype=object))
    return full
