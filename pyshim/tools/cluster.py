"""A real Spark standalone cluster and a real MLflow tracking server on this machine.

Nothing here is home-made: the master and workers are Spark's own classes from the pyspark
distribution (`$SPARK_HOME/bin/spark-class org.apache.spark.deploy.master.Master`), the
tracking server is `mlflow server`. This module only starts them on loopback, waits until
they are ready and stops exactly what it started. Used by the tests, `make cluster-demo`
and by hand:

    python -m pyshim.tools.cluster up        # master + 2 workers + tracking server, prints the settings
    python -m pyshim.tools.cluster status
    python -m pyshim.tools.cluster down
    python -m pyshim.tools.cluster demo      # up, run the demo notebooks against it, down

From Python:

    with local_cluster(workers=2) as cluster, tracking_server() as server:
        env = {"SPARK_OPTS": cluster.spark_opts(), "MLFLOW_TRACKING_URI": server.uri}

Each daemon runs in its own process group (executor JVMs and Python workers that a worker
starts are in its group), so stopping a group ends everything under it: SIGTERM first,
SIGKILL after a timeout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .. import paths, settings
from ..errors import PyshimError

LOOPBACK = "127.0.0.1"
STATE_DIR = paths.REPO_ROOT / ".pyshim" / "cluster"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


class ClusterError(PyshimError):
    """A daemon did not start or did not become ready."""


# -- processes ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Daemon:
    """One process we started, leader of its own process group."""
    name: str
    pid: int
    log: str
    marker: str          # a string of its command line, to never signal a recycled pid
    proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def ours(self) -> bool:
        return _alive(self.pid) and self.marker in _cmdline(self.pid)

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.ours()

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the group (a worker's shutdown hook ends its executors), then SIGKILL."""
        if self.proc is None and not self.ours() and not self.group_alive():
            return
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None:
                self.proc.poll()
            if not self.group_alive():
                break
            time.sleep(0.2)
        else:
            self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        # a group member re-parented to init is reaped by it; wait until it is really gone
        deadline = time.monotonic() + 10
        while self.group_alive() and time.monotonic() < deadline:
            self.signal_group(signal.SIGKILL)
            time.sleep(0.2)

    def failure(self, what: str) -> ClusterError:
        code = self.proc.poll() if self.proc is not None else None
        status = f"exited with code {code}" if code is not None else "is running but not ready"
        return ClusterError(f"{what}: {self.name} (pid {self.pid}) {status}. Its log {self.log} ends:\n"
                            f"{_log_tail(Path(self.log))}")


def _spawn(name: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path, marker: str) -> Daemon:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Daemon(name, proc.pid, str(log), marker, proc)


def _get_json(url: str, timeout: float = 2):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL we built
        return json.loads(resp.read().decode())


# -- Spark standalone --------------------------------------------------------------------

def _spark_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(paths.spark_home())
    env.setdefault("JAVA_HOME", str(paths.java_executable().resolve().parent.parent))
    env["SPARK_LOCAL_IP"] = LOOPBACK           # RPC, block manager and web UIs on loopback only
    env["SPARK_LOCAL_HOSTNAME"] = LOOPBACK
    env["SPARK_DAEMON_MEMORY"] = env.get("PYSHIM_CLUSTER_DAEMON_MEMORY", settings.default("PYSHIM_CLUSTER_DAEMON_MEMORY"))
    env["SPARK_WORKER_DIR"] = str(workdir / "work")
    env["SPARK_LOG_DIR"] = str(workdir / "logs")
    env["SPARK_PID_DIR"] = str(workdir)
    # Python workers on executors: the driver tells them which python (PYSPARK_PYTHON), and
    # they need the same hash seed as the driver's.
    env.setdefault("PYSPARK_PYTHON", paths.environment_python())
    env.setdefault("PYTHONHASHSEED", "0")
    for name in ("SPARK_OPTS", "TOREE_OPTS", "SPARK_CONF_DIR"):
        env.pop(name, None)
    return env


