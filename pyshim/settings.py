"""Every environment variable a user may set, with its default: the one list.

The modules that read a setting take its default from here (`default(name)`), and the docs'
settings page renders these tables (docs/conf.py), so a default is written once.
tests/test_docs.py fails when a `PYSHIM_*` name appears in the code but not here (or in
INTERNAL), and when a name listed here no longer appears in the code.

Imports nothing heavy: Spark's Python workers import it (pyshim.bridge.daemon).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    effect: str           # Markdown, one or two sentences
    default: str = ""     # the value the code uses when the variable is unset ("" when there is none)
    shown_default: str = ""  # what the docs say when the default is not a plain value
    group: str = "kernel"


# The tables of the docs' settings page, one per group.
GROUPS = ("kernel", "models", "notebooks", "tools")

SETTINGS: tuple[Setting, ...] = (
    # --- the kernels and Spark ---
    Setting("SPARK_OPTS", "spark-submit options of the Toree kernel (`--master`, executor memory and cores, "
            "`--conf k=v`); the Python notebooks' `defaults.spark_session()` reads the same variable",
            shown_default="none: `local[*]`"),
    Setting("TOREE_OPTS", "extra options of the Toree kernel"),
    Setting("SPARK_LOCAL_IP", "the address the driver (the kernel) binds to; on a cluster, an address of this "
            "machine that the workers reach", default="127.0.0.1"),
    Setting("PYSPARK_PYTHON", "the python of Spark's Python workers (on a cluster: that python on every executor)",
            shown_default="this environment's python"),
    Setting("JAVA_HOME", "the JDK 17 that runs Spark and the kernels", shown_default="`java` on `PATH`"),
    Setting("PYSHIM_SCALA_KERNEL", "read by `pyshim install` (`make setup SCALA_KERNEL=...`): which Scala kernel the "
            "`pyshim-scala` kernel spec runs, `toree` (Spark 3.5 only) or `pyshim` (pyshim's own, both lines); "
            "kept until changed", shown_default="the installed one; at first `toree` on Spark 3.5, `pyshim` on Spark 4"),
    Setting("PYSHIM_WARM_START", "`0`: make what a first `%register_model` needs (the Toree kernel's Python sidecar, "
            "mlflow's and the model compiler's imports) on first use, not as the kernel starts "
            "(a Scala-only notebook on the Toree kernel then never starts Python); Spark's Python workers start "
            "with the first model function that runs in them either way", default="1"),
    Setting("PYSHIM_JVM_CACHE", "`0`: no JVM class archive (not written by `pyshim install`, not used by kernels)",
            default="1"),
    Setting("PYSHIM_PROGRESS", "`0`: no Spark job progress display in cells (the interrupt still cancels only the "
            "cell's jobs)", default="1"),
    Setting("PYSHIM_WORKER_PRELOAD", "libraries Spark's Python worker daemon imports before forking, "
            "comma-separated (empty for none)", default="sklearn,skops.io,mlflow.sklearn"),
    Setting("PYSHIM_PYTHON", "the python of the sidecar; pyshim's kernel launcher sets it to this environment's "
            "python", shown_default="this environment's python"),
    # --- MLflow and model functions ---
    Setting("MLFLOW_TRACKING_URI", "the MLflow store where `%register_model` resolves `models:/` and `runs:/` "
            "URIs, and where the notebooks and jobs log", shown_default="`sqlite:///<checkout>/.pyshim/mlflow.db` "
            "(git-ignored)", group="models"),
    Setting("PYSHIM_NATIVE_CACHE", "where registration keeps what it decided for each model version (the checked "
            "Spark SQL, or why the model runs in Python workers), so a kernel restart compiles nothing again; `0`: "
            "no such folder", shown_default="`$XDG_CACHE_HOME/pyshim/native` (`~/.cache/pyshim/native`)", group="models"),
    Setting("MLFLOW_ALLOW_FILE_STORE", "`true` lets MLflow 3.17 use a `file:` tracking URI", group="models"),
    Setting("PYSHIM_PANDAS_PUT_LIMIT_MB", "the largest pandas DataFrame `z.put` copies into Spark, in MB",
            default="100", group="models"),
    # --- notebooks, jobs and lineage ---
    Setting("PYSHIM_OUTPUT_DIR", "where the example notebooks write Parquet",
            shown_default="`<checkout>/.pyshim/output`", group="notebooks"),
    Setting("PYSHIM_JOB_EXPERIMENT", "the MLflow experiment of `pyshim run` jobs (`--experiment` wins over it)",
            default="pyshim-jobs", group="notebooks"),
    Setting("PYSHIM_JOB_RUN_ID", "set by `pyshim run` in the kernel: the job's MLflow run, which the notebook "
            "may log into and where the lineage of its writes goes", group="notebooks"),
    Setting("PYSHIM_JOB_NAME", "set by `pyshim run` in the kernel: the notebook's path", group="notebooks"),
    Setting("PYSHIM_LINEAGE", "`0`: record no lineage of writes", default="1", group="notebooks"),
    Setting("OPENLINEAGE_URL", "send lineage as OpenLineage events over HTTP (as do `OPENLINEAGE__TRANSPORT__*` "
            "and `OPENLINEAGE_CONFIG`, read by openlineage-python); no events when none is set", group="notebooks"),
    Setting("OPENLINEAGE_CONFIG", "an openlineage-python config file (`openlineage.yml`) naming the transport",
            group="notebooks"),
    Setting("OPENLINEAGE_DISABLED", "`true`: no OpenLineage events even with a transport configured",
            group="notebooks"),
    Setting("OPENLINEAGE_NAMESPACE", "the OpenLineage namespace of the jobs", default="pyshim", group="notebooks"),
    # --- make serve and the local cluster ---
    Setting("MODEL", "the model `make serve` serves", default="models:/wine_classifier@champion", group="tools"),
    Setting("PYSHIM_SERVE_PORT", "the port of `make serve` on 127.0.0.1", default="5001", group="tools"),
    Setting("PYSHIM_CLUSTER_DAEMON_MEMORY", "the memory of the Spark master and worker daemons that "
            "`python -m pyshim.tools.cluster up` starts", default="256m", group="tools"),
)

# Names pyshim passes between its own processes: not settings, listed so that the check of
# tests/test_docs.py knows them.
INTERNAL = {
    "PYSHIM_GATEWAY_PORT": "the sidecar's py4j gateway port, from the kernel",
    "PYSHIM_GATEWAY_SECRET": "the gateway's secret, through the environment (never argv)",
    "PYSHIM_SIDECAR_LOG": "the sidecar's log file, named in short errors",
    "PYSHIM_WARM_UP": "tells a sidecar started by the warm start to warm the Python workers",
    "PYSHIM_SNIPPETS": "the folder `%load NAME` looks in, set by the kernel launcher",
    "PYSHIM_BENCH_POOL": "bench/: separate Python worker pools for the alternatives measured",
    "PYSHIM_KERNEL_RESOURCES": "the Spark 4 kernel spec's folder (its log4j2.properties), from the kernel's argv",
}

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def default(name: str) -> str:
    """The value the code uses when `name` is unset."""
    return _BY_NAME[name].default


def markdown_table(group: str) -> list[str]:
    """The settings of one group as the lines of a Markdown table."""
    if group not in GROUPS:
        raise ValueError(f"unknown settings group {group!r}; choose one of {', '.join(GROUPS)}")
    lines = ["| variable | default | effect |", "| --- | --- | --- |"]
    for item in SETTINGS:
        if item.group == group:
            shown = item.shown_default or (f"`{item.default}`" if item.default else "unset")
            lines.append(f"| `{item.name}` | {shown} | {item.effect} |")
    return lines
