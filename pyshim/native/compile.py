"""A scikit-learn model as one Spark SQL expression, through orbital and sqlglot.

orbital compiles the pipeline (skl2onnx -> ibis -> SQL, `dialect="databricks"`); sqlglot
reads that SQL. Our part is the glue: the feature types from the MLflow signature, the chain
of CTEs inlined into the one expression of the model's output, and four fixes Spark needs to
agree exactly with `predict` (see ../shared/DESIGN.md, "Native model functions"):

1. sklearn compares trees in float32: `CAST(CAST(x AS FLOAT) AS DOUBLE) <= t`; ONNX also
   stores thresholds and leaf values in float32, so each is given back its exact double
   from the fitted model when exactly one double of the model rounds to it;
2. Spark reads `0.2438` as DECIMAL: every decimal literal is written `0.2438E0` (a double);
3. string labels come out as `UNHEX('...')` (BINARY): they become string literals;
4. output names contain dots (`output_probability.0`): only the output's expression is
   kept, so no name is ever used.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

# Past these sizes of SQL, `auto` takes the Python workers. Measured (bench/README.md, "Where
# native stops paying off"; 1M rows, count(f(...)), 2 cores, native time / Python path time):
# - Trees: past about 20 K characters, Spark's generated Java has methods past 8000 bytes of
#   bytecode, which HotSpot by default never JIT-compiles (DontCompileHugeMethods): they run
#   interpreted. Forest 5 trees depth 4 (12 K) 0.24 / 1.07 s; 5 x 5 (24 K) 2.6 / 1.2 s. With
#   -XX:-DontCompileHugeMethods (defaults.JIT_HUGE_METHODS; pyshim's kernels set it): 5 x 5
#   0.42 s, 10 x 5 (48 K) 0.57 s, 15 x 5 (78 K) 0.76 / 0.85 s; then 3-class boosting (84 K)
#   0.74 / 0.69 s, 10 x 6 (104 K) 0.82 / 0.78 s, 15 x 6 (152 K) 1.9 / 0.84 s.
# - Linear models (their SQL as _shorter writes it; 500 K rows): logistic 30 features x 5
#   classes (28 K) 0.50 / 1.13 s, 40 x 6 (44 K) 0.56 / 1.09 s, 30 x 10 (55 K) 0.56 / 0.95 s;
#   then 40 x 10 (74 K, 200 K rows) 0.76 / 0.71 s, 80 x 10 (147 K) 1.86 / 0.93 s. The same
#   with either JVM setting.
# Each line lies between the largest size measured faster and the smallest measured slower
# (bench/results/native_line.md). `require` ignores them.
MAX_FAST_TREE_SQL_CHARS = 20_000
MAX_FAST_TREE_SQL_CHARS_JIT = 80_000
MAX_FAST_LINEAR_SQL_CHARS = 60_000
# Past this, no mode compiles it: 50 trees of depth 6 (475 K) ran the kernel's driver out of
# memory in Spark's code generator (Janino), 189 K did not.
MAX_SQL_CHARS = 250_000

_ORBITAL_TYPES = {"double": "DoubleColumnType", "float": "FloatColumnType", "bigint": "Int64ColumnType",
                  "int": "Int32ColumnType", "smallint": "Int16ColumnType", "tinyint": "Int8ColumnType",
                  "string": "StringColumnType", "boolean": "BooleanColumnType"}


class NotCompilable(Exception):
    """Why a model is not a Spark SQL expression; str() is the reason shown in the summary."""


@dataclass(frozen=True)
class Compiled:
    sql: str              # one Spark SQL expression over the inputs, by their signature names
    output: str           # which of orbital's outputs it is (output_label or variable)
    seconds: float        # time to compile
    estimator: str        # class name of the final estimator, for messages
    trees: bool = False   # whether the final estimator is made of decision trees

    @property
    def size(self) -> int:
        return len(self.sql)


def load_sklearn(local) -> object:
    """The fitted scikit-learn model of an MLflow model folder, or NotCompilable."""
    from mlflow.models import Model

    flavors = Model.load(str(local / "MLmodel")).flavors
    if "sklearn" not in flavors:
        raise NotCompilable(f"the model is not a scikit-learn model (flavors: {', '.join(sorted(flavors))})")
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(local))


def compile_model(model, names: list[str] | None, ddl_types: list[str]) -> Compiled:
    """MODEL (a fitted estimator or Pipeline) as one Spark SQL expression of its `predict`."""
    import orbital
    from sklearn.pipeline import Pipeline

    started = time.perf_counter()
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    what = type(final).__name__
    features = _features(names, ddl_types)
    pipeline = model if isinstance(model, Pipeline) else Pipeline([("model", model)])
    try:
        parsed = orbital.parse_pipeline(pipeline, features=features)
        sql = orbital.export_sql("DATA_TABLE", parsed, dialect="databricks")
    except NotImplementedError as err:
        raise NotCompilable(f"{_unsupported(pipeline, err)} is not supported by the compiler") from None
    except Exception as err:  # skl2onnx and orbital raise many kinds for what they cannot convert
        raise NotCompilable(f"{what} could not be compiled ({type(err).__name__}: {_first_line(err)})") from None
    output, expression = _flatten(sql)
    expression = _fix(expression, _exact_values(final))
    return Compiled(expression.sql(dialect="spark"), output, time.perf_counter() - started, what,
                    trees=bool(_trees(final)[0]))


def fast_line(trees: bool, jit_huge_methods: bool) -> int:
    """Characters of SQL past which Spark runs the model slower than the Python workers."""
    if not trees:
        return MAX_FAST_LINEAR_SQL_CHARS
    return MAX_FAST_TREE_SQL_CHARS_JIT if jit_huge_methods else MAX_FAST_TREE_SQL_CHARS


def _features(names, ddl_types) -> dict:
    import orbital.types as types

    if not names:
        raise NotCompilable("the model's signature names no input columns")
    out = {}
    for name, ddl in zip(names, ddl_types):
        kind = _ORBITAL_TYPES.get(ddl)
        if kind is None:
            raise NotCompilable(f"input {name} has type {ddl or 'unknown'}, which the compiler does not take")
        if "." in name:
            raise NotCompilable(f"input {name} has a '.' in its name, which the compiler refuses")
        out[name] = getattr(types, kind)()
    return out


def _unsupported(pipeline, err: Exception) -> str:
    """The step orbital cannot translate: its error names the ONNX operator, users know the estimator."""
    text = str(err)
    for _, step in pipeline.steps:
        for est in _leaves(step):
            name = type(est).__name__
            if name.lower() in text.lower() or ("SVM" in text and name.startswith(("SVC", "SVR", "NuSV", "LinearSV"))):
                return name
    return type(pipeline.steps[-1][1]).__name__


def _leaves(step):
    """A step and the estimators inside it (a ColumnTransformer's fitted ones, a Pipeline's)."""
    inner = getattr(step, "transformers_", None) or getattr(step, "steps", None) or []
    for item in inner:
        if not isinstance(item[1], str):  # "drop" / "passthrough"
            yield from _leaves(item[1])
    yield step


def _flatten(sql: str):
    """orbital's chain of CTEs, inlined into the expression of the model's prediction."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="databricks")
    scopes: dict[str, dict[str, exp.Expression]] = {}
    ctes = tree.args.get("with_") or tree.args.get("with")  # sqlglot renamed the key
    for cte in (ctes.expressions if ctes else []):
        scopes[cte.alias] = {p.alias_or_name: _inline(_shorter(p.unalias()), scopes) for p in cte.this.expressions}
    outputs = {p.alias_or_name: p.unalias() for p in tree.expressions}
    name = next((n for n in ("output_label", "variable") if n in outputs), None)
    if name is None:
        if len(outputs) != 1:
            raise NotCompilable(f"the compiled model has outputs {', '.join(outputs)}, not one prediction")
        name = next(iter(outputs))
    return name, _inline(_shorter(outputs[name]), scopes)


