"""MLflow signatures -> Spark SQL types: what a model function takes and returns."""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RESULT_TYPE = "double"

_MLFLOW_TO_DDL = {"double": "double", "float": "float", "long": "bigint", "integer": "int",
                  "string": "string", "boolean": "boolean", "binary": "binary",
                  "datetime": "timestamp"}
_NUMPY_TO_DDL = {"float64": "double", "float32": "float", "int64": "bigint", "int32": "int",
                 "int16": "smallint", "int8": "tinyint", "bool": "boolean", "object": "string",
                 "str": "string", "uint8": "int", "uint16": "int", "uint32": "bigint"}


@dataclass(frozen=True)
class Inputs:
    names: list[str] | None  # None: no names in the signature (positional)
    ddl_types: list[str]     # "" where the type is unknown
    tensor: bool = False     # the model takes one numpy array, not a DataFrame

    @property
    def positional(self) -> bool:
        return self.names is None and not self.ddl_types

    def describe(self) -> str:
        if self.positional:
            return "any columns, positionally (the model has no input signature)"
        names = self.names or [f"_{i}" for i in range(len(self.ddl_types))]
        return ", ".join(f"{n} {t or 'any'}" for n, t in zip(names, self.ddl_types))


def _colspec_ddl(spec) -> str:
    kind = getattr(spec.type, "name", None)
    if kind in _MLFLOW_TO_DDL:
        return _MLFLOW_TO_DDL[kind]
    text = str(spec.type)
    if text.startswith("Array("):
        inner = getattr(spec.type, "dtype", None)
        return f"array<{_MLFLOW_TO_DDL.get(getattr(inner, 'name', ''), 'double')}>"
    return ""


def _numpy_ddl(dtype) -> str:
    if getattr(dtype, "kind", "") in ("U", "S"):  # numpy strings (<U4): string class labels
        return "string"
    return _NUMPY_TO_DDL.get(str(dtype), "double")


def inputs_of(signature) -> Inputs:
    schema = getattr(signature, "inputs", None)
    if schema is None:
        return Inputs(None, [])
    if schema.is_tensor_spec():
        spec = schema.inputs[0]
        shape = spec.shape
        width = shape[1] if len(shape) == 2 and shape[1] > 0 else None
        if width is None:
            return Inputs(None, [])
        return Inputs(None, [_numpy_ddl(spec.type)] * width, tensor=True)
    names = [c.name for c in schema.inputs]
    types = [_colspec_ddl(c) for c in schema.inputs]
    return Inputs(names if all(names) else None, types)


def result_ddl_of(signature) -> str | None:
    schema = getattr(signature, "outputs", None)
    if schema is None:
        return None
    if schema.is_tensor_spec():
        spec = schema.inputs[0]
        base = _numpy_ddl(spec.type)
        scalar = len(spec.shape) == 1 or (len(spec.shape) == 2 and spec.shape[1] == 1)
        return base if scalar and len(schema.inputs) == 1 else f"array<{base}>"
    cols = schema.inputs
    if len(cols) == 1:
        return _colspec_ddl(cols[0]) or DEFAULT_RESULT_TYPE
    return "struct<" + ",".join(f"{c.name}:{_colspec_ddl(c) or 'string'}" for c in cols) + ">"


def result_kind(data_type) -> tuple[str, list[str]]:
    """'scalar', 'array' or 'struct' (with its field names) for a pyspark DataType."""
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(data_type, StructType):
        return "struct", [f.name for f in data_type.fields]
    if isinstance(data_type, ArrayType):
        return "array", []
    return "scalar", []
