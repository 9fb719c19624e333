"""Where things live: Spark, Toree, the extension jar, the environment.

Everything is found from installed packages (no import of pyspark needed), so a kernel
launch or `pyshim doctor` costs milliseconds.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from .errors import SetupError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCALA_SRC = REPO_ROOT / "scala" / "src"
SCALA_BUILD = REPO_ROOT / "scala" / "build"
KERNELS_DIR = REPO_ROOT / "kernels"
SNIPPETS_DIR = REPO_ROOT / "notebooks" / "snippets"

JDK_HINT = "install a JDK 17 (on Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(f"the Python package {name!r} is not installed in {sys.prefix}",
                         "run `make test` or `pip install -e .` in the project's .venv")
    return Path(list(spec.submodule_search_locations)[0])


def spark_home() -> Path:
    """The pip package of pyspark is a whole Spark distribution."""
    return package_dir("pyspark")


def spark_jars() -> Path:
    return spark_home() / "jars"


def toree_jar() -> Path:
    lib = package_dir("toree") / "lib"
    jars = sorted(lib.glob("toree-assembly-*.jar"))
    if not jars:
        raise SetupError(f"no toree-assembly jar in {lib}", "reinstall toree: pip install toree==0.5.0")
    return jars[-1]


def scala_version() -> str:
    """The Scala version (2.12 or 2.13) of the installed pyspark, from its scala-library jar."""
    jars = sorted(spark_jars().glob("scala-library-2.1*.jar"))
    if not jars:
        raise SetupError(f"no scala-library jar in {spark_jars()}",
                         "reinstall pyspark with `make setup` (SPARK=4 for the Spark 4 line)")
    return ".".join(jars[-1].name.removeprefix("scala-library-").split(".")[:2])


def spark_line() -> str:
    """"3.5" (Scala 2.12, the Toree kernel) or "4" (Scala 2.13, pyshim's own Scala kernel)."""
    return "3.5" if scala_version() == "2.12" else "4"


SCALA_KERNELS = ("toree", "pyshim")  # Toree 0.5 (Spark 3.5 only) or pyshim's own (pyshim.scala_kernel)


def default_scala_kernel(line: str | None = None) -> str:
    return "toree" if (line or spark_line()) == "3.5" else "pyshim"


def scala_kernel(prefix: Path | None = None) -> str:
    """Which Scala kernel the environment's `pyshim-scala` spec runs ("toree" or "pyshim"): the
    installed spec's, or the line's default before one is installed."""
    import json

    spec = Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / "pyshim-scala" / "kernel.json"
    try:
        kind = json.loads(spec.read_text())["metadata"]["pyshim"]["kind"]
    except (OSError, ValueError, KeyError, TypeError):
        return default_scala_kernel()
    return "toree" if kind == "toree" else "pyshim"


def extension_jar() -> Path:
    """pyshim's Scala extension, built for the installed pyspark's Scala (scala_build.py)."""
    return SCALA_BUILD / f"pyshim-scala{scala_version()}.jar"


def __getattr__(name: str):
    # paths.EXTENSION_JAR: the jar of this environment's Spark line, found when first asked for.
    if name == "EXTENSION_JAR":
        return extension_jar()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def scala_jar(prefix: str) -> Path:
    version = scala_version()
    jars = sorted(spark_jars().glob(f"{prefix}-{version}.*.jar"))
    if not jars:
        raise SetupError(f"no {prefix} {version} jar in {spark_jars()}",
                         "reinstall pyspark with `make setup` (SPARK=4 for the Spark 4 line)")
    return jars[-1]


def java_executable() -> Path:
    """JAVA_HOME wins, as it does for spark-submit; then java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not java.exists():
            raise SetupError(f"JAVA_HOME={java_home} has no bin/java", JDK_HINT)
        return java
    found = shutil.which("java")
    if not found:
        raise SetupError("no `java` on PATH", JDK_HINT)
    return Path(found)


def java_tool(name: str) -> Path:
    """javac-side tools (jar) sit beside java in a JDK, not in a bare JRE."""
    tool = java_executable().resolve().parent / name
    if tool.exists():
        return tool
    found = shutil.which(name)
    if not found:
        raise SetupError(f"no `{name}` found beside {java_executable()} (a JRE, not a JDK?)", JDK_HINT)
    return Path(found)


def environment_python() -> str:
    """The python of this environment: the sidecar and Spark's Python workers must use it."""
    return sys.executable


def environment_bin() -> Path:
    """This environment's folder of executables (uvicorn, gunicorn, mlflow, jupyter): beside its
    python. Not resolved: .venv/bin/python is a symlink to the system's python."""
    return Path(sys.executable).parent


def with_environment_path(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default os.environ) with environment_bin() first on PATH, for the MLflow commands
    we start: `mlflow models serve` runs `uvicorn` by name and fails with exit code 127 when
    the user's PATH lacks .venv/bin."""
    env = dict(os.environ if env is None else env)
    folder = str(environment_bin())
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != folder]
    env["PATH"] = os.pathsep.join([folder, *rest])
    return env
