"""A class-data-sharing archive for the Scala kernel's JVM: seconds off every kernel start.

A kernel start loads and verifies some 20,000 classes of Spark, Scala's compiler and the
kernel (Toree's, or pyshim's extension for pyshim's own kernel) from jars. Since JDK 13 a JVM
can write the classes it loaded to an archive when it exits (-XX:ArchiveClassesAtExit) and
later JVMs map that archive instead (-XX:SharedArchiveFile). `pyshim install` writes the
archive once, from a kernel that runs a few typical cells; the kernel's launcher passes it to
every kernel JVM whose JDK, Spark jars and kernel jar are the ones it was made with (the
kernel and a stamp in its name): Toree's launcher (launch.py), pyspark's for pyshim's kernel
(scala_kernel/jvm.py). A JVM that cannot use an archive logs one warning and starts as usual,
so a stale archive costs only the gain.

PYSHIM_JVM_CACHE=0 turns it off.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import paths

OFF = {"0", "false", "no", "off"}
# Cells whose classes every session loads: the REPL, Spark SQL, codegen, a shuffle.
TRAINING_CELLS = [
    "spark.version",
    'val pyshimTrain = spark.range(0, 20000, 1, 4).selectExpr("id % 7 AS k", "CAST(id AS double) AS v")',
    'pyshimTrain.groupBy("k").agg(org.apache.spark.sql.functions.avg("v")).orderBy("k").collect().length',
    'pyshimTrain.createOrReplaceTempView("pyshim_train"); spark.sql("SELECT k, count(*) FROM pyshim_train GROUP BY k").count()',
    "%%python\nspark.range(3).count()",
]


def enabled(env: dict[str, str]) -> bool:
    return env.get("PYSHIM_JVM_CACHE", "1").strip().lower() not in OFF


def stamp(kernel: str) -> str:
    """Changes when the JDK, the Spark jars or the kernel's jar change."""
    java = paths.java_executable().resolve()
    parts = [str(java), *_stat(java.parent.parent / "lib" / "server" / "libjvm.so")]
    for jar in sorted(paths.spark_jars().glob("*.jar")):
        parts += [jar.name, *_stat(jar)]
    jar = paths.toree_jar() if kernel == "toree" else paths.extension_jar()
    parts += [str(jar), *_stat(jar)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _stat(path: Path) -> list[str]:
    try:
        st = path.stat()
        return [str(st.st_size), str(st.st_mtime_ns)]
    except OSError:
        return ["-"]


def cache_dir(prefix: Path = Path(sys.prefix)) -> Path:
    return prefix / "share" / "pyshim" / "jvm"


def archive(prefix: Path = Path(sys.prefix)) -> Path:
    """The archive of the environment's Scala kernel (paths.scala_kernel)."""
    kernel = paths.scala_kernel(prefix)
    return cache_dir(prefix) / f"{kernel}-{stamp(kernel)}.jsa"


def jvm_options(env: dict[str, str], prefix: Path = Path(sys.prefix)) -> list[str]:
    """The launcher's share: use the archive when there is a current one."""
    if not enabled(env) or "ArchiveClassesAtExit" in env.get("SPARK_SUBMIT_OPTS", ""):
        return []
    try:
        path = archive(prefix)
    except Exception:  # no JDK or no Spark: the launcher reports that itself
        return []
    return [f"-XX:SharedArchiveFile={path}"] if path.is_file() else []


def ensure(prefix: Path = Path(sys.prefix), timeout: float = 300) -> list[str]:
    """`pyshim install`: write the archive if there is no current one (about a minute)."""
    if not enabled(dict(os.environ)):
        return []
    target = archive(prefix)
    failed = _failure_note(target)
    if target.is_file() or failed.is_file():  # made, or tried and failed for these jars
        return []
    print("pyshim: writing the JVM class archive for faster Scala kernel starts (once, about a minute)...",
          flush=True)
    started = time.monotonic()
    error = _train(prefix, target, timeout)
    if error:
        failed.write_text(error + "\n")  # not retried on every install; uninstall clears it
        return [f"skipped the JVM class archive ({error}); kernels start without it"]
    for old in cache_dir(prefix).glob(f"{paths.scala_kernel(prefix)}-*.jsa"):  # the other kernel's stays (SCALA_KERNEL)
        if old != target:
            old.unlink()
    return [f"wrote the JVM class archive {target} in {time.monotonic() - started:.0f} s"]


def _failure_note(target: Path) -> Path:
    """Why the archive for these jars could not be written (its presence stops retries)."""
    return target.with_suffix(".failed")


def remove(prefix: Path = Path(sys.prefix)) -> list[str]:
    folder = cache_dir(prefix)
    if not folder.exists():
        return []
    shutil.rmtree(folder)
    return [f"removed the JVM class archive(s) in {folder}"]


def status(prefix: Path = Path(sys.prefix)) -> tuple[bool, str]:
    """(usable, description) for `pyshim doctor`."""
    if not enabled(dict(os.environ)):
        return True, "off (PYSHIM_JVM_CACHE)"
    target = archive(prefix)
    if target.is_file():
        return True, f"{target} ({target.stat().st_size / 2**20:.0f} MiB)"
    failed = _failure_note(target)
    if failed.is_file():
        return False, f"could not be written: {failed.read_text().strip()}"
    return False, "none for this JDK and these jars"


def _train(prefix: Path, target: Path, timeout: float) -> str | None:
    """Run the kernel with ArchiveClassesAtExit; the archive appears when its JVM exits."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pyshim-jvm-cache-"))
    env = dict(os.environ, HOME=str(work), JUPYTER_RUNTIME_DIR=str(work), PYSHIM_OUTPUT_DIR=str(work),
               MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    env["SPARK_SUBMIT_OPTS"] = f"{env.get('SPARK_SUBMIT_OPTS', '')} -XX:ArchiveClassesAtExit={partial}".strip()
    specs = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="pyshim-scala", kernel_spec_manager=specs,
                       connection_file=str(work / "kernel.json"))
    km.shutdown_wait_time = timeout  # the JVM writes the archive while it exits
    try:
        with open(work / "kernel.log", "wb") as log:
            km.start_kernel(cwd=str(work), env=env, stdout=log, stderr=log)
            client = km.client()
            client.start_channels(hb=False)
            try:
                client.wait_for_ready(timeout=timeout)
                for cell in TRAINING_CELLS:
                    reply = client.execute_interactive(cell, timeout=timeout, output_hook=lambda msg: None)
                    if reply["content"]["status"] != "ok":
                        return f"a training cell failed: {cell.splitlines()[0]}"
            finally:
                client.stop_channels()
                km.shutdown_kernel(now=False)
        if not partial.is_file() or partial.stat().st_size == 0:
            return f"the JVM wrote no archive; see {work / 'kernel.log'}"
        partial.replace(target)
        shutil.rmtree(work, ignore_errors=True)
        return None
    except Exception as err:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        partial.unlink(missing_ok=True)
        return f"{type(err).__name__}: {err}; see {work / 'kernel.log'}"
