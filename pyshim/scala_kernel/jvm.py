"""The Spark driver JVM of pyshim's Scala kernel: the SparkSession and Scala's REPL in it.

pyspark starts the JVM (spark-submit, as for any PySpark session) with pyshim's extension jar
on the driver's class path: the REPL compiles cells against the JVM's class path
(`-usejavacp`), so `pyshim.Models`, `pyshim.z` and the lineage listener are visible to cells.
The REPL writes the classes of cells to a folder that the driver serves to executors
(spark.repl.class.outputDir), so closures and case classes of cells run on a cluster too.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import defaults, paths
from ..errors import SetupError
from ..kernel import jvm_cache

MIN_JAVA = {"4": 17, "3.5": 8}


@dataclass
class Jvm:
    """What the kernel holds of the JVM: PySpark's view of it and the REPL's entry point."""
    spark: object          # pyspark.sql.SparkSession
    repl: object           # py4j view of pyshim.repl.ReplKernel
    bridge: object         # py4j view of pyshim.Bridge (requests of Scala code for Python)
    version_line: str
    class_dir: Path


def check_java() -> None:
    """Spark 4 needs Java 17 or newer: say so in one line instead of a JVM stack trace."""
    from ..kernel.doctor import java_version

    line = paths.spark_line()
    found, _ = java_version()
    if found < MIN_JAVA[line]:
        raise SetupError(f"Spark {line} needs Java {MIN_JAVA[line]} or newer, and {paths.java_executable()} is Java {found}",
                         f"install a JDK {MIN_JAVA[line]} (on Debian: apt-get install openjdk-17-jdk-headless) "
                         "and set JAVA_HOME to it")


def kernel_conf(class_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """The kernel's Spark settings, as the Toree kernel's launcher sets them (launch.py)."""
    jar = str(paths.extension_jar())
    conf = {
        "spark.app.name": "pyshim-scala",
        "spark.repl.class.outputDir": str(class_dir),
        "spark.driver.extraClassPath": jar,      # the REPL compiles against the JVM's class path
        "spark.jars": jar,                        # executors: native model functions, listeners
        "spark.sql.queryExecutionListeners": defaults.LINEAGE_LISTENER,
        "spark.pyshim.python": sys.executable,
        # pyspark's launcher turns Spark's console progress bar on (a shell's): its frames would
        # go to the kernel's log and, on Spark 3.5, into cells; the cells' own display replaces it.
        "spark.ui.showConsoleProgress": "false",
        # As the Toree kernel's launcher sets them (launch.py), no more: a notebook moves
        # between the lines with the same session settings.
        "spark.sql.warehouse.dir": str(defaults.output_dir(env, create=False) / "spark-warehouse"),
        "spark.driver.extraJavaOptions": defaults.JIT_HUGE_METHODS,
        "spark.executor.extraJavaOptions": defaults.JIT_HUGE_METHODS,
    }
    if env.get("PYSPARK_PYTHON", sys.executable) == sys.executable:
        conf["spark.python.daemon.module"] = "pyshim.bridge.daemon"
    # The class archive `pyshim install` wrote of this kernel's JVM (kernel/jvm_cache.py), as
    # Toree's launcher passes it: the driver is the JVM pyspark's spark-submit starts here.
    for option in jvm_cache.jvm_options(env):
        conf["spark.driver.extraJavaOptions"] += f" {option}"
    resource_dir = env.get("PYSHIM_KERNEL_RESOURCES")
    if resource_dir and (Path(resource_dir) / "log4j2.properties").exists():
        conf["spark.driver.extraJavaOptions"] += f" -Dlog4j2.configurationFile=file:{Path(resource_dir) / 'log4j2.properties'}"
    return conf


def start(env: dict[str, str] | None = None) -> Jvm:
    """Start Spark (SPARK_OPTS as with Toree: `--master spark://...`), then the REPL."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    env = dict(os.environ if env is None else env)
    class_dir = Path(tempfile.mkdtemp(prefix="pyshim-repl-classes-"))
    atexit.register(shutil.rmtree, class_dir, True)  # the cells' classes end with the kernel
    opts = env.get("SPARK_OPTS", "").strip()
    if opts and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"{opts} pyspark-shell"
    given = defaults.settings_given(opts, env)
    conf = SparkConf()
    if "spark.master" not in given:
        conf.setMaster("local[*]")
    for key, value in kernel_conf(class_dir, env).items():
        if key not in given:
            conf.set(key, value)
    # The JVM's own output (Spark's start-up lines, its log) goes to the kernel's log, as
    # Toree's does: not into whichever cell runs first (ipykernel captures this process's
    # file descriptors 1 and 2 for the cells).
    log = kernel_log()
    gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
    spark = SparkSession(SparkContext(gateway=gateway, conf=conf))
    jvm = spark.sparkContext._jvm
    repl = jvm.pyshim.repl.ReplKernel
    version_line = repl.start(spark._jsparkSession, str(class_dir))
    return Jvm(spark=spark, repl=repl, bridge=jvm.pyshim.Bridge, version_line=version_line, class_dir=class_dir)


def stop(j: Jvm, timeout: float = 300) -> None:
    """Stop Spark, then end its JVM as pyspark means it to end: its stdin closed, it exits by
    itself (running its exit hooks, such as writing a class archive)."""
    process = j.spark.sparkContext._gateway.proc
    j.spark.stop()
    if process is not None and process.stdin is not None:
        process.stdin.close()
        process.wait(timeout=timeout)


def kernel_log():
    """The kernel process's stderr as it was before ipykernel captured it (the server's log)."""
    original = getattr(sys.stderr, "_original_stdstream_copy", None)
    return original if original is not None else sys.__stderr__