def _shorter(expression):
    """EXPRESSION with orbital's arg-max and label lookup in forms that name each class score
    twice instead of 2K(K-1) times per class: inlined, the SQL of a K-class linear model grew
    with K³ (30 features and 5 classes: 556 K characters)."""
    return expression.transform(lambda node: _lookup(_argmax(node)))


def _argmax(expression):
    """orbital's arg-max of K class scores, `CASE WHEN s0 >= s1 AND s0 >= s2 THEN 0 WHEN ...`,
    names every score 2(K-1) times, and inlined each is a whole linear model.
    `ARRAY_POSITION(ARRAY(s0, ...), GREATEST(s0, ...)) - 1` names each twice and, like the CASE
    and numpy's argmax, takes the first of equal scores. Anything else is left as it is."""
    import sqlglot
    from sqlglot import exp

    if not isinstance(expression, exp.Case) or len(expression.args.get("ifs") or []) < 3:
        return expression
    winners = []
    for index, branch in enumerate(expression.args["ifs"]):
        then = branch.args.get("true")
        if not (isinstance(then, exp.Literal) and then.is_int and int(then.this) == index):
            return expression
        pairs = [_at_least(c) for c in branch.this.flatten()] if isinstance(branch.this, exp.And) else [_at_least(branch.this)]
        if None in pairs or len({_text(big) for big, _ in pairs}) != 1:
            return expression
        winners.append((pairs[0][0], {_text(small) for _, small in pairs}))
    names = [_text(big) for big, _ in winners]
    default = expression.args.get("default")
    if len(set(names)) != len(names) or not (isinstance(default, exp.Literal) and default.this == "0"):
        return expression
    if any(smaller != set(names) - {name} for name, (_, smaller) in zip(names, winners)):
        return expression
    listed = ", ".join(names)
    return sqlglot.parse_one(f"ARRAY_POSITION(ARRAY({listed}), GREATEST({listed})) - 1", read="spark")


