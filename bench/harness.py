"""What every benchmark shares: isolation, machine facts, statistics, the model, the kernel.

Imported as a top-level module: `bench/run.py` runs as a script, so bench/ is on sys.path.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # kernel_driver.py

ISOLATED = ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
MODEL_NAME = "bench_model"
BENCH_PREFIX = "BENCH "


class BenchError(RuntimeError):
    """A benchmark could not run; the message says what failed."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- isolation


def isolate(root: Path, spark_opts: str | None = None) -> dict[str, str]:
    """Point HOME, Jupyter's folders and MLflow's store into `root`; returns the new values.

    Kernels are still found in the environment's prefix (.venv/share/jupyter/kernels),
    where `make setup` installed them.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in ISOLATED:
        path = root / name.lower()
        path.mkdir(exist_ok=True)
        os.environ[name] = str(path)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    for name in ("PYSPARK_PYTHON", "TOREE_OPTS", "SPARK_OPTS"):
        os.environ.pop(name, None)
    if spark_opts:
        os.environ["SPARK_OPTS"] = spark_opts
    os.environ.setdefault("PYTHONHASHSEED", "0")
    return {name: os.environ[name] for name in (*ISOLATED, "MLFLOW_TRACKING_URI")}


# ---------------------------------------------------------------- machine facts


def _first_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pyspark", "mlflow", "pandas", "pyarrow", "scikit-learn", "toree", "jupyter_server", "nbconvert"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _java() -> str:
    java = shutil.which("java")
    if os.environ.get("JAVA_HOME"):
        java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    return _first_line([java, "-version"]) if java else "no java found"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    git = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory": _memory(),
        "os": f"{platform.system()} {platform.release()}",
        "java": _java(),
        "python": platform.python_version(),
        "versions": _versions(),
        "git": git + (" (with uncommitted changes)" if dirty else ""),
        "load_average_start": load_average(),
    }


# ---------------------------------------------------------------- statistics


def summary(values: list[float]) -> dict:
    """Median (the figure we report), best, worst and every run, in seconds."""
    if not values:
        return {"runs": [], "median": None, "best": None, "worst": None}
    return {"runs": [round(v, 4) for v in values], "median": round(statistics.median(values), 4),
            "best": round(min(values), 4), "worst": round(max(values), 4)}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


@dataclass
class Target:
    """One goal of the issue: `value <= limit` passes."""
    name: str
    value: float | None
    limit: float
    unit: str = "x"
    note: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "limit": self.limit, "unit": self.unit,
                "passed": self.passed, "note": self.note}


# ---------------------------------------------------------------- the model


def abc_frame(n: int, seed: int):
    import numpy as np
    import pandas as pd

    return pd.DataFrame(np.random.default_rng(seed).random((n, 3)), columns=["a", "b", "c"])


def log_model(artifacts: Path, name: str = MODEL_NAME) -> str:
    """An sklearn ElasticNet on three doubles, logged and registered in the temp store.

    The artifacts go to `artifacts`: with a sqlite store MLflow's default is ./mlruns in the
    current folder, which would put them in the checkout."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import ElasticNet

    artifacts.mkdir(parents=True, exist_ok=True)
    experiment = "pyshim-bench"
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment)
    train = abc_frame(300, 0)
    target = 2 * train.a + train.b - train.c
    model = ElasticNet(alpha=0.001).fit(train, target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        signature=infer_signature(train, model.predict(train)))
    version = info.registered_model_version or 1
    return f"models:/{name}/{version}"


# ---------------------------------------------------------------- the Toree kernel


