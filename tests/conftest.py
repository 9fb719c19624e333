"""Session-wide isolation and the shared heavy fixtures (a Toree kernel, an MLflow store).

Every test runs with HOME, XDG_CACHE_HOME, JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, JUPYTER_RUNTIME_DIR
and MLFLOW_TRACKING_URI in a temp folder: nothing touches ~/.jupyter or ~/.local. Kernels are
looked up in the environment's prefix, where `make test` (pyshim install) put them.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kernel_driver import KernelDriver, wait_gone  # noqa: E402

# An xdist worker runs in execnet's __main__, which has neither __spec__ nor __file__: pyspark
# 4's Spark Connect module takes that for its own doctest run and calls sys.exit(0) when
# imported (mlflow's infer_signature imports it). The worker's __main__ gets the file it runs.
_main = sys.modules["__main__"]
if os.environ.get("PYTEST_XDIST_WORKER") and _main.__spec__ is None and not hasattr(_main, "__file__"):
    _main.__file__ = sys.argv[0] or "<pytest-xdist worker>"

# The tests' JVMs (kernels, PySpark sessions: spark-submit reads SPARK_SUBMIT_OPTS) JIT-compile
# with C1 only. A test JVM lives a minute or two and runs small data: HotSpot's C2 compiler
# threads spend more CPU than they ever save, on a 2-core machine whose cores the two pytest
# workers already keep busy. Nothing the tests assert depends on the JIT tier.
os.environ["SPARK_SUBMIT_OPTS"] = f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} -XX:TieredStopAtLevel=1".strip()

# Which Scala kernel `pyshim-scala` runs here: "toree" (Spark 3.5's default) or "pyshim"
# (pyshim's own: Spark 4, or Spark 3.5 after `make setup SCALA_KERNEL=pyshim`).
SCALA_KERNEL = __import__("pyshim.paths").paths.scala_kernel()

# Tests of the Toree kernel's own machinery (its launcher, the class archive of its JVM, the
# sidecar process beside it): when Toree is the Scala kernel.
TOREE_LINE_ONLY = pytest.mark.skipif(SCALA_KERNEL != "toree", reason="the Scala kernel here is pyshim's own, not Toree")

# The browser_page fixture (Debian's chromium through playwright), for any test module.
pytest_plugins = ["browser"]

_ISOLATED = ("HOME", "XDG_CACHE_HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")


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


# Two cores whatever the machine: a job's length (and so its progress frames) depends on it.
TWO_CORES = "--master local[2]"


def start_toree(workdir: Path, name: str = "toree", wait: bool = True, **env: str) -> KernelDriver:
    """A `pyshim-scala` kernel in WORKDIR with ENV added; wait=False returns while it boots."""
    workdir.mkdir(parents=True, exist_ok=True)
    return KernelDriver("pyshim-scala", cwd=workdir, log=workdir / f"{name}.log", env={**os.environ, **env},
                        wait=wait)


# --- kernels started ahead ---------------------------------------------------------------------
# A Toree start is 10-60 s, most of it a JVM booting on one core. The session's shared kernels
# are started when the session starts, and the modules that need no kernel run first (below),
# so those boots overlap with tests instead of adding to them.

SHARED_KERNELS = ("toree", "lab")  # session fixtures started ahead when a selected test uses them


def _needs_a_kernel(item) -> bool:
    return item.get_closest_marker("toree") is not None or any(n in item.fixturenames for n in SHARED_KERNELS)


# `make test` runs pytest-xdist with two workers (`-n 2`): the modules that use the shared
# kernels (and the demo notebooks executed ahead) on one, and the kernel-free modules (docs,
# hooks, pins, a plain PySpark session, the browser's save hooks) on the other, then the modules
# that start only kernels of their own (ON_THE_OTHER_WORKER): measured with --durations on
# Spark 3.5, the shared kernels' worker was the longer one by some 250 s without them (597 s
# and 344 s). xdist's own `--dist loadgroup` cannot do it with pytest 9 (it renames node ids,
# which pytest 9 no longer lets a plugin do), and xdist's controller sees only node ids: so the
# kernel modules are named here, and checked against what collection finds.
KERNELS, KERNEL_FREE = "kernels", "kernel-free"
KERNEL_MODULES = {
    "test_bridge.py", "test_cluster.py", "test_completion.py", "test_failures.py", "test_interrupt.py",
    "test_jvm_cache.py", "test_language_modes.py", "test_lineage.py", "test_native.py", "test_native_nopython.py",
    "test_notebooks.py", "test_output_relay.py", "test_progress.py", "test_python_cells.py", "test_python_workers.py",
    "test_run.py", "test_serve.py", "test_sidecar.py", "test_toree_kernel.py", "test_toree_magics.py",
    "test_tracking_server.py",
}
ON_THE_OTHER_WORKER = {"test_lineage.py", "test_native_nopython.py", "test_python_workers.py", "test_sidecar.py",
                       "test_toree_magics.py"}


def _group(item_or_nodeid) -> str:
    nodeid = getattr(item_or_nodeid, "nodeid", item_or_nodeid)
    name = Path(nodeid.split("::")[0]).name
    return KERNELS if name in KERNEL_MODULES - ON_THE_OTHER_WORKER else KERNEL_FREE


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Each of the two groups to a worker of its own, whole (xdist's scope scheduling)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByKernelUse(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByKernelUse(config, log)


def pytest_collection_modifyitems(config, items):
    """Whole modules without kernel tests first, in their usual order, then the others (a module
    is never split: its module-scoped fixtures are set up once)."""
    later = {item.module for item in items if _needs_a_kernel(item)}
    items.sort(key=lambda item: item.module in later)
    sharing = {Path(str(item.fspath)).name for item in items
               if set(item.fixturenames) & {*SHARED_KERNELS, *DEMO_NOTEBOOKS}} & ON_THE_OTHER_WORKER
    if sharing:  # on the other worker, it would start a second set of shared kernels
        raise pytest.UsageError(f"tests/conftest.py: {', '.join(sorted(sharing))} use the shared kernels or demo "
                                "notebooks; take them out of ON_THE_OTHER_WORKER")
    unlisted = sorted({Path(module.__file__).name for module in later} - KERNEL_MODULES)
    if unlisted:
        raise pytest.UsageError(f"tests/conftest.py: {', '.join(unlisted)} start kernels; add them to KERNEL_MODULES "
                                "(so that xdist runs them on the kernels' worker, one boot at a time)")


class Ahead:
    """What the session started in the background: a value, or a Future of one, by name."""

    def __init__(self):
        self._started: dict[str, object] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ahead")

    def start(self, name: str, make, in_thread: bool = False) -> None:
        """MAKE() now, or in a thread when it blocks (a kernel's process spawns at once and is
        made here: its client's sockets belong to this thread)."""
        self._started[name] = self._pool.submit(make) if in_thread else make()

    def take(self, name: str, make):
        """What was started as NAME, or MAKE() when nothing was (a test run alone)."""
        started = self._started.pop(name, None)
        if started is None:
            return make()
        return started.result() if isinstance(started, Future) else started

    def close(self) -> None:
        """Stop what no test took (a selection that ended early); wait for what still runs."""
        for started in self._started.values():
            try:
                value = started.result() if isinstance(started, Future) else started
            except Exception:  # it failed, and what it started has stopped
                continue
            if isinstance(value, KernelDriver):
                value.shutdown()
            elif hasattr(value, "close"):
                value.close()
        self._pool.shutdown()


@pytest.fixture(scope="session", autouse=True)
def ahead(isolated_home, request):
    """The shared kernels and the executed demo notebooks the selected tests use, started now."""
    import browser
    from lab import LabKernel

    used = {name for item in _own_items(request.session) for name in item.fixturenames}
    started = Ahead()
    if "toree" in used:
        started.start("toree", lambda: _shared_toree(isolated_home, wait=False))
    if "lab" in used and browser.skip_reason() is None:  # no browser: its tests skip
        env = dict(os.environ)
        started.start("lab", lambda: LabKernel(isolated_home / "lab", env), in_thread=True)
    notebooks = [name for fixture, name in DEMO_NOTEBOOKS.items() if fixture in used]
    if notebooks:  # in a thread of their own, in order (02 scores with the model 01 registers)
        env, executed = request.getfixturevalue("demo_env"), request.getfixturevalue("executed_dir")
        for name, future in _execute_in_order(notebooks, env, executed).items():
            started.start(name, lambda future=future: future)
    yield started
    started.close()


_first_run: list = []  # the first test this process runs


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not _first_run:
        _first_run.append(item)


def _own_items(session) -> list:
    """The tests this process runs: all of them, or under xdist those of its worker's group
    (each of the two groups goes to a worker of its own, whose first test tells which)."""
    if not hasattr(session.config, "workerinput") or not _first_run:
        return session.items
    return [item for item in session.items if _group(item) == _group(_first_run[0])]


def _shared_toree(isolated_home: Path, wait: bool = True) -> KernelDriver:
    return start_toree(isolated_home / "toree-shared", wait=wait, SPARK_OPTS=TWO_CORES)


@pytest.fixture(scope="session")
def toree(ahead, isolated_home):
    """One Toree kernel shared by the session's tests that only run cells (a start costs 10-60 s).
    Tests that share it name their views, functions and files uniquely and leave it usable."""
    driver = ahead.take("toree", lambda: _shared_toree(isolated_home)).wait_ready()
    yield driver
    pid = driver.pid
    driver.shutdown()
    assert wait_gone(pid), f"Toree kernel {pid} still running after shutdown"


@pytest.fixture(scope="session")
def lab(ahead, isolated_home):
    """A JupyterLab server with one Toree kernel, shared by the browser tests that only run cells
    (each opens its own notebook on that kernel: lab.LabKernel.open)."""
    from lab import LabKernel

    shared = ahead.take("lab", lambda: LabKernel(isolated_home / "lab"))
    yield shared
    shared.close()


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


# Which session fixture holds which executed notebook.
DEMO_NOTEBOOKS = {"trained": "01_train_model.ipynb", "scored_in_scala": "02_score_from_scala.ipynb",
                  "pyspark_pipeline": "03_pyspark_pipeline.ipynb"}


def _execute_in_order(names: list[str], env: dict, executed_dir: Path) -> dict[str, Future]:
    """Each of NAMES executed in turn in a background thread (kernels of their own, as `make demo`
    starts them); a Future of each one's result, or of its error."""
    futures = {name: Future() for name in names}

    def work():
        for name in names:
            try:
                futures[name].set_result(execute(name, env, executed_dir))
            except BaseException as err:  # reported by the fixture that takes it
                futures[name].set_exception(err)

    threading.Thread(target=work, name="ahead-notebooks", daemon=True).start()
    return futures


def _executed(ahead: Ahead, fixture: str, env: dict, executed_dir: Path):
    name = DEMO_NOTEBOOKS[fixture]
    return ahead.take(name, lambda: execute(name, env, executed_dir))


@pytest.fixture(scope="session")
def trained(ahead, demo_env, executed_dir):
    return _executed(ahead, "trained", demo_env, executed_dir)


@pytest.fixture(scope="session")
def scored_in_scala(trained, ahead, demo_env, executed_dir):
    return _executed(ahead, "scored_in_scala", demo_env, executed_dir)


@pytest.fixture(scope="session")
def pyspark_pipeline(ahead, demo_env, executed_dir):
    return _executed(ahead, "pyspark_pipeline", demo_env, executed_dir)