@dataclass
class Cluster:
    master_url: str
    webui_url: str
    workdir: str
    master: Daemon
    workers: list[Daemon]

    @property
    def master_pid(self) -> int:
        return self.master.pid

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def spark_opts(self, executor_memory: str = "512m", total_cores: int | None = None,
                   executor_cores: int = 1) -> str:
        """SPARK_OPTS for a Scala kernel of either line (or spark-submit) against this cluster."""
        cores = total_cores if total_cores is not None else len(self.workers) * executor_cores
        return (f"--master {self.master_url} --executor-memory {executor_memory} "
                f"--total-executor-cores {cores} --conf spark.executor.cores={executor_cores}")

    def state(self) -> dict:
        return _get_json(f"{self.webui_url}/json/")

    def alive_workers(self) -> list[dict]:
        try:
            return [w for w in self.state().get("workers", []) if w.get("state") == "ALIVE"]
        except (OSError, ValueError):
            return []

    def executor_pids(self, worker_pid: int | None = None) -> list[int]:
        """Executor JVMs started by one worker (or by all of them)."""
        roots = [worker_pid] if worker_pid else self.worker_pids
        return [p for r in roots for p in descendants(r) if EXECUTOR_CLASS in _cmdline(p)]

    def kill_worker(self, index: int) -> list[int]:
        """SIGKILL one worker and everything it started (its executors): a machine lost."""
        worker = self.workers[index]
        pids = [worker.pid, *descendants(worker.pid)]
        worker.signal_group(signal.SIGKILL)
        if worker.proc is not None:
            worker.proc.wait(timeout=10)
        return pids

    def all_pids(self) -> list[int]:
        """Every live process of the cluster's groups (daemons, executors, Python workers)."""
        groups = {d.pid for d in (self.master, *self.workers)}
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = entry.joinpath("stat").read_text().rsplit(") ", 1)[1].split()
                    if int(fields[2]) in groups and fields[0] != "Z":
                        out.append(int(entry.name))
        return out

    def stop(self) -> None:
        for daemon in reversed([self.master, *self.workers]):
            daemon.stop()


def start_cluster(workers: int = 2, worker_memory: str = "1g", worker_cores: int = 1,
                  workdir: Path | None = None, timeout: float = 120) -> Cluster:
    """Start a master and WORKERS workers on loopback; returns once all workers are ALIVE."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="pyshim-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = _spark_env(workdir)
    spark_class = str(paths.spark_home() / "bin" / "spark-class")
    started: list[Daemon] = []
    try:
        for attempt in range(3):  # a free port can be taken between our probe and the bind
            port, ui = free_port(), free_port()
            master = _spawn("spark master", [spark_class, MASTER_CLASS, "--host", LOOPBACK, "--port", str(port),
                                              "--webui-port", str(ui)],
                            env, workdir / "logs" / "master.log", workdir, MASTER_CLASS)
            started.append(master)
            webui = f"http://{LOOPBACK}:{ui}"
            if _wait_for(lambda url=webui: _master_up(url), master, timeout):
                break
            master.stop()
            if attempt == 2:
                raise master.failure("the Spark master did not start")
        master_url = f"spark://{LOOPBACK}:{port}"
        for i in range(workers):
            worker = _spawn(f"spark worker {i + 1}",
                            [spark_class, WORKER_CLASS, "--host", LOOPBACK, "--port", "0", "--webui-port", "0",
                             "--cores", str(worker_cores), "--memory", worker_memory,
                             "--work-dir", str(workdir / "work" / f"worker-{i + 1}"), master_url],
                            env, workdir / "logs" / f"worker-{i + 1}.log", workdir, WORKER_CLASS)
            started.append(worker)
        cluster = Cluster(master_url, webui, str(workdir), master, started[-workers:] if workers else [])
        deadline = time.monotonic() + timeout
        while len(cluster.alive_workers()) < workers:
            for daemon in started:
                if not daemon.alive():
                    raise daemon.failure("the Spark cluster did not start")
            if time.monotonic() > deadline:
                raise ClusterError(f"only {len(cluster.alive_workers())} of {workers} workers registered with "
                                   f"{master_url} in {timeout:.0f} s; logs in {workdir / 'logs'}")
            time.sleep(0.3)
        return cluster
    except BaseException:
        for daemon in reversed(started):
            daemon.stop()
        raise


def _master_up(webui: str) -> bool:
    try:
        return _get_json(f"{webui}/json/").get("status") == "ALIVE"
    except (OSError, ValueError):
        return False


def _wait_for(ready, daemon: Daemon, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if not daemon.alive():
            return False
        time.sleep(0.3)
    return False


@contextlib.contextmanager
def local_cluster(workers: int = 2, worker_memory: str = "1g", worker_cores: int = 1,
                  workdir: Path | None = None) -> Iterator[Cluster]:
    """A Spark standalone master and workers on loopback, stopped on exit (also on errors).

    Yields a Cluster: `.master_url`, `.worker_pids`, `.spark_opts()`, `.kill_worker(i)`.
    """
    own_dir = workdir is None
    cluster = start_cluster(workers, worker_memory, worker_cores, workdir)
    try:
        yield cluster
    finally:
        cluster.stop()
        if own_dir:
            shutil.rmtree(cluster.workdir, ignore_errors=True)


# -- MLflow tracking server --------------------------------------------------------------

@dataclass
class TrackingServer:
    uri: str
    backend_uri: str
    artifacts: str
    workdir: str
    daemon: Daemon

    @property
    def pid(self) -> int:
        return self.daemon.pid

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:  # noqa: S310
                return resp.status == 200
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        self.daemon.stop()


def start_tracking_server(backend_uri: str | None = None, workdir: Path | None = None,
                          timeout: float = 120) -> TrackingServer:
    """`mlflow server` on loopback with a SQL backend and proxied artifacts (--serve-artifacts).

    Clients need only MLFLOW_TRACKING_URI=http://127.0.0.1:PORT: runs and registry go to the
    SQL store, model files are uploaded to and downloaded from the server over HTTP.
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="pyshim-mlflow-"))
    workdir.mkdir(parents=True, exist_ok=True)
    backend_uri = backend_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    artifacts = workdir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    env = paths.with_environment_path()  # what MLflow starts by name comes from this environment
    env.pop("MLFLOW_TRACKING_URI", None)
    # The GenAI job runner (7 huey consumer processes) is not needed to track and serve models.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    last: Daemon | None = None
    for _attempt in range(3):
        port = free_port()
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", LOOPBACK, "--port", str(port),
               "--workers", "1", "--backend-store-uri", backend_uri,
               "--artifacts-destination", str(artifacts), "--serve-artifacts"]
        last = _spawn("mlflow server", cmd, env, workdir / "mlflow-server.log", workdir, "mlflow")
        server = TrackingServer(f"http://{LOOPBACK}:{port}", backend_uri, str(artifacts), str(workdir), last)
        if _wait_for(server.healthy, last, timeout):
            return server
        failure = last.failure("the MLflow tracking server did not start")
        last.stop()
        if "address already in use" not in _log_tail(Path(last.log), 40).lower():
            raise failure
    raise last.failure("the MLflow tracking server did not start")