def parse_bench_lines(text: str) -> list[dict]:
    """The `BENCH {json}` lines a cell printed."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(BENCH_PREFIX):
            out.append(json.loads(line[len(BENCH_PREFIX):]))
    return out


@dataclass
class Toree:
    """A pyshim-scala kernel driven like a notebook; failing cells raise BenchError.

    The kernel of this environment's Spark line (the Toree kernel in .venv), or with `line`
    the kernel of another line's environment (Spark 4: pyshim's own Scala kernel)."""
    workdir: Path
    name: str = "toree"
    started: float = 0.0
    ready_seconds: float = 0.0
    env: dict | None = None  # added to the kernel's environment
    line: "Line | None" = None
    driver: object = field(default=None, repr=False)

    def start(self) -> "Toree":
        from kernel_driver import KernelDriver

        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        manager = None
        if self.line is not None and not self.line.is_current:
            env, manager = self.line.kernel_env(env), self.line.kernel_manager()
        self.started = time.perf_counter()
        self.driver = KernelDriver("pyshim-scala", cwd=self.workdir, log=self.workdir / f"{self.name}.log",
                                   env=env, manager=manager)
        self.ready_seconds = time.perf_counter() - self.started
        return self

    @property
    def pid(self) -> int:
        return self.driver.pid

    def run(self, code: str, timeout: float = 900) -> object:
        """Run a cell with KernelDriver.run (all of a cell's output arrives before its idle status)."""
        result = self.driver.run(code, timeout=timeout)
        if result.status != "ok":
            tail = "\n".join(self.driver.log_text().splitlines()[-15:])
            raise BenchError(f"cell failed in {self.name}:\n{code[:400]}\n--- error ---\n{result.error_text[:3000]}"
                             f"\n--- stdout ---\n{result.stdout[-1500:]}\n--- kernel log tail ---\n{tail}")
        return result

    def python(self, code: str, timeout: float = 900) -> object:
        return self.run("%%python\n" + code, timeout=timeout)

    def measure(self, code: str, python: bool = False, timeout: float = 900) -> list[dict]:
        result = self.python(code, timeout) if python else self.run(code, timeout)
        found = parse_bench_lines(result.stdout)
        if not found:
            raise BenchError(f"no BENCH line from {self.name}:\n{code[:400]}\nstdout: {result.stdout[-1500:]}\n"
                             f"outputs: {str(result.outputs)[:1500]}")
        return found

    def close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.shutdown()
            except Exception as err:  # a benchmark result matters more than a clean exit
                log(f"{self.name}: shutdown failed: {err}")
            self.driver = None


# ---------------------------------------------------------------- the Spark lines


@dataclass(frozen=True)
class Line:
    """A Spark line of the project and the environment `make setup SPARK=...` makes for it."""
    name: str      # "3.5" or "4", as SPARK= spells it
    venv: Path
    kernel: str    # what runs a Scala notebook on it

    @property
    def label(self) -> str:
        return f"Spark {self.name} ({self.kernel})"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def kernels(self) -> Path:
        return self.venv / "share" / "jupyter" / "kernels"

    @property
    def setup_command(self) -> str:
        return "make setup" if self.name == "3.5" else f"make setup SPARK={self.name}"

    @property
    def is_current(self) -> bool:
        """This process runs in the line's environment (its kernels are found as usual)."""
        return Path(sys.prefix).resolve() == self.venv.resolve()

    def missing(self) -> str | None:
        """Why the line's kernel cannot start here (and how to make it), or None."""
        if self.is_current:
            return None
        if not self.python.exists() or not (self.kernels / "pyshim-scala" / "kernel.json").exists():
            return (f"no {self.label} environment in {self.venv.name}: make it with `{self.setup_command}` "
                    "in the checkout, then run the benchmark again")
        return None

    def kernel_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` without what points at this process's environment: the kernel's launcher sets
        SPARK_HOME and PYSPARK_PYTHON to its own environment's only when they are unset."""
        out = {k: v for k, v in env.items() if k not in ("SPARK_HOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON",
                                                          "VIRTUAL_ENV", "PYTHONPATH")}
        here = str(Path(sys.prefix) / "bin")
        out["PATH"] = os.pathsep.join([str(self.venv / "bin"),
                                       *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != here)])
        return out

    def kernel_manager(self):
        """A KernelManager for the line's `pyshim-scala` spec, run by the line's python."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        python = str(self.python)

        class LineKernelManager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                # jupyter_client runs a spec's "python" with its own interpreter: the line's instead.
                cmd = super().format_kernel_cmd(extra_arguments)
                return [python if i == 0 and arg == sys.executable else arg for i, arg in enumerate(cmd)]

        specs = KernelSpecManager(kernel_dirs=[str(self.kernels)], ensure_native_kernel=False)
        return LineKernelManager(kernel_name="pyshim-scala", kernel_spec_manager=specs)

    def versions(self) -> dict[str, str]:
        """pyspark, Scala's library and mlflow of the line's environment."""
        code = ("import json; from importlib.metadata import version as v; "
                "print(json.dumps({n: v(n) for n in ('pyspark', 'mlflow', 'scikit-learn')}))")
        try:
            done = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=120)
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as err:
            return {"error": str(err)}

    def build_extension(self) -> bool:
        """The line's extension jar rebuilt if a Scala source is newer (by the line's python):
        a kernel start never includes a Scala compile. True when it compiled."""
        code = "from pyshim.kernel import scala_build; print(scala_build.build())"
        done = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise BenchError(f"building the extension jar of {self.label} failed: {done.stderr[-2000:]}")
        return done.stdout.strip().endswith("True")


LINES = (Line("3.5", REPO / ".venv", "the Toree kernel"), Line("4", REPO / ".venv-spark4", "pyshim's Scala kernel"))


def current_line() -> Line:
    """The line of the environment this process runs in (by its pyspark's Scala version)."""
    from pyshim import paths

    name = paths.spark_line()
    found = next(line for line in LINES if line.name == name)
    return found if found.is_current else Line(name, Path(sys.prefix), found.kernel)


def other_lines() -> list[Line]:
    here = current_line()
    return [line for line in LINES if line.name != here.name]


# ---------------------------------------------------------------- processes of a kernel


def children(pid: int) -> list[int]:
    """Direct children of `pid` (any of its threads), from /proc/*/stat."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields:
            parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in sorted(parents.items()):
            if ppid == parent and child not in tree:
                tree.append(child)
                frontier.append(child)
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and every live descendant, with the
    children they already reaped. Less sensitive to a busy machine than wall time."""
    ticks = 0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields:  # utime, stime, cutime, cstime are fields 14-17 of stat (11-14 after the name)
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _kib(pid: int, path: str, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_kind(pid: int) -> str:
    """What a process of a kernel is, from its command line (and its parent's, for a worker)."""
    cmd = cmdline(pid)
    first = Path(cmd.split(" ", 1)[0]).name if cmd else ""
    if first == "java":  # before the daemons: the JVM's own command line names the daemon module
        return "JVM (Spark driver" + (", Toree)" if "toree" in cmd.lower() else ")")
    if any(d in cmd for d in ("pyspark.daemon", "pyshim.bridge.daemon")):
        fields = _stat_fields(pid)
        forked = fields is not None and cmdline(int(fields[1])) == cmd
        return "Python worker (forked by the daemon)" if forked else "Python worker daemon"
    if "pyshim.scala_kernel" in cmd:
        return "kernel (Python: Jupyter protocol, %%python)"
    if "pyshim.bridge.sidecar" in cmd:
        return "sidecar (Python: %%python)"
    return first or "?"


def tree_memory(pid: int) -> dict:
    """Memory of `pid` and its live descendants: RSS (what `ps` shows, shared pages counted in
    every process) and PSS (shared pages split among their users), in MiB, per process too."""
    processes = []
    for member in process_tree(pid):
        rss = _kib(member, "status", "VmRSS")
        if rss is None:
            continue  # gone meanwhile, or a zombie
        pss = _kib(member, "smaps_rollup", "Pss")
        processes.append({"pid": member, "kind": process_kind(member), "rss_mib": round(rss / 1024, 1),
                          "pss_mib": None if pss is None else round(pss / 1024, 1)})
    pss_known = all(p["pss_mib"] is not None for p in processes)
    return {"rss_mib": round(sum(p["rss_mib"] for p in processes), 1),
            "pss_mib": round(sum(p["pss_mib"] for p in processes), 1) if pss_known else None,
            "processes": processes}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def pyspark_daemons(kernel_pid: int) -> list[int]:
    """The worker daemons (one per Python worker pool, pyspark.daemon or pyshim.bridge.daemon)
    started by a kernel JVM."""
    return [p for p in children(kernel_pid) if any(d in cmdline(p) for d in ("pyspark.daemon", "pyshim.bridge.daemon"))]


def find_pyspy(explicit: str | None) -> str | None:
    for candidate in (explicit, shutil.which("py-spy"), "/tmp/pyspy/bin/py-spy"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class PySpy:
    """`py-spy record` of a process and its children while a block runs (for the profile)."""

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 100):
        self.cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                    "--rate", str(rate), "--format", "raw", "--output", str(out)]
        self.out = out
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "PySpy":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach before the measured work starts
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# What a Python worker's sample was doing: the frame nearest the leaf that matches decides.
WORKER_CATEGORIES = [
    ("importlib.invalidate_caches (zip indexes re-read every task)", ("invalidate_caches",)),
    ("Arrow/pandas (de)serialization", ("serializers.py", "pyarrow/", "dump_stream", "load_stream")),
    ("model load", ("load_model", "_load_pyfunc")),
    ("imports", ("<frozen importlib._bootstrap>",)),
    ("model predict and UDF code", ("predict", "_worker.py", "pyshim_bench_identity")),
]


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):  # py-spy's raw stacks are root first
        for name, needles in WORKER_CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def classify_pyspy(raw: Path) -> dict:
    """Share of the Python workers' busy samples by what they were doing."""
    counts: dict[str, int] = {}
    busy = 0
    if not raw.exists():
        return {"samples": 0, "shares": {}}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if not any(f.startswith("worker (") or f.startswith("main (") and "worker.py" in f for f in frames):
            continue  # the daemon's manager waiting for work
        samples = int(n)
        busy += samples
        label = _category(frames)
        counts[label] = counts.get(label, 0) + samples
    shares = {k: round(v / busy, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])} if busy else {}
    return {"samples": busy, "shares": shares}
