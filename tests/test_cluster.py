"""A Scala kernel against a real Spark standalone cluster (master + 2 workers on loopback).

The cluster is Spark's own (pyshim.tools.cluster starts the Master and Worker classes of the
pyspark distribution); the kernel gets it through SPARK_OPTS only, as a user would. The
model is registered from Scala, scored in executor JVMs (not the driver), the results equal
the model's in-process predictions, classes that cells compile (a case class, a closure) run
on the executors, a worker lost in the middle of a job does not change the answer, and
nothing started here survives the module. The same tests run on both Spark lines: the Toree
kernel (Spark 3.5) is itself the driver JVM, pyshim's own kernel (Spark 4) is a Python
process whose child is the driver JVM.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kernel_driver import KernelDriver, process_alive, wait_gone
from pyshim.tools.cluster import local_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.toree]

MODEL = "zoo"   # the SQL function name of the zoo's regressor in the kernel


@pytest.fixture(scope="module")
def cluster(isolated_home):
    with local_cluster(workers=2, worker_memory="1g", worker_cores=1,
                       workdir=isolated_home / "spark-cluster") as running:
        yield running
        pids = running.all_pids()
    assert not [p for p in pids if process_alive(p)], "cluster processes survived the stop"


@pytest.fixture(scope="module")
def kernel(cluster, isolated_home):
    workdir = isolated_home / "kernel-cluster"
    workdir.mkdir(exist_ok=True)
    env = {**os.environ, "SPARK_OPTS": cluster.spark_opts(executor_memory="512m", total_cores=2)}
    driver = KernelDriver("pyshim-scala", cwd=workdir, log=workdir / "kernel.log", env=env)
    pid = driver.pid
    yield driver
    _shutdown(driver)
    assert wait_gone(pid), f"Scala kernel {pid} still running after shutdown"


@pytest.fixture(scope="module")
def driver_pid(kernel) -> int:
    """The Spark driver's JVM: the kernel (Toree) or the kernel's child (the Spark 4 kernel)."""
    res = kernel.run("println(s\"DRIVER ${java.lang.ProcessHandle.current.pid}\")").ok()
    pid = int(res.stdout.split("DRIVER ")[1].split()[0])
    assert pid == kernel.pid or pid in _descendants(kernel.pid), (pid, kernel.pid)
    return pid


def _shutdown(driver: KernelDriver) -> None:
    """Shut the kernel down once (the last test does it, the fixture makes sure)."""
    if not getattr(driver, "stopped_by_test", False):
        driver.stopped_by_test = True
        driver.shutdown()


def _rows(stdout: str) -> pd.DataFrame:
    """Lines `ROW id a b c prediction [pid]` printed by a Scala cell (Double.toString round-trips)."""
    rows = [line.split()[1:] for line in stdout.splitlines() if line.startswith("ROW ")]
    frame = pd.DataFrame(rows).astype(float)
    frame.columns = ["id", "a", "b", "c", "p", *(["pid"] if frame.shape[1] == 6 else [])]
    return frame.astype({"id": "int64", **({"pid": "int64"} if "pid" in frame else {})})


def _expected(model_uri: str, frame: pd.DataFrame) -> np.ndarray:
    import mlflow.pyfunc

    return np.asarray(mlflow.pyfunc.load_model(model_uri).predict(frame[["a", "b", "c"]]), dtype=float)


def _assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to the last bit or two: BLAS sums in another order for another batch size."""
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


def _executor_history(cluster) -> list[str]:
    """What the master and workers said about executors (launched, exited, removed, and why):
    a third executor JVM once appeared under load, and the failure should say where it came from."""
    lines = []
    for log in sorted((Path(cluster.workdir) / "logs").glob("*.log")):
        lines += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines()
                  if "xecutor" in line and "INFO" not in line or "Launching executor" in line or "finished with state" in line]
    return lines