@contextlib.contextmanager
def tracking_server(backend_uri: str | None = None, workdir: Path | None = None) -> Iterator[TrackingServer]:
    """`mlflow server` on a free loopback port (SQLite unless BACKEND_URI), stopped on exit."""
    own_dir = workdir is None
    server = start_tracking_server(backend_uri, workdir)
    try:
        yield server
    finally:
        server.stop()
        if own_dir:
            shutil.rmtree(server.workdir, ignore_errors=True)


# -- PostgreSQL (Debian's packages), optional backend ------------------------------------

def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries, when installed."""
    found = shutil.which("pg_ctl")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates + ([Path(found).parent] if found else []):
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def postgres_available() -> str | None:
    """None when a PostgreSQL backend can be used; else why not."""
    if postgres_bin() is None:
        return "PostgreSQL is not installed (on Debian: apt-get install postgresql)"
    if _postgres_driver() is None:
        return "no PostgreSQL driver for SQLAlchemy in this python (pip install 'psycopg[binary]' or psycopg2-binary)"
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def _postgres_driver() -> str | None:
    """SQLAlchemy's name of an installed PostgreSQL driver (SQLAlchemy 2.1 defaults to psycopg 3)."""
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect
    return None


@contextlib.contextmanager
def local_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (initdb + postgres); yields its SQLAlchemy URI.

    Its folder is a new one under the system's temp dir: as root the server runs as the
    `postgres` user, which must reach it (pytest's own temp folders are private to root).
    """
    reason = postgres_available()
    if reason:
        raise ClusterError(f"cannot start PostgreSQL: {reason}")
    bindir = postgres_bin()
    workdir = Path(tempfile.mkdtemp(prefix="pyshim-pg-"))
    data = workdir / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        import pwd
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    daemon = None
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True, cwd=workdir)
        port = free_port()
        daemon = _spawn("postgres", [*prefix, str(bindir / "postgres"), "-D", str(data), "-h", LOOPBACK,
                                     "-p", str(port), "-k", str(workdir)],
                        dict(os.environ), workdir / "postgres.log", workdir, "postgres")
        ready = lambda: subprocess.run([str(bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(port)],  # noqa: E731
                                       capture_output=True).returncode == 0
        if not _wait_for(ready, daemon, 60):
            raise daemon.failure("PostgreSQL did not start")
        subprocess.run([str(bindir / "createdb"), "-h", LOOPBACK, "-p", str(port), "-U", "mlflow", "mlflow"],
                       check=True, capture_output=True)
        yield f"{_postgres_driver()}://mlflow@{LOOPBACK}:{port}/mlflow"
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- CLI: up / status / down / demo ------------------------------------------------------

def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _daemon_from(d: dict) -> Daemon:
    return Daemon(d["name"], d["pid"], d["log"], d["marker"])


def _load_state(state_dir: Path) -> dict | None:
    try:
        return json.loads(_state_file(state_dir).read_text())
    except (OSError, ValueError):
        return None


def _settings(cluster: Cluster, server: TrackingServer | None) -> dict[str, str]:
    env = {"SPARK_OPTS": cluster.spark_opts()}
    if server is not None:
        env["MLFLOW_TRACKING_URI"] = server.uri
    return env


def _daemon_record(d: Daemon) -> dict:
    return {"name": d.name, "pid": d.pid, "log": d.log, "marker": d.marker}


def cmd_up(args) -> int:
    state_dir = Path(args.state_dir)
    old = _load_state(state_dir)
    if old and any(_daemon_from(d).ours() for d in old["daemons"]):
        print(f"pyshim: a cluster is already up (state in {_state_file(state_dir)}); "
              "`python -m pyshim.tools.cluster down` first", file=sys.stderr)
        return 1
    workdir = state_dir / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    cluster = start_cluster(args.workers, args.worker_memory, args.worker_cores, workdir / "spark")
    server = None
    try:
        if not args.no_tracking:
            server = start_tracking_server(None, workdir / "mlflow")
        daemons = [cluster.master, *cluster.workers, *([server.daemon] if server else [])]
        settings = _settings(cluster, server)
        state = {"master_url": cluster.master_url, "webui_url": cluster.webui_url,
                 "tracking_uri": server.uri if server else None, "settings": settings,
                 "daemons": [_daemon_record(d) for d in daemons]}
        _state_file(state_dir).write_text(json.dumps(state, indent=1))
    except BaseException:  # nothing left running that `down` would not know of
        if server is not None:
            server.stop()
        cluster.stop()
        raise
    print(f"Spark master {cluster.master_url} (web UI {cluster.webui_url}), {len(cluster.workers)} workers")
    if server:
        print(f"MLflow tracking server {server.uri} (backend {server.backend_uri})")
    print("Settings for a kernel or notebook server started from this shell:")
    for key, value in settings.items():
        print(f"  export {key}='{value}'")
    return 0


def cmd_status(args) -> int:
    state = _load_state(Path(args.state_dir))
    if not state:
        print("no cluster started by `python -m pyshim.tools.cluster up`")
        return 1
    up = True
    for record in state["daemons"]:
        daemon = _daemon_from(record)
        alive = daemon.ours()
        up &= alive
        print(f"{daemon.name:16} pid {daemon.pid:<8} {'running' if alive else 'stopped'}  log {daemon.log}")
    try:
        workers = [w for w in _get_json(f"{state['webui_url']}/json/").get("workers", []) if w.get("state") == "ALIVE"]
        print(f"master {state['master_url']}: {len(workers)} ALIVE workers")
    except (OSError, ValueError):
        print(f"master {state['master_url']}: not answering")
        up = False
    for key, value in state["settings"].items():
        print(f"  export {key}='{value}'")
    return 0 if up else 1


def cmd_down(args) -> int:
    state_dir = Path(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("nothing to stop")
        return 0
    for record in reversed(state["daemons"]):
        daemon = _daemon_from(record)
        if daemon.ours():
            daemon.stop()
            print(f"stopped {daemon.name} (pid {daemon.pid})")
    _state_file(state_dir).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "run", ignore_errors=True)
    return 0


def cmd_demo(args) -> int:
    """Cluster + tracking server up, the demo against them, everything down again."""
    import importlib.util

    # `kill` or a CI timeout: stop the cluster and the server on the way out, as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with local_cluster(args.workers, args.worker_memory, args.worker_cores) as cluster, \
            tracking_server() as server:
        settings = _settings(cluster, server)
        print(f"pyshim: Spark master {cluster.master_url} ({len(cluster.workers)} workers, web UI "
              f"{cluster.webui_url}); MLflow tracking server {server.uri}", flush=True)
        env = {**os.environ, **settings}
        try:
            if importlib.util.find_spec("pyshim.tools.demo") is not None and not args.builtin:
                return subprocess.call([sys.executable, "-m", "pyshim.tools.demo"], env=env)
            return builtin_demo(env)
        finally:
            print("pyshim: stopping the Spark cluster and the tracking server (to keep them running, "
                  "start them with `python -m pyshim.tools.cluster up`)", flush=True)


# A small end-to-end job: model logged to the tracking server, scored from Scala on the cluster.
_DEMO_CELLS = [
    "%register_model demo_model models:/pyshim_cluster_demo@champion",
    """val scored = spark.range(0, 2000, 1, 8).selectExpr("id", "rand(7) AS a", "rand(8) AS b", "rand(9) AS c")
  .selectExpr("id", "demo_model(a, b, c) AS prediction")
scored.show(5)
val executors = scored.rdd.mapPartitions(_ => Iterator(org.apache.spark.SparkEnv.get.executorId)).distinct.collect.sorted
println(s"rows scored: ${scored.count}, on executors ${executors.mkString(", ")} of ${sc.master}")""",
]


def builtin_demo(env: dict[str, str]) -> int:
    import mlflow
    import pandas as pd
    from jupyter_client.manager import KernelManager
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    train = pd.DataFrame({"a": [0.0, 1.0, 0.5, 0.2], "b": [1.0, 0.0, 0.5, 0.9], "c": [0.3, 0.1, 0.8, 0.4]})
    y = 2 * train.a + train.b - train.c
    model = LinearRegression().fit(train, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(train, y),
                                        registered_model_name="pyshim_cluster_demo")
    mlflow.MlflowClient().set_registered_model_alias("pyshim_cluster_demo", "champion",
                                                     info.registered_model_version)
    log = Path(tempfile.mkdtemp(prefix="pyshim-demo-")) / "kernel.log"
    print(f"pyshim: starting a Scala kernel against the cluster (its log: {log})", flush=True)
    km = KernelManager(kernel_name="pyshim-scala")
    with open(log, "wb") as out:
        km.start_kernel(env=env, stdout=out, stderr=out)
    kc = km.client()
    try:
        kc.start_channels(hb=False)
        kc.wait_for_ready(timeout=300)
        for cell in _DEMO_CELLS:
            print(f"\n>>> {cell.splitlines()[0]}", flush=True)
            reply = kc.execute_interactive(cell, timeout=600, output_hook=_print_output)
            if reply["content"]["status"] != "ok":
                return 1
        return 0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def _print_output(msg) -> None:
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        print(content["text"], end="", flush=True)
    elif kind in ("execute_result", "display_data"):
        print(content["data"].get("text/plain", ""), flush=True)
    elif kind == "error":
        print(f"{content['ename']}: {content['evalue']}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m pyshim.tools.cluster", description=__doc__.split("\n\n")[0])
    top.add_argument("--state-dir", default=str(STATE_DIR), help="where `up` keeps pids and logs")
    sub = top.add_subparsers(dest="command", required=True)
    for name, func, text in [("up", cmd_up, "start a master, workers and an MLflow tracking server; print the settings"),
                             ("demo", cmd_demo, "up, run the demo notebooks against it, down")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--worker-memory", default="1g")
        p.add_argument("--worker-cores", type=int, default=1)
        p.set_defaults(func=func)
        if name == "up":
            p.add_argument("--no-tracking", action="store_true", help="no MLflow tracking server")
        else:
            p.add_argument("--builtin", action="store_true", help="a small built-in job instead of pyshim.tools.demo")
    sub.add_parser("status", help="what `up` started and whether it runs").set_defaults(func=cmd_status)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    args = top.parse_args(argv)
    try:
        return args.func(args)
    except PyshimError as err:
        print(f"pyshim: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
