"""The embedded defaults: an MLflow store and an output folder inside the project, local Spark.

Nothing to start by hand. The environment wins over every default:

- `MLFLOW_TRACKING_URI` (default `sqlite:///<repo>/.pyshim/mlflow.db`, artifacts in
  `<repo>/.pyshim/artifacts`)
- `PYSHIM_OUTPUT_DIR` (default `<repo>/.pyshim/output`): where the notebooks write Parquet
- `SPARK_OPTS` (default none: `local[*]`): spark-submit options, as for the Toree kernel

Used by `python -m pyshim.tools.demo` and by the `%load` snippets in notebooks/snippets/.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from .paths import REPO_ROOT

HOME = REPO_ROOT / ".pyshim"               # git-ignored
MLFLOW_DB = HOME / "mlflow.db"
ARTIFACTS = HOME / "artifacts"
OUTPUT_DIR = HOME / "output"
EXPERIMENT = "pyshim-demo"

# HotSpot never JIT-compiles a method past 8000 bytes of bytecode unless told to, and Spark's
# generated Java for a tree ensemble has such methods: a 10-tree forest compiled to SQL ran 7x
# slower without this (pyshim/native/compile.py has the measurements). Set for the driver and
# the executors of the Toree kernel and of spark_session().
JIT_HUGE_METHODS = "-XX:-DontCompileHugeMethods"

# Lineage of every write (scala/src/pyshim/Lineage.scala), in the Toree kernel and in
# spark_session(): a Spark QueryExecutionListener in pyshim's extension jar.
LINEAGE_LISTENER = "pyshim.Lineage"

# Spark settings of the project's Python notebooks (the Toree kernel gets SPARK_OPTS the same way).
SPARK_CONF = {
    "spark.driver.extraJavaOptions": JIT_HUGE_METHODS,
    "spark.executor.extraJavaOptions": JIT_HUGE_METHODS,
    "spark.sql.shuffle.partitions": "8",        # small data on a laptop: 200 tasks per shuffle is slow
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",    # no progress bars in notebook outputs
}


def spark_conf(env: dict[str, str] | None = None) -> dict[str, str]:
    """SPARK_CONF, and a warehouse folder under the output folder (not spark-warehouse/ in the
    kernel's working folder, which is the notebooks folder)."""
    return {**SPARK_CONF, "spark.sql.warehouse.dir": str(output_dir(env) / "spark-warehouse")}


def tracking_uri(env: dict[str, str] | None = None) -> str:
    """MLFLOW_TRACKING_URI when set, else the project's embedded SQLite store."""
    env = os.environ if env is None else env
    return env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{MLFLOW_DB}"


def output_dir(env: dict[str, str] | None = None, create: bool = True) -> Path:
    """PYSHIM_OUTPUT_DIR when set, else <repo>/.pyshim/output; created if missing."""
    env = os.environ if env is None else env
    folder = Path(env.get("PYSHIM_OUTPUT_DIR") or OUTPUT_DIR).expanduser().resolve()
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite tracking URI (SQLAlchemy's form: `sqlite:///relative.db`,
    `sqlite:////absolute.db`), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0]).resolve()


def artifact_location(uri: str) -> str | None:
    """Artifacts of a local SQLite store go beside its database (`<db folder>/artifacts`).

    For a tracking server (http, databricks) the server decides: None. MLflow's own default
    for a SQLite store is ./mlruns in whatever folder the kernel runs in, which scatters
    artifacts over notebook folders.
    """
    db = sqlite_path(uri)
    return None if db is None else str(db.parent / "artifacts")


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with the embedded defaults filled in where unset."""
    env = dict(os.environ if base is None else base)
    env["MLFLOW_TRACKING_URI"] = tracking_uri(env)
    env["PYSHIM_OUTPUT_DIR"] = str(output_dir(env, create=False))
    return env


def use_mlflow(experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the tracking URI and experiment; return the tracking URI.

    A new experiment in a local SQLite store gets its artifacts beside the database.
    """
    import mlflow

    uri = tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        # A new store: its Default experiment would keep artifacts in ./mlruns of whatever
        # folder this process runs in; create it with its artifacts beside the database.
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        db.parent.mkdir(parents=True, exist_ok=True)
        SqlAlchemyStore(uri, artifact_location(uri))
    mlflow.set_tracking_uri(uri)
    if experiment and mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location(uri))
    if experiment:
        mlflow.set_experiment(experiment)
    return uri