def _lookup(expression):
    """`CASE WHEN v = 0 THEN l0 WHEN v = 1 THEN l1 ... END` (orbital's class index to label)
    names v once per class, and v is the whole arg-max: `ELEMENT_AT(ARRAY(l0, l1, ...), v + 1)`
    names it once. v is always one of 0..K-1, so the ELSE (NULL) is never taken."""
    import sqlglot
    from sqlglot import exp

    if not isinstance(expression, exp.Case) or len(expression.args.get("ifs") or []) < 2:
        return expression
    default = expression.args.get("default")
    if default is not None and not isinstance(default, exp.Null):
        return expression
    keys, labels = set(), []
    for index, branch in enumerate(expression.args["ifs"]):
        test, label = branch.this, branch.args.get("true")
        if not (isinstance(test, exp.EQ) and isinstance(test.expression, exp.Literal) and test.expression.is_int
                and int(test.expression.this) == index and _constant(label)):
            return expression
        keys.add(_text(test.this))
        labels.append(_text(label))
    if len(keys) != 1:
        return expression
    return sqlglot.parse_one(f"ELEMENT_AT(ARRAY({', '.join(labels)}), CAST({keys.pop()} AS INT) + 1)", read="spark")


def _constant(node) -> bool:
    """A literal, or a string label as orbital writes it (UNHEX('6c6f77'), made a string by _fix)."""
    from sqlglot import exp

    return isinstance(node, exp.Literal) or (isinstance(node, exp.Unhex) and isinstance(node.this, exp.Literal))


def _text(node) -> str:
    return node.sql(dialect="spark")


def _at_least(condition):
    """(a, b) for a comparison that says a >= b, else None."""
    from sqlglot import exp

    if isinstance(condition, exp.GTE):
        return condition.this, condition.expression
    if isinstance(condition, exp.LTE):
        return condition.expression, condition.this
    return None


def _inline(expression, scopes):
    from sqlglot import exp

    def substitute(node):
        if isinstance(node, exp.Column):
            scope = scopes.get(node.table)
            if scope is not None:
                inner = scope[node.name].copy()
                atomic = isinstance(inner, (exp.Column, exp.Literal, exp.Func, exp.Case, exp.Paren))
                return inner if atomic else exp.Paren(this=inner)  # keeps a + b in (a + b) * c
            return exp.column(node.name, quoted=True)  # a model input
        return node

    return expression.copy().transform(substitute)


def _fix(expression, exact: dict[float, float]):
    from sqlglot import exp

    def literals(node):
        if isinstance(node, exp.Unhex) and isinstance(node.this, exp.Literal):
            return exp.Literal.string(bytes.fromhex(node.this.this).decode("utf-8"))
        if isinstance(node, exp.Literal) and node.is_number and not node.this.lstrip("-").isdigit():
            return exp.Literal.number(_double_text(float(node.this), exact))
        return node

    def float32_compare(node):
        if isinstance(node, (exp.LTE, exp.LT)) and _is_number(node.expression) and not _is_number(node.this):
            as_float = exp.Cast(this=node.this, to=exp.DataType.build("FLOAT"))
            node.set("this", exp.Cast(this=as_float, to=exp.DataType.build("DOUBLE")))
        return node

    return expression.transform(literals).transform(float32_compare)


def _is_number(node) -> bool:
    from sqlglot import exp

    return (isinstance(node, exp.Literal) and node.is_number) or (isinstance(node, exp.Neg) and _is_number(node.this))


def _double_text(value: float, exact: dict[float, float]) -> str:
    text = repr(exact.get(value, value))
    return text if "e" in text or "inf" in text or "nan" in text else text + "E0"


def _exact_values(estimator) -> dict[float, float]:
    """float32 value -> the one double of the fitted trees that rounds to it (thresholds, leaf
    values as ONNX stores them: averaged over a forest, times the learning rate of boosting)."""
    trees, scale = _trees(estimator)
    values: list[np.ndarray] = []
    for tree in trees:
        values.append(tree.threshold[tree.feature >= 0])
        leaf = tree.value[tree.children_left < 0].reshape(-1)
        values.append(leaf * scale)
    init = getattr(estimator, "init_", None)
    if init is not None and hasattr(init, "constant_"):
        values.append(np.ravel(init.constant_))
    if not values:
        return {}
    found: dict[float, float | None] = {}
    for value in np.unique(np.concatenate(values)):
        for v in (float(value), -float(value)):
            key = float(np.float32(v))
            found[key] = v if found.get(key, v) == v else None  # two doubles, one float32: keep neither
    return {k: v for k, v in found.items() if v is not None}


def _trees(estimator):
    if hasattr(estimator, "tree_"):
        return [estimator.tree_], 1.0
    members = np.ravel(getattr(estimator, "estimators_", []))
    trees = [m.tree_ for m in members if hasattr(m, "tree_")]
    if not trees:
        return [], 1.0
    if hasattr(estimator, "learning_rate"):
        return trees, float(estimator.learning_rate)
    return trees, 1.0 / len(members)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__
