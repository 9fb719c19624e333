"""Kernel specs, built in code and written to kernels/ (committed, path-free).

`python` as argv[0] is replaced by jupyter_client with the python running Jupyter, and
`{resource_dir}` with the installed spec's folder, so the same files work in any clone.
`pyshim install` copies the specs of the environment's Spark line into its prefix (never
~/.local): kernels/ for Spark 3.5 (Toree), kernels/spark4/ for Spark 4 (pyshim's own Scala
kernel), and kernels/spark3.5-pyshim/ for pyshim's own Scala kernel on Spark 3.5 (chosen with
PYSHIM_SCALA_KERNEL=pyshim, `make setup SCALA_KERNEL=pyshim`). The Scala kernel has the same
name everywhere, so a notebook moves between the lines and kernels without edits.
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import sys
from pathlib import Path

from .. import paths
from ..errors import SetupError

SCALA_KERNEL = "pyshim-scala"
PYTHON_KERNEL = "pyshim-python"

LOG4J2 = """\
# Spark logs WARN and above to the kernel's stderr (the Jupyter server log), not INFO.
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.toree.name = org.apache.toree
logger.toree.level = warn
# Python UDF workers report a lost accumulator server at ERROR; pyshim restarts its sidecar.
logger.pyacc.name = org.apache.spark.api.python.PythonAccumulatorV2
logger.pyacc.level = fatal
"""


LINES = ("3.5", "4")
SCALA_OF_LINE = {"3.5": "2.12", "4": "2.13"}
# (Spark line, Scala kernel) of each folder of kernels/: each line with its default kernel, and
# pyshim's own Scala kernel on Spark 3.5 too (a folder with only its Scala spec).
FLAVOURS = (("3.5", "toree"), ("4", "pyshim"), ("3.5", "pyshim"))


def line_dir(line: str, root: Path = paths.KERNELS_DIR, kernel: str | None = None) -> Path:
    """Where a line's committed specs are (with KERNEL: that Scala kernel's, when not the default)."""
    if kernel and kernel != paths.default_scala_kernel(line):
        return root / f"spark{line}-{kernel}"
    return root if line == "3.5" else root / f"spark{line}"


def spec_files(line: str | None = None, kernel: str | None = None) -> dict[str, dict[str, str]]:
    """Kernel name -> {file name: content}, for a Spark line (default: the installed one) and
    Scala kernel (default: the line's)."""
    line = line or paths.spark_line()
    kernel = kernel or paths.default_scala_kernel(line)
    if kernel == "toree":
        scala = {
            "argv": ["python", "-m", "pyshim.kernel.launch", "--resource-dir", "{resource_dir}",
                     "--connection-file", "{connection_file}"],
            "display_name": f"Scala {SCALA_OF_LINE[line]} · Spark {line} (Toree + pyshim)",
            "metadata": {"pyshim": {"kind": "toree"}},
        }
    else:
        scala = {
            "argv": ["python", "-m", "pyshim.scala_kernel", "-f", "{connection_file}", "--resource-dir", "{resource_dir}"],
            "display_name": f"Scala {SCALA_OF_LINE[line]} · Spark {line} (pyshim)",
            "metadata": {"pyshim": {"kind": "repl"}},
        }
    scala.update({"language": "scala", "interrupt_mode": "signal", "env": {}})
    python = {
        "argv": ["python", "-m", "pyshim.kernel.launch_ipython", "-f", "{connection_file}"],
        "display_name": f"Python 3 · PySpark {line} + MLflow (pyshim)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {},
        "metadata": {"debugger": True, "pyshim": {"kind": "ipython"}},
    }
    return {
        SCALA_KERNEL: {"kernel.json": _dump(scala), "log4j2.properties": LOG4J2},
        PYTHON_KERNEL: {"kernel.json": _dump(python)},
    }


def chosen_scala_kernel(prefix: Path = Path(sys.prefix)) -> str:
    """PYSHIM_SCALA_KERNEL when set, else the kernel installed in PREFIX (or the line's default)."""
    kernel = os.environ.get("PYSHIM_SCALA_KERNEL") or paths.scala_kernel(prefix)
    if kernel not in paths.SCALA_KERNELS:
        raise SetupError(f"SCALA_KERNEL={kernel} is not a Scala kernel of pyshim",
                         f"use {' or '.join(paths.SCALA_KERNELS)} (make setup SCALA_KERNEL=pyshim)")
    if kernel == "toree" and paths.spark_line() != "3.5":
        raise SetupError(f"Toree 0.5 cannot start on Spark {paths.spark_line()} (it is built for Scala 2.12)",
                         "use SCALA_KERNEL=pyshim, the Scala kernel of this line")
    return kernel


def _dump(spec: dict) -> str:
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


def generate(target: Path = paths.KERNELS_DIR) -> list[Path]:
    """Write every line's specs under target; return the files that changed."""
    changed = []
    for line, kernel in FLAVOURS:
        files = spec_files(line, kernel)
        if kernel != paths.default_scala_kernel(line):  # the line's Python spec is in the line's folder
            files = {SCALA_KERNEL: files[SCALA_KERNEL]}
        changed += _generate(files, line_dir(line, target, kernel))
    return changed


def _generate(specs: dict[str, dict[str, str]], target: Path) -> list[Path]:
    changed = []
    for name, files in specs.items():
        for fname, content in files.items():
            path = target / name / fname
            if not path.exists() or path.read_text() != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
                changed.append(path)
    return changed


def kernels_root(prefix: Path) -> Path:
    return prefix / "share" / "jupyter" / "kernels"


def _same_tree(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    cmp = filecmp.dircmp(a, b)
    return not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files)


def install(prefix: Path = Path(sys.prefix), source: Path = paths.KERNELS_DIR) -> list[str]:
    """Copy the installed line's specs into <prefix>/share/jupyter/kernels, with the chosen
    Scala kernel (chosen_scala_kernel); idempotent."""
    generate(source)
    line, kernel = paths.spark_line(), chosen_scala_kernel(prefix)
    sources = {SCALA_KERNEL: line_dir(line, source, kernel), PYTHON_KERNEL: line_dir(line, source)}
    if kernel == "toree":
        _add_toree_logo(sources[SCALA_KERNEL] / SCALA_KERNEL)
    done = []
    for name, folder in sources.items():
        dest = kernels_root(prefix) / name
        if _same_tree(folder / name, dest):
            continue
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder / name, dest)
        done.append(f"installed kernel spec {name} ({json.loads((dest / 'kernel.json').read_text())['display_name']}) in {dest}")
    return done


def uninstall(prefix: Path = Path(sys.prefix)) -> list[str]:
    done = []
    for name in spec_files():
        dest = kernels_root(prefix) / name
        if dest.exists():
            shutil.rmtree(dest)
            done.append(f"removed kernel spec {name} from {dest}")
    return done


def _add_toree_logo(spec_dir: Path) -> None:
    """The Toree logo ships in the toree package; copied at install time, not committed."""
    logo = paths.package_dir("toree") / "logo-64x64.png"
    if logo.exists() and not (spec_dir / "logo-64x64.png").exists():
        shutil.copyfile(logo, spec_dir / "logo-64x64.png")