def test_kernel_driver_joins_the_cluster_with_two_executors(cluster, kernel, driver_pid):
    res = kernel.run("""
val deadline = System.currentTimeMillis + 120000
def executors = sc.statusTracker.getExecutorInfos.filter(_.port > 0).map(e => s"${e.host}:${e.port}").sorted
// the driver is listed too; executors register a few seconds after the kernel starts
while (sc.statusTracker.getExecutorInfos.length < 3 && System.currentTimeMillis < deadline) Thread.sleep(500)
println(s"MASTER ${sc.master}")
println(s"EXECUTORS ${sc.statusTracker.getExecutorInfos.length - 1}")
""").ok()
    assert f"MASTER {cluster.master_url}" in res.stdout
    assert "EXECUTORS 2" in res.stdout, res.stdout
    assert len(cluster.executor_pids()) == 2  # one executor JVM under each worker
    for worker in cluster.worker_pids:
        assert len(cluster.executor_pids(worker)) == 1
    for pid in [driver_pid, *cluster.executor_pids()]:  # native tree models need HotSpot to JIT huge methods
        assert b"-XX:-DontCompileHugeMethods" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"), pid


def test_model_scores_in_executor_jvms_and_equals_in_process_predictions(cluster, kernel, driver_pid,
                                                                         mlflow_models):
    kernel.run(f"%register_model {MODEL} {mlflow_models.regressor_alias_uri} --native off").ok()
    res = kernel.run(f"""
import org.apache.spark.sql.functions.udf
spark.udf.register("jvm_pid", udf(() => java.lang.ProcessHandle.current.pid).asNondeterministic())
val scored = spark.range(0, 400, 1, 8).selectExpr("id", "rand(11) AS a", "rand(12) AS b", "rand(13) AS c")
  .selectExpr("id", "a", "b", "c", "{MODEL}(a, b, c) AS p", "jvm_pid() AS pid").collect()
scored.foreach(r => println(s"ROW ${{r.getLong(0)}} ${{r.getDouble(1)}} ${{r.getDouble(2)}} ${{r.getDouble(3)}} ${{r.getDouble(4)}} ${{r.getLong(5)}}"))
""").ok()
    frame = _rows(res.stdout)
    assert sorted(frame.id) == list(range(400))
    executors = set(cluster.executor_pids())
    # every row was scored in an executor JVM that a worker started, both took part, none is the driver
    assert set(frame.pid) == executors, (set(frame.pid), executors, driver_pid, _executor_history(cluster))
    assert driver_pid not in executors
    _assert_same(frame.p.to_numpy(), _expected(mlflow_models.regressor_alias_uri, frame))

    # the model went to the executors: each has a copy of it in its own work folder
    work = Path(cluster.workdir) / "work"
    for i in (1, 2):
        shipped = list((work / f"worker-{i}").glob(f"app-*/*/pyshim-{MODEL}-*/MLmodel"))
        assert shipped, f"no shipped model in worker {i}'s executor folder"
    # ...and the executors' Python workers are the environment's python, under the executor JVMs,
    # forked from pyshim's worker daemon (model libraries preloaded)
    pythons = [p for e in executors for p in _descendants(e) if "pyshim.bridge.daemon" in _cmdline(p)]
    assert pythons and {_cmdline(p).split()[0] for p in pythons} == {_venv_python()}


def test_case_class_and_closure_of_cells_run_in_executor_jvms(cluster, kernel, driver_pid):
    """What the REPL compiles for a cell lives only in the driver: executors load it from there
    (spark.repl.class.uri), so a case class and a closure of earlier cells run on the workers."""
    kernel.run("case class Reading(id: Long, value: Double)").ok()
    kernel.run("val triple = (r: Reading) => r.copy(value = r.value * 3)").ok()
    res = kernel.run("""
def pid = java.lang.ProcessHandle.current.pid
val fromDataset = spark.range(0, 40, 1, 4).map(i => Reading(i, i + 0.5)).map(triple).map(r => (r.id, r.value, pid)).collect()
val fromRdd = sc.parallelize(0L until 40L, 4).map(i => triple(Reading(i, i + 0.5))).map(r => (r.id, r.value, pid)).collect()
for ((what, rows) <- Seq("DATASET" -> fromDataset, "RDD" -> fromRdd); (id, value, at) <- rows) println(s"$what $id $value $at")
""").ok()
    for what in ("DATASET", "RDD"):
        rows = [line.split()[1:] for line in res.stdout.splitlines() if line.startswith(f"{what} ")]
        assert sorted((int(i), float(v)) for i, v, _ in rows) == [(i, (i + 0.5) * 3) for i in range(40)], what
        ran_in = {int(at) for _, _, at in rows}
        assert ran_in and ran_in <= set(cluster.executor_pids()) and driver_pid not in ran_in, (what, ran_in)


