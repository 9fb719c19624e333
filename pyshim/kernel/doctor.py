"""`pyshim doctor`: is this environment able to run Scala notebooks with Python models?

Each check prints one line; a problem also prints its fix. Exit code 1 when any failed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from . import jvm_cache, labextension, scala_build
from . import specs as kernels
from ..errors import PyshimError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def java_version() -> tuple[int, str]:
    java = paths.java_executable()
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise PyshimError(f"cannot read the version of {java}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    return major, out.splitlines()[0]


def _check_java() -> Check:
    try:
        major, line = java_version()
    except (PyshimError, OSError, subprocess.SubprocessError) as err:
        return Check("java", False, getattr(err, "problem", str(err)), getattr(err, "fix", paths.JDK_HINT))
    if paths.spark_line() == "3.5":
        ok, why = major == 17, "Toree 0.5 with Spark 3.5 is tested on Java 17"
    else:
        ok, why = major >= 17, "Spark 4 needs Java 17 or newer"
    return Check("java", ok, f"{line} ({paths.java_executable()})", "" if ok else f"{why}; {paths.JDK_HINT}")


def _check_spark() -> Check:
    try:
        home = paths.spark_home()
        version = (home / "VERSION").read_text().strip() if (home / "VERSION").exists() else _pyspark_version()
        scala = paths.scala_jar("scala-library").name
    except (PyshimError, OSError) as err:
        return Check("spark", False, str(err), "pip install pyspark==3.5.8")
    line = paths.spark_line()
    ok = version.startswith(line)
    return Check("spark", ok, f"Spark {version} at {home} ({scala})",
                 "" if ok else f"this environment's Spark line is {line} but pyspark is {version}: run `make setup"
                               f"{'' if line == '3.5' else ' SPARK=' + line}`")


def _pyspark_version() -> str:
    from importlib.metadata import version

    return version("pyspark")


def _check_toree() -> Check:
    try:
        return Check("toree", True, str(paths.toree_jar()))
    except PyshimError as err:
        return Check("toree", False, str(err), "pip install toree==0.5.0")


def _check_extension() -> Check:
    jar = paths.EXTENSION_JAR
    if scala_build.is_stale():
        return Check("extension", False, f"{jar} is missing or older than scala/src", "run `pyshim install`")
    return Check("extension", True, str(jar))


def _check_kernels(prefix: Path) -> list[Check]:
    checks = []
    for name, files in kernels.spec_files(kernel=paths.scala_kernel(prefix)).items():
        spec = kernels.kernels_root(prefix) / name / "kernel.json"
        ok = spec.exists() and spec.read_text() == files["kernel.json"]
        shown = f"{spec} ({json.loads(files['kernel.json'])['display_name']})"
        checks.append(Check(f"kernel {name}", ok, shown if ok else f"{spec} missing or outdated",
                            "" if ok else "run `pyshim install`"))
    return checks


def _check_labextension(prefix: Path) -> Check:
    ok, detail = labextension.status(prefix)
    return Check("JupyterLab extension", ok, detail, "" if ok else "run `pyshim install`")


def _check_python() -> Check:
    python = os.environ.get("PYSPARK_PYTHON") or paths.environment_python()
    probe = subprocess.run([python, "-c", "import pandas, pyarrow, mlflow, pyshim"],
                           capture_output=True, text=True, timeout=120)
    ok = probe.returncode == 0
    why = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ""
    return Check("PYSPARK_PYTHON", ok, python if ok else f"{python}: {why}",
                 "" if ok else "point PYSPARK_PYTHON at this environment's python (or unset it)")


def _check_mlflow() -> Check:
    uri = os.environ.get("MLFLOW_TRACKING_URI") or "(unset: MLflow uses sqlite:///mlflow.db in the working folder)"
    return Check("MLflow tracking URI", True, uri)


def _check_hooks(prefix: Path, repo: Path = paths.REPO_ROOT) -> list[Check]:
    from pyshim_hooks import install as hooks_install

    state = hooks_install.status(prefix, repo)
    ok = state["jupyter_server_extension"]
    hook = Check("save hook", ok, "review copies on save: " + ("enabled" if ok else "disabled"),
                 "" if ok else "run `pyshim install`")
    if not state["git_repository"]:
        return [hook, Check("nbdime for git", True, f"{repo} is not a git repository")]
    tools = {"git diff": "nbdime_git_diff", "git merge": "nbdime_git_merge",
             "git difftool --tool nbdime": "nbdime_difftool", "git mergetool --tool nbdime": "nbdime_mergetool"}
    missing = [name for name, key in tools.items() if not state[key]]
    detail = ", ".join(f"{name}: {'no' if name in missing else 'yes'}" for name in tools)
    # Optional for running notebooks, so never a failure; the fix says how to get it.
    return [hook, Check("nbdime for git", True, f"{detail} (in {repo})",
                        "run `pyshim install` to use nbdime for " + ", ".join(missing) if missing else "")]


def _check_jvm_cache(prefix: Path) -> Check:
    """Optional: kernels start without it, only slower; so it never fails the doctor."""
    try:
        usable, detail = jvm_cache.status(prefix)
    except PyshimError as err:
        return Check("JVM class archive", True, f"unknown ({err})")
    return Check("JVM class archive", True, detail if usable else f"{detail}; the Scala kernel starts a few seconds slower",
                 "" if usable else "run `pyshim install` (rm the .failed file next to it to try again)")


def run_checks(prefix: Path = Path(sys.prefix)) -> list[Check]:
    toree = [_check_toree()] if paths.scala_kernel(prefix) == "toree" else []
    return [_check_java(), _check_spark(), *toree, _check_extension(),
            *_check_kernels(prefix), _check_labextension(prefix), _check_python(), _check_mlflow(), *_check_hooks(prefix),
            _check_jvm_cache(prefix)]


def main(prefix: Path = Path(sys.prefix)) -> int:
    checks = run_checks(prefix)
    for check in checks:
        print(f"{'ok ' if check.ok else 'BAD'} {check.name}: {check.detail}")
        if check.fix:
            print(f"    fix: {check.fix}")
    bad = [c for c in checks if not c.ok]
    print("all good" if not bad else f"{len(bad)} problem(s) found")
    return 1 if bad else 0
