"""Every model kind the native compiler supports, trained small and logged to the real MLflow
store, plus scoring data that reaches every tree branch (checked with decision_path)."""
from __future__ import annotations

from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from model_zoo import pip_requirements

COLORS = ["red", "green", "blue"]
INPUTS = ["a", "b", "c", "color"]


def features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((n, 3)) * [10.0, 4.0, 1.0] - [5.0, 0.0, 0.5], columns=["a", "b", "c"])
    frame["color"] = rng.choice(COLORS, n)
    return frame


def _front():
    """StandardScaler, MinMaxScaler, SimpleImputer and OneHotEncoder in a ColumnTransformer."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    return ColumnTransformer([("std", StandardScaler(), ["a"]), ("minmax", MinMaxScaler(), ["b"]),
                              ("impute", SimpleImputer(strategy="mean"), ["c"]),
                              ("onehot", OneHotEncoder(handle_unknown="ignore"), ["color"])])


def estimators() -> dict:
    from sklearn import ensemble, linear_model, svm, tree

    small = {"max_depth": 3, "random_state": 0}
    return {
        "linear": (linear_model.LinearRegression(), "number"),
        "ridge": (linear_model.Ridge(alpha=0.5), "number"),
        "lasso": (linear_model.Lasso(alpha=0.01), "number"),
        "elasticnet": (linear_model.ElasticNet(alpha=0.01), "number"),
        "logistic_binary_int": (linear_model.LogisticRegression(max_iter=500), "binary_int"),
        "logistic_multi_int": (linear_model.LogisticRegression(max_iter=500), "multi_int"),
        "logistic_binary_str": (linear_model.LogisticRegression(max_iter=500), "binary_str"),
        "logistic_multi_str": (linear_model.LogisticRegression(max_iter=500), "multi_str"),
        "tree_classifier": (tree.DecisionTreeClassifier(**small), "multi_str"),
        "tree_regressor": (tree.DecisionTreeRegressor(**small), "number"),
        "forest_classifier": (ensemble.RandomForestClassifier(n_estimators=5, **small), "multi_int"),
        "forest_regressor": (ensemble.RandomForestRegressor(n_estimators=5, **small), "number"),
        "extra_classifier": (ensemble.ExtraTreesClassifier(n_estimators=5, **small), "binary_str"),
        "extra_regressor": (ensemble.ExtraTreesRegressor(n_estimators=5, **small), "number"),
        "boost_classifier": (ensemble.GradientBoostingClassifier(n_estimators=5, **small), "binary_int"),
        "boost_classifier_multi": (ensemble.GradientBoostingClassifier(n_estimators=5, **small), "multi_int"),
        "boost_regressor": (ensemble.GradientBoostingRegressor(n_estimators=5, **small), "number"),
        "svc": (svm.SVC(), "binary_int"),
    }


def mid_forest() -> dict:
    """A forest whose SQL (about 48 K characters) is past the line of a JVM that does not
    JIT-compile huge methods and under the line of one that does."""
    from sklearn import ensemble

    return {"forest_10x5": (ensemble.RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), "number")}


def auto_runs_native(model, jit_huge_methods: bool) -> bool:
    """Whether `--native auto` takes the compiled SQL of MODEL: not past the size where Spark
    runs it slower than the Python workers (pyshim.native.compile.fast_line)."""
    from pyshim.native import compile as compiler

    compiled = compiler.compile_model(model, INPUTS, ["double", "double", "double", "string"])
    return compiled.size <= compiler.fast_line(compiled.trees, jit_huge_methods)


def target(frame: pd.DataFrame, kind: str):
    score = 0.4 * frame.a + frame.b - 2 * frame.c + frame.color.map({"red": 0.5, "green": -0.5, "blue": 0.0})
    if kind == "number":
        return score
    bins = np.digitize(score, [0.5] if kind.startswith("binary") else [-0.5, 1.5])
    if kind.endswith("str"):
        return np.array(["low", "mid", "high"])[bins] if kind.startswith("multi") else np.array(["no", "yes"])[bins]
    return bins


@dataclass
class NativeZoo:
    uris: dict[str, str] = field(default_factory=dict)      # kind -> runs:/... URI
    models: dict[str, object] = field(default_factory=dict)


def build(kinds=None, catalog: dict | None = None) -> NativeZoo:
    """The models of CATALOG (default: estimators()), or only KINDS of it, trained and logged."""
    from sklearn.pipeline import Pipeline

    train = features(400, 0)
    zoo = NativeZoo()
    with mlflow.start_run():
        for kind, (estimator, label) in (catalog or estimators()).items():
            if kinds and kind not in kinds:
                continue
            model = Pipeline([("front", _front()), ("model", estimator)]).fit(train, target(train, label))
            info = mlflow.sklearn.log_model(model, name=kind, input_example=train.head(5),
                                            skops_trusted_types=_own_types(model),
                                            signature=infer_signature(train, model.predict(train)),
                                            pip_requirements=pip_requirements())
            zoo.uris[kind], zoo.models[kind] = info.model_uri, model
    return zoo


def _own_types(model) -> list[str]:
    """The types skops asks to trust to load MODEL back: it was trained right here."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def scoring_rows(model, n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """N rows that reach every node of every tree of MODEL (asserted), with a NULL and a NaN."""
    frame = features(n, seed)
    final = model.steps[-1][1]
    members = [final] if hasattr(final, "tree_") else list(np.ravel(getattr(final, "estimators_", [])))
    transformed = model[:-1].transform(frame)
    for member in members:
        visited = np.asarray(member.decision_path(np.asarray(transformed, dtype=np.float32)).sum(axis=0)).ravel()
        assert (visited > 0).all(), f"scoring rows miss {(visited == 0).sum()} nodes of a tree of {type(final).__name__}"
    frame.loc[0, "a"] = np.nan
    frame.loc[1, "color"] = None
    return frame
