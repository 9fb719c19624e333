"""A kernel whose Spark Python workers cannot start (PYSPARK_PYTHON points nowhere): a native
model function still scores every row; a Python-path function fails with a clear message.
Once in local mode, once on the local standalone cluster of the cluster tests, whose
executors then have no Python. Each needs a kernel of its own (the environment is the
point); the sidecar keeps a real Python through PYSHIM_PYTHON."""
from __future__ import annotations

import sys

import pytest

import native_zoo
from conftest import start_toree
from kernel_driver import wait_gone

pytestmark = pytest.mark.toree

NOWHERE = "/nonexistent/pyshim-no-python"


@pytest.fixture(params=["local", pytest.param("cluster", marks=pytest.mark.cluster)])
def kernel(request, isolated_home):
    from contextlib import ExitStack

    from pyshim.tools.cluster import local_cluster

    with ExitStack() as stack:
        env = {"PYSPARK_PYTHON": NOWHERE, "PYSHIM_PYTHON": sys.executable, "PYSHIM_WARM_START": "0"}
        if request.param == "cluster":
            cluster = stack.enter_context(local_cluster(workers=1, worker_memory="1g", worker_cores=1,
                                                        workdir=isolated_home / "spark-cluster-nopython"))
            env["SPARK_OPTS"] = cluster.spark_opts(executor_memory="512m", total_cores=1)
        driver = start_toree(isolated_home / f"toree-nopython-{request.param}", name="toree", **env)
        yield driver
        pid = driver.pid
        driver.shutdown()
        assert wait_gone(pid), f"Toree kernel {pid} still running after shutdown"


def test_native_scores_every_row_and_python_path_fails_clearly(kernel):
    zoo = native_zoo.build(["boost_regressor"])
    uri = zoo.uris["boost_regressor"]
    kernel.run("""spark.range(0, 5000, 1, 4).selectExpr("rand(1) * 10 - 5 AS a", "rand(2) * 4 AS b", "rand(3) - 0.5 AS c",
  "element_at(array('red', 'green', 'blue'), CAST(rand(4) * 3 AS INT) + 1) AS color").createOrReplaceTempView("t")""").ok()
    out = kernel.run(f"%register_model nat {uri}").ok().stdout
    assert "runs: native Spark SQL, no Python workers" in out
    counted = kernel.run('spark.sql("SELECT count(nat(a, b, c, color)) FROM t").first.getLong(0)').ok()
    assert counted.text == "5000"
    kernel.run(f"%register_model py {uri} --native off").ok()
    failed = kernel.run('spark.sql("SELECT count(py(a, b, c, color)) FROM t").first.getLong(0)')
    assert failed.status == "error"
    assert NOWHERE in failed.error_text
