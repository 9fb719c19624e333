"""Compile the Toree extension (scala/src) with the Scala 2.12 compiler that ships in pyspark.

No sbt, no Maven: pyspark's jars/ folder holds scala-compiler, scala-library and
scala-reflect, and the Toree assembly holds the magic API. The jar is rebuilt only when
a source is newer than it; the build goes to a temp folder and is renamed into place, so
two kernels starting at once never see half a jar.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .. import paths
from ..errors import ScalaBuildError


def sources(src: Path = paths.SCALA_SRC) -> list[Path]:
    return sorted(src.rglob("*.scala"))


def is_stale(jar: Path = paths.EXTENSION_JAR, src: Path = paths.SCALA_SRC) -> bool:
    if not jar.exists():
        return True
    newest = max((p.stat().st_mtime for p in sources(src)), default=0.0)
    return newest > jar.stat().st_mtime


def compile_classpath() -> str:
    jars = sorted(paths.spark_jars().glob("*.jar")) + [paths.toree_jar()]
    return os.pathsep.join(str(j) for j in jars)


def compiler_command(out_dir: Path, src_files: list[Path]) -> list[str]:
    compiler_cp = os.pathsep.join(
        str(paths.scala_jar(name)) for name in ("scala-compiler", "scala-library", "scala-reflect"))
    return [str(paths.java_executable()), "-Xss4m", "-cp", compiler_cp, "scala.tools.nsc.Main",
            "-nowarn", "-usejavacp:false", "-classpath", compile_classpath(),
            "-d", str(out_dir), *map(str, src_files)]


def build(jar: Path = paths.EXTENSION_JAR, src: Path = paths.SCALA_SRC, force: bool = False) -> bool:
    """Build the jar if a source changed. Returns True when it compiled."""
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
