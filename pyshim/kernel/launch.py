"""Start the Toree Scala kernel: `python -m pyshim.kernel.launch --resource-dir D --connection-file F`.

The kernel spec stays free of machine paths; this resolves them at start, builds the
extension jar if a source changed, and execs spark-submit so that the JVM becomes the
kernel process (signals from Jupyter reach it directly).

SPARK_OPTS and TOREE_OPTS from the environment are passed through, as with the stock
Toree kernel, so `SPARK_OPTS="--master spark://host:7077"` works at run time.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from .. import defaults, paths
from . import jvm_cache, scala_build
from ..errors import PyshimError

# Toree's plugin searcher reflects into java.util.jar; Java 17 forbids it without this.
# Spark's launcher adds its own --add-opens list for Spark itself.
JAVA17_OPENS = ["--add-opens=java.base/java.util.jar=ALL-UNNAMED"]


# Toree's Scala interpreter replaced by pyshim's (scala/src/toree/CellInterpreter.scala:
# all of a cell's output before its reply, short errors of models and Python UDFs, the
# cell's Spark jobs tagged for its progress display), and its SQL interpreter by one that
# runs %%sql on the cell's thread, with the cell's tag (SqlCellInterpreter.scala). Toree's
# --interpreter-plugin cannot replace "Scala": its reference.conf's default list is applied
# after it; a system property overrides that list (Typesafe config reads `name.N` as a list).
INTERPRETERS = ["-Ddefault_interpreter_plugin.0=Scala:org.apache.toree.pyshim.CellInterpreter",
                "-Ddefault_interpreter_plugin.1=SQL:org.apache.toree.pyshim.SqlCellInterpreter"]


def _merge_jars(spark_opts: list[str], jar: str) -> list[str]:
    """Keep a user's --jars and add ours to it instead of being overridden."""
    opts = list(spark_opts)
    for i, opt in enumerate(opts[:-1]):
        if opt == "--jars":
            opts[i + 1] = f"{opts[i + 1]},{jar}"
            return opts
    return [*opts, "--jars", jar]


def _with_listener(spark_opts: list[str], listener: str = defaults.LINEAGE_LISTENER) -> list[str]:
    """Lineage of every write (scala/src/pyshim/Lineage.scala): added to a user's own
    listeners, never in their place."""
    opts = list(spark_opts)
    key = "spark.sql.queryExecutionListeners="
    for i, opt in enumerate(opts):
        value = opts[i + 1] if opt == "--conf" and i + 1 < len(opts) else opt[len("--conf="):] if opt.startswith("--conf=") else None
        if value is not None and value.startswith(key):
            names = [n for n in value[len(key):].split(",") if n.strip()]
            merged = key + ",".join(names + ([] if listener in names else [listener]))
            if opt == "--conf":
                opts[i + 1] = merged
            else:
                opts[i] = "--conf=" + merged
            return opts
    return [*opts, "--conf", key + listener]


def kernel_environment(resource_dir: Path | None, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env["SPARK_HOME"] = str(paths.spark_home())
    env.setdefault("PYSPARK_PYTHON", paths.environment_python())
    env["PYSHIM_PYTHON"] = paths.environment_python()
    java_home = env.get("JAVA_HOME")
    if not java_home:
        env["JAVA_HOME"] = str(paths.java_executable().resolve().parent.parent)
    submit_opts = [env.get("SPARK_SUBMIT_OPTS", ""), *JAVA17_OPENS, *INTERPRETERS, defaults.JIT_HUGE_METHODS,
                   *jvm_cache.jvm_options(env)]
    if resource_dir and (resource_dir / "log4j2.properties").exists():
        # Spark's default logs INFO to the kernel's stderr; WARN keeps the server log readable.
        submit_opts.append(f"-Dlog4j2.configurationFile=file:{resource_dir / 'log4j2.properties'}")
    env["SPARK_SUBMIT_OPTS"] = " ".join(o for o in submit_opts if o)
    env.setdefault("PYSHIM_SNIPPETS", str(paths.SNIPPETS_DIR))
    # The embedded MLflow store unless the user chose one: the sidecar, and a sidecar
    # restarted later, must resolve models where the notebook registered them.
    env["MLFLOW_TRACKING_URI"] = defaults.tracking_uri(env)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: keep Spark's ports on loopback
    env.setdefault("PYTHONHASHSEED", "0")  # Spark needs it fixed across Python workers
    return env


def kernel_command(connection_file: str, env: dict[str, str]) -> list[str]:
    jar = str(paths.EXTENSION_JAR)
    # --jars puts the extension in the class loader that holds Toree (its classes extend
    # Toree's), which is also the REPL's class path. The driver's system class path would
    # need Toree there too, and Toree's bundled SLF4J 1 then silences Spark's logging.
    spark_opts = shlex.split(env.get("SPARK_OPTS", ""))
    if "spark.sql.warehouse.dir" not in env.get("SPARK_OPTS", ""):
        # Not spark-warehouse/ in the notebook's folder (the kernel's working folder).
        spark_opts += ["--conf", f"spark.sql.warehouse.dir={defaults.output_dir(env, create=False) / 'spark-warehouse'}"]
    spark_opts += _worker_daemon_conf(env)
    spark_opts = _with_listener(spark_opts)
    if "spark.executor.extraJavaOptions" not in defaults.settings_given(env.get("SPARK_OPTS", ""), env):
        # A cluster's executors run the native model functions; the driver gets it above.
        spark_opts += ["--conf", f"spark.executor.extraJavaOptions={defaults.JIT_HUGE_METHODS}"]
    toree_opts = shlex.split(env.get("TOREE_OPTS", ""))
    return [
        str(paths.spark_home() / "bin" / "spark-submit"),
        "--name", "pyshim-toree",
        *_merge_jars(spark_opts, jar),
        "--class", "org.apache.toree.Main",
        str(paths.toree_jar()),
        "--magic-url", Path(jar).as_uri(),
        *toree_opts,
        "--profile", connection_file,
    ]


def _worker_daemon_conf(env: dict[str, str]) -> list[str]:
    """Python workers forked from pyshim.bridge.daemon start with the model libraries imported.
    Only when they run this environment's python (the one that has pyshim) and the
    user chose no daemon of their own."""
    if "spark.python.daemon.module" in env.get("SPARK_OPTS", ""):
        return []
    if env.get("PYSPARK_PYTHON") != env.get("PYSHIM_PYTHON"):
        return []
    return ["--conf", "spark.python.daemon.module=pyshim.bridge.daemon"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyshim.kernel.launch", description=__doc__)
    parser.add_argument("--resource-dir", type=Path)
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    args = parser.parse_args(argv)
    try:
        scala_build.build()
        env = kernel_environment(args.resource_dir, dict(os.environ))
        cmd = kernel_command(args.connection_file, env)
    except PyshimError as err:
        print(f"pyshim: cannot start the Toree kernel: {err}", file=sys.stderr)
        return 1
    if args.print:
        print(shlex.join(cmd))
        return 0
    # Jupyter interrupts a kernel with SIGINT. A server started in the background (`&` in a
    # script, a CI job) hands SIGINT on as ignored, and a JVM that starts with it ignored
    # installs no handler at all (Toree's and ours are silently dropped): Ctrl-C would do
    # nothing. Give the JVM the default disposition, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(cmd[0], cmd, env)
    return 0  # unreachable


if __name__ == "__main__":
    sys.exit(main())