def test_losing_a_worker_during_a_job_still_gives_the_right_answer(cluster, kernel, mlflow_models, tmp_path):
    markers = tmp_path / "task-markers"
    markers.mkdir()
    kernel.run(f"%register_model {MODEL} {mlflow_models.regressor_alias_uri} --native off").ok()
    code = f"""
val markers = "{markers}"
val slow = spark.range(0, 1600, 1, 16).selectExpr("id", "rand(21) AS a", "rand(22) AS b", "rand(23) AS c")
  .selectExpr("id", "a", "b", "c", "{MODEL}(a, b, c) AS p")
val lines = slow.rdd.mapPartitions {{ it =>
  val ctx = org.apache.spark.TaskContext.get
  val pid = java.lang.ProcessHandle.current.pid
  def mark(what: String) = java.nio.file.Files.createFile(
    java.nio.file.Paths.get(markers, s"$what-${{ctx.partitionId}}-${{ctx.attemptNumber}}-$pid"))
  mark("start")
  val rows = it.toVector
  Thread.sleep(1500)
  mark("done")
  rows.iterator
}}.map(r => s"ROW ${{r.getLong(0)}} ${{r.getDouble(1)}} ${{r.getDouble(2)}} ${{r.getDouble(3)}} ${{r.getDouble(4)}}").collect()
lines.foreach(println)
println(s"EXECUTORS LEFT ${{sc.statusTracker.getExecutorInfos.length - 1}}")
"""
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(res=kernel.run(code, timeout=600)))
    job.start()
    try:
        victim_pid, killed = _kill_a_busy_worker(cluster, markers)
    finally:
        job.join(timeout=600)
    res = result["res"].ok()
    assert not any(process_alive(p) for p in killed)
    frame = _rows(res.stdout)
    assert sorted(frame.id) == list(range(1600))
    _assert_same(frame.p.to_numpy(), _expected(mlflow_models.regressor_alias_uri, frame))
    # the task(s) cut short on the lost executor were run again, to the end, on the one left
    marks = [m.name.split("-") for m in markers.iterdir()]
    cut = ({part for what, part, _, pid in marks if what == "start" and int(pid) == victim_pid}
           - {part for what, part, _, pid in marks if what == "done" and int(pid) == victim_pid})
    redone = {part for what, part, _, pid in marks if what == "done" and int(pid) != victim_pid}
    assert cut and cut <= redone, (cut, redone)
    assert "EXECUTORS LEFT 1" in res.stdout


def test_everything_started_is_stopped(cluster, kernel, driver_pid):
    """The kernel, its driver JVM, master, workers, executors and their Python workers: all gone after stop."""
    executors = cluster.executor_pids()
    everything = [kernel.pid, driver_pid, cluster.master_pid, *cluster.worker_pids, *executors, *cluster.all_pids()]
    kernel_pid = kernel.pid
    _shutdown(kernel)
    assert wait_gone(kernel_pid)
    cluster.stop()
    assert [p for p in everything if process_alive(p)] == []
    assert cluster.all_pids() == []


def _kill_a_busy_worker(cluster, markers: Path, timeout: float = 300) -> tuple[int, list[int]]:
    """Once both executors took part in the job, SIGKILL a worker, with its executor, whose
    executor is in the middle of a task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        marks = [m.name.split("-") for m in markers.iterdir()]
        started = {(part, pid) for what, part, _, pid in marks if what == "start"}
        running = {int(pid) for part, pid in started - {(p, i) for w, p, _, i in marks if w == "done"}}
        if len({pid for _, pid in started}) >= 2 and running:
            for index, worker in enumerate(cluster.worker_pids):
                executor = cluster.executor_pids(worker)
                if executor and executor[0] in running:
                    return executor[0], cluster.kill_worker(index)
        time.sleep(0.05)
    raise AssertionError(f"the job never ran on both executors: markers {sorted(os.listdir(markers))}")


def _descendants(pid: int) -> list[int]:
    from pyshim.tools.cluster import descendants

    return descendants(pid)


def _cmdline(pid: int) -> str:
    from pyshim.tools.cluster import _cmdline as cmdline

    return cmdline(pid)


def _venv_python() -> str:
    from pyshim.paths import environment_python

    return environment_python()
