"""`make serve`: the model that the Scala notebook scored in batch answers the same over REST.

The server is MLflow's own (`mlflow models serve`, uvicorn), started as `make serve` starts
it (`python -m pyshim.tools.serve`) with a PATH that lacks the environment's bin folder.
The rows posted are the rows notebook 02 scored and wrote to Parquet; the notebooks run
once per session (conftest.py's `scored_in_scala`, shared with test_notebooks.py).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import _descendants
from kernel_driver import process_alive, wait_gone
from pyshim import paths
from pyshim.tools import demo, serve
from pyshim.tools.cluster import free_port

BARE_PATH = "/usr/bin:/bin"  # what a user's shell has without the venv activated
SERVE = [sys.executable, "-m", "pyshim.tools.serve"]


def bare_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra, "PATH": BARE_PATH}
    assert str(paths.environment_bin()) not in env["PATH"].split(os.pathsep)
    return env


def post(url: str, columns: list[str], rows: list[list]) -> list:
    body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())["predictions"]


# --- no server needed ------------------------------------------------------------------------

def test_make_serve_runs_the_module():
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^serve: .*\n\t\$\(PY\) -m pyshim\.tools\.serve$", makefile, re.MULTILINE)


def test_print_shows_the_command_with_the_environment_first_on_path(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    done = subprocess.run([*SERVE, "--print"], capture_output=True, text=True, timeout=60,
                          env=bare_env(MODEL="models:/other@prod", PYSHIM_SERVE_PORT="5999",
                                       MLFLOW_TRACKING_URI=uri))
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert len(line.splitlines()) == 1
    assert f"MLFLOW_TRACKING_URI={uri} " in line
    assert f"PATH={paths.environment_bin()}:{BARE_PATH} " in line
    assert line.endswith(f"{sys.executable} -m mlflow models serve -m models:/other@prod --env-manager local "
                         "--host 127.0.0.1 --port 5999")
    assert not (tmp_path / "store.db").exists()  # --print touches nothing


def test_defaults_are_the_demo_champion_on_port_5001():
    env = serve.environment({"PATH": BARE_PATH, "HOME": "/nonexistent"})
    assert serve.model_uri(env) == "models:/wine_classifier@champion" and serve.port(env) == 5001
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{paths.REPO_ROOT / '.pyshim' / 'mlflow.db'}"
    assert env["PATH"].split(os.pathsep)[0] == str(paths.environment_bin())


def test_a_bad_port_is_one_line_naming_the_variable():
    done = subprocess.run(SERVE, capture_output=True, text=True, timeout=60,
                          env=bare_env(PYSHIM_SERVE_PORT="http"))
    assert done.returncode == 1
    assert done.stderr.strip() == ("pyshim serve: PYSHIM_SERVE_PORT='http' is not a port; "
                                   "set it to a number from 1 to 65535")


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(SERVE, capture_output=True, text=True, timeout=60,
                              env=bare_env(PYSHIM_SERVE_PORT=str(port)))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"pyshim serve: port {port} on 127.0.0.1 is in use (another `make serve`?); "
                                   "stop that, or set PYSHIM_SERVE_PORT to a free port")


def test_before_the_demo_ran_one_line_names_the_command(tmp_path):
    missing = tmp_path / "never" / "mlflow.db"
    done = subprocess.run(SERVE, capture_output=True, text=True, timeout=60,
                          env=bare_env(MLFLOW_TRACKING_URI=f"sqlite:///{missing}"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the demo has not run yet" in lines[0] and "run `make demo` first" in lines[0], done.stderr
    assert not missing.exists()  # no empty store left behind


def test_a_store_without_the_model_says_which_setting_to_change(tmp_path):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    SqlAlchemyStore(uri, str(tmp_path / "artifacts"))
    with pytest.raises(serve.ServeError, match=r"the demo has not run yet .*run `make demo` first"):
        serve.check_model(serve.DEFAULT_MODEL, uri)
    with pytest.raises(serve.ServeError, match=r"cannot serve models:/nothing@here from .*Set MODEL="):
        serve.check_model("models:/nothing@here", uri)


# --- the real server against the demo's batch scores ---------------------------------------------

def batch_scores(env: dict) -> tuple[list[str], dict[int, list], dict[int, set]]:
    """The notebook's Parquet (wine_id, copy, target, predicted) and the features it scored:
    columns, features by wine_id, and every batch prediction of each wine (one per copy)."""
    import pyarrow.dataset as ds
    from sklearn.datasets import load_wine

    parquet = Path(env["PYSHIM_OUTPUT_DIR"]) / demo.SCORED_OUTPUTS["02_score_from_scala.ipynb"]
    scored = ds.dataset(str(parquet), format="parquet").to_table(columns=["wine_id", "predicted"]).to_pandas()
    predicted = scored.groupby("wine_id").predicted.agg(lambda s: set(s.tolist())).to_dict()
    # the notebook's own recipe of the features (its %%python cell)
    wine = load_wine(as_frame=True).frame.rename(columns=lambda name: name.replace("/", "_"))
    features = wine.drop(columns=["target"])
    rows = {i: features.iloc[i].tolist() for i in range(len(features))}
    return list(features.columns), rows, predicted


def documented_requests() -> list[tuple[str, dict]]:
    """The curl payloads shown in the docs' serving page and in notebook 02's markdown."""
    import nbformat

    notebook = nbformat.read(demo.NOTEBOOKS_DIR / "02_score_from_scala.ipynb", as_version=4)
    docs = {"docs/serving.md": (paths.REPO_ROOT / "docs" / "serving.md").read_text(),
            "02_score_from_scala.ipynb": "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")}
    found = [(name, json.loads(body)) for name, text in docs.items()
             for body in re.findall(r"curl -s http://127\.0\.0\.1:5001/invocations .* -d '(\{.*?\})'", text, re.DOTALL)]
    assert {name for name, _ in found} == set(docs), found
    return found


def wait_for_line(log: Path, proc: subprocess.Popen, pattern: str, timeout: float = 300) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{log.read_text()}"
        time.sleep(0.3)
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{log.read_text()}")


@pytest.mark.toree
def test_rest_predictions_equal_the_batch_predictions(scored_in_scala, demo_env, tmp_path):
    _, nb = scored_in_scala
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    columns, rows, batch = batch_scores(demo_env)
    assert len(batch) == len(rows) == 178
    assert all(len(predictions) == 1 for predictions in batch.values())  # every copy of a wine scored alike

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        # its own process group, as a command in a terminal: Ctrl-C goes to the whole group
        proc = subprocess.Popen(SERVE, env=bare_env(**demo_env, PYSHIM_SERVE_PORT=str(port)),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    started: list[tuple[int, str]] = []
    try:
        ready = wait_for_line(log, proc, r"answers at (http://127\.0\.0\.1:\d+)/invocations .*\n  (curl .*)\n")
        url = ready.group(1)
        assert url == f"http://127.0.0.1:{port}"
        started = _descendants(proc.pid)
        assert any("mlflow models serve" in cmd for _, cmd in started), started
        assert any(f"{paths.environment_bin()}/uvicorn" in cmd for _, cmd in started), started

        ids = sorted(rows)
        together = post(url, columns, [rows[i] for i in ids])          # all 178 wines in one call
        one_by_one = [post(url, columns, [rows[i]])[0] for i in ids[::7]]  # and single-row calls
        assert len(together) == len(ids)
        wrong = [(i, rest, batch[i]) for i, rest in zip(ids, together) if {rest} != batch[i]]
        wrong += [(i, rest, batch[i]) for i, rest in zip(ids[::7], one_by_one) if {rest} != batch[i]]
        assert not wrong, f"REST and batch disagree (wine_id, REST, batch): {wrong[:10]}"

        # the example request it printed works as printed
        example = json.loads(re.search(r"-d '(.*)'$", ready.group(2)).group(1))
        assert example["dataframe_split"]["columns"] == columns
        assert post(url, columns, example["dataframe_split"]["data"])[0] in {0, 1, 2}
        # so do the docs' and the notebook's: their row is the first wine
        for doc, payload in documented_requests():
            split = payload["dataframe_split"]
            assert split["columns"] == columns and split["data"] == [rows[0]], doc
            assert {post(url, columns, split["data"])[0]} == batch[0], doc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert "pyshim serve: stopping" in log.read_text()
    left = [(pid, cmd) for pid, cmd in started if not wait_gone(pid, timeout=10)]
    assert not left, f"still running after Ctrl-C: {left}"
    assert not any("mlflow models serve" in cmd or "uvicorn" in cmd for _, cmd in _descendants(os.getpid()))
    assert not serve.ready(url)


@pytest.mark.cluster
def test_the_tracking_server_finds_the_environment_whatever_the_path(monkeypatch):
    from pyshim.tools.cluster import tracking_server

    monkeypatch.setenv("PATH", BARE_PATH)
    with tracking_server() as server:
        assert server.healthy()
        pid = server.pid
        child_path = dict(item.split("=", 1) for item in
                          Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)["PATH"]
        assert child_path.split(os.pathsep)[0] == str(paths.environment_bin())
    assert wait_gone(pid) and not process_alive(pid)
