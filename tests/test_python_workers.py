"""Spark's Python workers start with the first model function that runs in them, not with the
kernel: a Scala-only session, or a model that runs as native Spark SQL, leaves none (a worker
daemon and two workers are some 700 MiB); a model on the Python path starts them as it
registers, so its first query finds them up, and every model function's tasks reuse them.
A kernel of its own with the warm start on (the default), on both lines' Scala kernels."""
from __future__ import annotations

import time

import pytest

from conftest import _descendants, start_toree
from kernel_driver import wait_gone

pytestmark = pytest.mark.toree


def python_workers(kernel_pid: int) -> tuple[list[int], list[int]]:
    """Spark's worker daemons (pyshim.bridge.daemon, under the kernel's JVM) and the workers they forked."""
    forked = [pid for pid, cmd in _descendants(kernel_pid) if "-m pyshim.bridge.daemon" in cmd]
    workers = {pid for daemon in forked for pid, _ in _descendants(daemon)}
    return [pid for pid in forked if pid not in workers], sorted(workers)


def wait_for_workers(kernel_pid: int, timeout: float = 120) -> tuple[list[int], list[int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(python_workers(kernel_pid)):
        time.sleep(0.5)
    return python_workers(kernel_pid)


def test_python_workers_start_with_the_first_model_that_runs_in_them(isolated_home, mlflow_models):
    kernel = start_toree(isolated_home / "toree-workers", name="workers")
    try:
        kernel.run("spark.range(0, 8, 1, 2).selectExpr(\"CAST(id AS double) / 8 AS x\").createOrReplaceTempView(\"xs\")").ok()
        native = kernel.run(f"%register_model reg {mlflow_models.regressor_uri}").ok().stdout
        assert "runs: native Spark SQL, no Python workers" in native
        kernel.run('spark.sql("SELECT sum(reg(x, x, x)) FROM xs").first.getDouble(0)').ok()
        time.sleep(3)  # a worker daemon started by any of these would be up by now
        assert python_workers(kernel.pid) == ([], []), "Python workers started for a native model"

        on_python = kernel.run(f"%register_model label {mlflow_models.labeler_uri}").ok().stdout
        assert "runs: Python workers" in on_python
        daemons, workers = wait_for_workers(kernel.pid)  # no query with it yet
        assert len(daemons) == 1 and workers, "registering a Python-path model started no Python workers"
        labels = kernel.run('spark.sql("SELECT count(DISTINCT label(x)) FROM xs").first.getLong(0)').ok()
        assert int(labels.text) >= 1
        assert python_workers(kernel.pid)[0] == daemons, "the model's tasks started a second worker daemon"
    finally:
        pid = kernel.pid
        kernel.shutdown()
    assert wait_gone(pid)
