"""A Scala kernel (either Spark line) against a real MLflow tracking server (`mlflow server`, SQL backend, proxied artifacts).

The server runs on loopback with a SQLite backend (PostgreSQL from Debian's packages as
well, when it and psycopg2 are installed); the model is logged and registered over HTTP,
the kernel only gets MLFLOW_TRACKING_URI=http://127.0.0.1:PORT, resolves
models:/name@alias through the server and scores from Scala. A server that is down gives
one short message naming its URI, at once.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kernel_driver import KernelDriver, process_alive, wait_gone
from model_zoo import pip_requirements
from pyshim.tools.cluster import free_port, local_postgres, postgres_available, tracking_server

pytestmark = [pytest.mark.cluster, pytest.mark.toree]

MODEL_NAME, ALIAS = "served_regressor", "prod"


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """Point this process's MLflow client at URI for a while (other tests use the sqlite store)."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def _train() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.random((200, 3)), columns=["a", "b", "c"])
    return frame, 3 * frame.a - frame.b + 0.5 * frame.c


def log_and_register(server_uri: str, name: str = MODEL_NAME, alias: str = ALIAS):
    """Log a sklearn model over HTTP and give its registered version an alias; returns the run's info."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame, y = _train()
    model = LinearRegression().fit(frame, y)
    with _tracking_uri(server_uri):
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, y),
                                            registered_model_name=name, pip_requirements=pip_requirements())
        mlflow.MlflowClient().set_registered_model_alias(name, alias, info.registered_model_version)
    return run.info, info


@pytest.fixture(scope="module")
def server(isolated_home):
    with tracking_server(workdir=isolated_home / "mlflow-server") as running:
        yield running
    assert wait_gone(running.pid), f"mlflow server {running.pid} still running after stop"
    assert not running.daemon.group_alive()


@pytest.fixture(scope="module")
def registered(server):
    return log_and_register(server.uri)


@pytest.fixture(scope="module")
def kernel(server, isolated_home):
    workdir = isolated_home / "kernel-tracking"
    workdir.mkdir(exist_ok=True)
    # The kernel knows only the server's URL: no path to its database or artifact folder.
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri}
    driver = KernelDriver("pyshim-scala", cwd=workdir, log=workdir / "kernel.log", env=env)
    pid = driver.pid
    yield driver
    driver.shutdown()
    assert wait_gone(pid), f"Scala kernel {pid} still running after shutdown"


def test_server_keeps_runs_in_sql_and_proxies_artifacts(server, registered):
    run_info, model_info = registered
    assert server.healthy()
    assert server.backend_uri.startswith("sqlite:///")
    # artifacts went over HTTP to the server, which stored them in its own folder
    assert run_info.artifact_uri.startswith("mlflow-artifacts:/")
    stored = list(Path(server.artifacts).rglob("MLmodel"))
    assert stored, f"no model files in the server's artifact folder {server.artifacts}"
    assert model_info.registered_model_version in (1, "1")


def test_alias_resolves_over_http_and_scores_from_scala(server, registered, kernel):
    import mlflow.pyfunc

    res = kernel.run(f"%register_model served models:/{MODEL_NAME}@{ALIAS}").ok()
    assert "version 1" in res.stdout, res.stdout
    assert res.stderr == "", res.stderr  # MLflow's own output (tqdm warnings, download bars) goes to the log
    res = kernel.run("""
val scored = spark.range(0, 300, 1, 3).selectExpr("id", "rand(31) AS a", "rand(32) AS b", "rand(33) AS c")
  .selectExpr("id", "a", "b", "c", "served(a, b, c) AS p").collect()
scored.foreach(r => println(s"ROW ${r.getLong(0)} ${r.getDouble(1)} ${r.getDouble(2)} ${r.getDouble(3)} ${r.getDouble(4)}"))
""").ok()
    rows = [line.split()[1:] for line in res.stdout.splitlines() if line.startswith("ROW ")]
    frame = pd.DataFrame(rows, columns=["id", "a", "b", "c", "p"]).astype(float)
    assert len(frame) == 300
    with _tracking_uri(server.uri):
        expected = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{ALIAS}").predict(frame[["a", "b", "c"]])
    np.testing.assert_allclose(frame.p.to_numpy(), np.asarray(expected, dtype=float), rtol=1e-12, atol=1e-15)


def test_moving_the_alias_is_seen_on_the_next_registration(server, registered, kernel):
    """The alias is resolved on the server each time: a new champion needs no kernel restart."""
    log_and_register(server.uri)  # version 2 gets the alias
    res = kernel.run(f"%register_model served models:/{MODEL_NAME}@{ALIAS}").ok()
    assert "version 2" in res.stdout and "replaced" in res.stdout, res.stdout


def test_a_server_that_is_down_gives_one_short_message_naming_it(kernel):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    kernel.run(f"%%python\nimport mlflow\nmlflow.set_tracking_uri({down!r})").ok()
    try:
        started = time.monotonic()
        res = kernel.run(f"%register_model gone models:/{MODEL_NAME}@{ALIAS}", timeout=120)
        took = time.monotonic() - started
    finally:
        kernel.run("%%python\nimport mlflow, os\nmlflow.set_tracking_uri(os.environ['MLFLOW_TRACKING_URI'])").ok()
    assert res.status == "error"
    text = res.error_text
    assert down in text and "does not answer" in text and "MLFLOW_TRACKING_URI" in text, text
    assert "Max retries" not in text and "HTTPConnectionPool" not in text, text
    # what a notebook shows is the traceback: one line naming the server, and short
    shown = "\n".join(res.error.get("traceback") or []).splitlines()
    message = [line for line in shown if down in line]
    assert len(message) == 1 and len(message[0]) < 300 and len(shown) <= 3, shown
    assert took < 60, f"took {took:.0f} s to report a server that is down"


@pytest.mark.skipif(postgres_available() is not None, reason=f"PostgreSQL backend: {postgres_available()}")
def test_postgresql_backend(isolated_home):
    """The same server with PostgreSQL (Debian's packages) as its SQL store."""
    import mlflow.pyfunc

    with local_postgres() as db_uri, \
            tracking_server(backend_uri=db_uri, workdir=isolated_home / "mlflow-pg") as pg_server:
        log_and_register(pg_server.uri, name="pg_regressor")
        frame, _ = _train()
        with _tracking_uri(pg_server.uri):
            model = mlflow.pyfunc.load_model("models:/pg_regressor@prod")
            assert len(model.predict(frame)) == len(frame)
        pid = pg_server.pid
    assert not process_alive(pid)