def spark_session(app_name: str = "pyshim"):
    """A SparkSession with the project's settings: local[*] unless SPARK_OPTS says otherwise.

    SPARK_OPTS holds spark-submit options (`--master spark://host:7077 --conf k=v`), the
    same variable the Toree kernel reads; PySpark gets them through PYSPARK_SUBMIT_ARGS, and
    a `--conf` there, or a setting in Spark's spark-defaults.conf, wins over the project's
    setting of the same key.
    """
    from pyspark.sql import SparkSession

    opts = os.environ.get("SPARK_OPTS", "").strip()
    if opts and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"{opts} pyspark-shell"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: Spark's ports on loopback
    given = settings_given(opts)
    builder = SparkSession.builder.appName(app_name)
    if "spark.master" not in given:
        builder = builder.master("local[*]")
    for key, value in {**spark_conf(), **_lineage_conf(given, opts)}.items():
        if key not in given:
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _flush_lineage_after_cells(spark)
    return spark


def _lineage_conf(given: set[str], opts: str = "") -> dict[str, str]:
    """pyshim's jar (model functions that run natively, the lineage listener) and the
    listener, unless the user set spark.jars or the listeners themselves (then they add
    pyshim.Lineage and the jar, as docs/jobs.md says). The jar is built if a source changed."""
    import sys

    from . import paths
    from .kernel import scala_build

    if {"spark.jars", "spark.sql.queryExecutionListeners"} & given or "--jars" in shlex.split(opts):
        return {}
    scala_build.build()
    return {"spark.jars": str(paths.EXTENSION_JAR), "spark.sql.queryExecutionListeners": LINEAGE_LISTENER,
            "spark.pyshim.python": sys.executable}


def _flush_lineage_after_cells(spark) -> None:
    """In IPython, a cell ends once the lineage of its writes is recorded, as in the Toree kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from . import lineage

    if lineage.flush_hook not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", lineage.flush_hook)


def settings_given(opts: str, env: dict[str, str] | None = None) -> set[str]:
    """Spark settings the user or the cluster's admin chose: in spark-submit options OPTS, or
    in spark-defaults.conf (which a `--conf` of ours would override)."""
    return _submit_settings(opts) | _spark_defaults_keys(os.environ if env is None else env)


def _spark_defaults_keys(env: dict[str, str]) -> set[str]:
    from .paths import spark_home

    folder = Path(env["SPARK_CONF_DIR"]) if env.get("SPARK_CONF_DIR") else spark_home() / "conf"
    try:
        lines = (folder / "spark-defaults.conf").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _submit_settings(opts: str) -> set[str]:
    """Spark settings that spark-submit options set: `--master X` is spark.master,
    `--driver-java-options X` is spark.driver.extraJavaOptions, `--conf k=v` is k."""
    words, keys = shlex.split(opts), set()
    for i, word in enumerate(words):
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "--master" or word.startswith("--master="):
            keys.add("spark.master")
        elif word == "--driver-java-options" or word.startswith("--driver-java-options="):
            keys.add("spark.driver.extraJavaOptions")
        elif word == "--conf":
            keys.add(value.split("=", 1)[0])
        elif word.startswith("--conf="):
            keys.add(word[len("--conf="):].split("=", 1)[0])
    return keys


def quiet_missing_widgets() -> None:
    """MLflow imports tqdm.auto, which warns in every Jupyter kernel that ipywidgets is missing
    ("IProgress not found") at the first `import mlflow`: tqdm's text bars serve, so in a
    notebook that warning is only noise."""
    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")
