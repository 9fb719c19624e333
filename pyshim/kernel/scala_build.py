"""Compile pyshim's Scala extension (scala/src) with the Scala compiler that ships in pyspark.

No sbt, no Maven: pyspark's jars/ folder holds scala-compiler, scala-library and
scala-reflect (2.12 in pyspark 3.5, 2.13 in pyspark 4), and the Toree assembly holds the
magic API. Which folders of scala/src go in depends on the line, as in Spark's own
scala-2.12/ and scala-2.13/ source folders:

    pyshim/   spark/   repl/        both lines (shared: models, progress, lineage, output)
    toree/                          Scala 2.12 only: the Toree kernel's glue
    scala-2.12/  scala-2.13/        what differs between the two REPL APIs

The jar is rebuilt only when a source is newer than it; the build goes to a temp folder and
is renamed into place, so two kernels starting at once never see half a jar.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .. import paths
from ..errors import ScalaBuildError


SHARED = ("pyshim", "spark", "repl")


def folders(scala_version: str) -> tuple[str, ...]:
    line = ("toree",) if scala_version == "2.12" else ()
    return (*SHARED, *line, f"scala-{scala_version}")


def sources(src: Path = paths.SCALA_SRC, scala_version: str | None = None) -> list[Path]:
    version = scala_version or paths.scala_version()
    return sorted(f for folder in folders(version) for f in (src / folder).rglob("*.scala"))


def is_stale(jar: Path | None = None, src: Path = paths.SCALA_SRC) -> bool:
    jar = jar or paths.extension_jar()
    if not jar.exists():
        return True
    newest = max((p.stat().st_mtime for p in sources(src)), default=0.0)
    return newest > jar.stat().st_mtime


def compile_classpath() -> str:
    jars = sorted(paths.spark_jars().glob("*.jar"))
    if paths.scala_version() == "2.12":
        jars.append(paths.toree_jar())  # the magic API and Toree's interpreter
    return os.pathsep.join(str(j) for j in jars)


def compiler_command(out_dir: Path, src_files: list[Path]) -> list[str]:
    compiler_cp = os.pathsep.join(
        str(paths.scala_jar(name)) for name in ("scala-compiler", "scala-library", "scala-reflect"))
    return [str(paths.java_executable()), "-Xss4m", "-cp", compiler_cp, "scala.tools.nsc.Main",
            "-nowarn", "-usejavacp:false", "-classpath", compile_classpath(),
            "-d", str(out_dir), *map(str, src_files)]


def build(jar: Path | None = None, src: Path = paths.SCALA_SRC, force: bool = False) -> bool:
    """Build the jar if a source changed. Returns True when it compiled."""
    jar = jar or paths.extension_jar()
    if not force and not is_stale(jar, src):
        return False
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent, prefix=".build-") as tmp:
        classes = Path(tmp) / "classes"
        classes.mkdir()
        result = subprocess.run(compiler_command(classes, sources(src)),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ScalaBuildError.from_compiler(result.stdout + result.stderr)
        staged = Path(tmp) / jar.name
        subprocess.run([str(paths.java_tool("jar")), "cf", str(staged), "-C", str(classes), "."],
                       check=True, capture_output=True)
        os.replace(staged, jar)
    return True
