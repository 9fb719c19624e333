"""Native model functions in the shared Toree kernel: %register_model compiles every
supported model kind to Spark SQL, the summary says so, Scala scores exactly as predict,
NULL/NaN give NULL, struct(...) and integer inputs work; an SVC falls back with its reason
and `--native require` fails with it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import native_zoo

pytestmark = pytest.mark.toree

NATIVE = "runs: native Spark SQL, no Python workers"


def _scala_str(path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def zoo(native_models):
    return native_models


@pytest.fixture(scope="module")
def rows_view(toree, zoo, isolated_home):
    """The scoring rows of the largest forest (they reach every node of every kind's trees),
    as the temp view `nrows` with an id column."""
    rows = native_zoo.scoring_rows(zoo.models["forest_regressor"])
    for kind in zoo.models:
        native_zoo.scoring_rows(zoo.models[kind])  # asserts these rows reach every node of every tree
    rows.insert(0, "id", np.arange(len(rows)))
    rows["color"] = rows["color"].astype(object).where(rows["color"].notna(), None)
    path = isolated_home / "native-rows.parquet"
    rows.to_parquet(path)
    toree.run(f'spark.read.parquet({_scala_str(path)}).createOrReplaceTempView("nrows")').ok()
    return rows


@pytest.mark.parametrize("kind", [k for k in native_zoo.estimators() if k != "svc"])
def test_every_kind_registers_natively_and_scores_as_predict(toree, zoo, rows_view, kind, tmp_path):
    out = toree.run(f"%register_model n_{kind} {zoo.uris[kind]}").ok().stdout
    if not native_zoo.auto_runs_native(zoo.models[kind], jit_huge_methods=True):  # past the measured line: auto says why
        assert "which Spark runs slower than the Python workers past" in out, out
        out = toree.run(f"%register_model n_{kind} {zoo.uris[kind]} --native require").ok().stdout
    assert NATIVE in out, out
    target = tmp_path / "scored"
    toree.run(f'spark.sql("SELECT id, n_{kind}(a, b, c, color) AS p FROM nrows")'
              f'.write.parquet({_scala_str(target)})').ok()
    scored = pd.read_parquet(target).sort_values("id")["p"].to_numpy()
    missing = rows_view[native_zoo.INPUTS].isna().any(axis=1).to_numpy()
    assert pd.isna(scored[missing]).all()
    expected = np.asarray(zoo.models[kind].predict(rows_view.loc[~missing, native_zoo.INPUTS]))
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(scored[~missing].astype(float), expected, rtol=1e-9, atol=1e-12)
    else:
        assert scored[~missing].tolist() == expected.tolist()


def test_the_kernel_jits_huge_methods_so_a_mid_size_forest_runs_natively(toree, rows_view, tmp_path):
    """Past 20 K characters, a forest runs natively only where HotSpot compiles huge methods:
    the kernel's JVM is started so (plain PySpark keeps Python, test_native_compile.py)."""
    mid = native_zoo.build(catalog=native_zoo.mid_forest())
    (kind, model), = mid.models.items()
    out = toree.run(f"%register_model n_mid {mid.uris[kind]}").ok().stdout
    assert NATIVE in out, out
    target = tmp_path / "scored"
    toree.run(f'spark.sql("SELECT id, n_mid(a, b, c, color) AS p FROM nrows").write.parquet({_scala_str(target)})').ok()
    scored = pd.read_parquet(target).sort_values("id")["p"].to_numpy()
    missing = rows_view[native_zoo.INPUTS].isna().any(axis=1).to_numpy()
    expected = model.predict(rows_view.loc[~missing, native_zoo.INPUTS])
    np.testing.assert_allclose(scored[~missing].astype(float), expected, rtol=1e-9, atol=1e-12)


def test_struct_arguments_integer_widening_and_the_same_checks(toree, zoo, rows_view):
    toree.run(f"%register_model n_ridge {zoo.uris['ridge']}").ok()
    code = """
val viaStruct = spark.sql("SELECT sum(n_ridge(struct(a, b, c, color))) FROM nrows").first.getDouble(0)
val viaColumns = spark.sql("SELECT sum(n_ridge(a, b, c, color)) FROM nrows").first.getDouble(0)
val widened = spark.sql("SELECT n_ridge(1, 2, 0, 'red') = n_ridge(1.0D, 2.0D, 0.0D, 'red')").first.getBoolean(0)
println(s"${math.abs(viaStruct - viaColumns) < 1e-9} $widened")
"""
    assert toree.run(code).ok().stdout.strip() == "true true"
    wrong = toree.run('spark.sql("SELECT n_ridge(a, b) FROM nrows").collect()')
    assert wrong.status == "error"
    assert "n_ridge expects 4 inputs (a double, b double, c double, color string), got 2" in wrong.error_text
    assert "at org.apache" not in wrong.error_text
    named = toree.run('spark.sql("SELECT n_ridge(a, b, c, color) FROM nrows").columns.mkString').ok()
    assert named.text.strip('"') == "n_ridge(a, b, c, color)"


def test_svc_falls_back_with_its_reason_and_require_fails(toree):
    uri = native_zoo.build(["svc"]).uris["svc"]
    out = toree.run(f"%register_model n_svc {uri}").ok().stdout
    assert "runs: Python workers: SVC is not supported by the compiler" in out
    failed = toree.run(f"%register_model n_svc {uri} --native require")
    assert failed.status == "error"
    assert "cannot run as native Spark SQL: SVC is not supported by the compiler" in failed.error_text
    off = toree.run(f"%register_model n_svc {uri} --native off").ok().stdout
    assert "runs: Python workers: native compilation is off" in off


def test_scala_api_takes_the_native_option(toree, zoo):
    out = toree.run(f'println(pyshim.Models.register("n_api", "{zoo.uris["lasso"]}", native = "require"))').ok().stdout
    assert NATIVE in out
