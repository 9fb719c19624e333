"""Session-wide isolation and the shared heavy fixtures (a Toree kernel, an MLflow store).

Every test runs with HOME, JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, JUPYTER_RUNTIME_DIR and
MLFLOW_TRACKING_URI in a temp folder: nothing touches ~/.jupyter or ~/.local. Kernels are
looked up in the environment's prefix, where `make test` (pyshim install) put them.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kernel_driver import KernelDriver, wait_gone  # noqa: E402

# The browser_page fixture (Debian's chromium through playwright), for any test module.
pytest_plugins = ["browser"]

_ISOLATED = ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")


def _descendants(root: int) -> list[tuple[int, str]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmd = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found.append((child, cmd))
            todo.append(child)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """Kernels, JVMs, sidecars and servers end with their tests."""
    yield
    deadline = time.monotonic() + 20
    while _descendants(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _descendants(os.getpid())
    assert not left, f"processes left running after the tests: {left}"


@pytest.fixture(scope="session", autouse=True)
def isolated_home(no_process_left_behind, tmp_path_factory):
    root = tmp_path_factory.mktemp("isolated")
    saved = {k: os.environ.get(k) for k in (*_ISOLATED, "MLFLOW_TRACKING_URI", "PYSPARK_PYTHON", "SPARK_OPTS", "TOREE_OPTS")}
    for name in _ISOLATED:
        path = root / name.lower()
        path.mkdir()
        os.environ[name] = str(path)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    # Create the store with its artifacts beside it; MLflow's default is ./mlruns of the cwd.
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(os.environ["MLFLOW_TRACKING_URI"], str(root / "artifacts"))
    for name in ("PYSPARK_PYTHON", "SPARK_OPTS", "TOREE_OPTS"):
        os.environ.pop(name, None)
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module", autouse=True)
def fresh_mlflow_state(isolated_home):
    """MLflow keeps a process-wide tracking URI and active experiment: a module that sets
    them (the demo's defaults, a file store) must not leak them into the next one."""
    yield
    import mlflow
    from mlflow.tracking import fluent

    if mlflow.active_run():
        mlflow.end_run()
    fluent._active_experiment_id = None
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        os.environ.pop(name, None)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{isolated_home / 'mlflow.db'}"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


@pytest.fixture(scope="session")
def mlflow_models(isolated_home):
    """Real models in a real MLflow store: regressor, classifier, custom string/array model."""
    from model_zoo import build_models

    return build_models(isolated_home / "models-work")


@pytest.fixture(scope="session")
def native_models(isolated_home):
    """Every model kind the native compiler knows, trained and logged once (native_zoo.py)."""
    import native_zoo

    return native_zoo.build()


def start_toree(workdir: Path, name: str = "toree", **env: str) -> KernelDriver:
    workdir.mkdir(parents=True, exist_ok=True)
    return KernelDriver("pyshim-scala", cwd=workdir, log=workdir / f"{name}.log", env={**os.environ, **env})


@pytest.fixture(scope="session")
def toree(isolated_home):
    """One Toree kernel shared by the session's tests (a start costs 10-20 s)."""
    driver = start_toree(isolated_home / "toree-shared")
    yield driver
    pid = driver.pid
    driver.shutdown()
    assert wait_gone(pid), f"Toree kernel {pid} still running after shutdown"


@pytest.fixture(scope="module")
def spark(isolated_home):
    """A plain PySpark session (no Toree) with pyshim's extension jar on its class path."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from pyshim import paths

    session = (SparkSession.builder.master("local[2]").appName("pyshim-test")
               .config("spark.jars", str(paths.EXTENSION_JAR))
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()
    # PySpark's JVM lives until its stdin closes; it would otherwise outlive the tests.
    gateway = SparkContext._gateway
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=30)
    SparkContext._gateway = SparkContext._jvm = None


# --- the example notebooks, executed once per session (test_notebooks.py, test_serve.py) -----

@pytest.fixture(scope="session")
def demo_env(isolated_home, tmp_path_factory):
    from pyshim import defaults

    out = tmp_path_factory.mktemp("notebook-output")
    env = defaults.environment({**os.environ, "PYSHIM_OUTPUT_DIR": str(out)})
    assert env["MLFLOW_TRACKING_URI"].startswith(f"sqlite:///{isolated_home}")  # never the project's store
    return env


@pytest.fixture(scope="session")
def executed_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("executed")


def execute(name: str, env: dict, executed_dir: Path):
    """Run one example notebook as `make demo` does; (NotebookRun, the executed notebook)."""
    import nbformat

    from pyshim.tools import demo

    run = demo.run_notebook(demo.NOTEBOOKS_DIR / name, executed_dir, env)
    return run, nbformat.read(run.executed, as_version=4)


@pytest.fixture(scope="session")
def trained(demo_env, executed_dir):
    return execute("01_train_model.ipynb", demo_env, executed_dir)


@pytest.fixture(scope="session")
def scored_in_scala(trained, demo_env, executed_dir):
    return execute("02_score_from_scala.ipynb", demo_env, executed_dir)


@pytest.fixture(scope="session")
def pyspark_pipeline(demo_env, executed_dir):
    return execute("03_pyspark_pipeline.ipynb", demo_env, executed_dir)
