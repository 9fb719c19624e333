"""`pyshim install` / `--uninstall` / `doctor`, against a temp prefix and a throwaway repo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyshim.kernel import install
from pyshim.kernel import specs as kernels

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def git_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def test_install_twice_changes_nothing_the_second_time(tmp_path, git_repo):
    prefix = tmp_path / "prefix"
    first = install.install(prefix, git_repo)
    assert any("pyshim-scala" in line for line in first)
    assert any("save hook" in line for line in first)
    after_first = _snapshot(prefix), (git_repo / ".git" / "config").read_text()
    assert install.install(prefix, git_repo) == []
    assert (_snapshot(prefix), (git_repo / ".git" / "config").read_text()) == after_first


def test_uninstall_removes_what_install_added(tmp_path, git_repo):
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    config_before = (git_repo / ".git" / "config").read_text()
    install.install(prefix, git_repo)
    removed = install.uninstall(prefix, git_repo)
    assert removed, "uninstall reported nothing removed"
    assert not (kernels.kernels_root(prefix) / kernels.SCALA_KERNEL).exists()
    assert not (kernels.kernels_root(prefix) / kernels.PYTHON_KERNEL).exists()
    assert not list(prefix.rglob("*.json")), "a config file was left behind"
    assert (git_repo / ".git" / "config").read_text() == config_before
    assert install.uninstall(prefix, git_repo) == []


def test_installed_kernel_specs_are_found_by_jupyter_client(tmp_path):
    prefix = tmp_path / "prefix"
    install.install(prefix, None)
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager(kernel_dirs=[str(kernels.kernels_root(prefix))])
    specs = ksm.find_kernel_specs()
    assert set(specs) >= {"pyshim-scala", "pyshim-python"}
    scala = ksm.get_kernel_spec("pyshim-scala")
    python = ksm.get_kernel_spec("pyshim-python")
    assert scala.language == "scala" and python.language == "python"
    assert scala.display_name != python.display_name


def test_cli_install_is_idempotent_and_says_so(tmp_path):
    # The real command against the real environment (already installed by `make test`).
    out = subprocess.run([sys.executable, "-m", "pyshim.cli", "install"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    again = subprocess.run([sys.executable, "-m", "pyshim.cli", "install"], capture_output=True, text=True)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_doctor_passes_on_this_environment():
    out = subprocess.run([sys.executable, "-m", "pyshim.cli", "doctor"], capture_output=True, text=True,
                         env={**os.environ, "MLFLOW_TRACKING_URI": "sqlite:///x.db"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all good" in out.stdout
    for name in ("java", "spark", "toree", "extension", "kernel pyshim-scala", "PYSPARK_PYTHON", "MLflow"):
        assert name in out.stdout


def test_doctor_fails_with_a_hint_when_java_home_points_nowhere(tmp_path):
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-jdk")}
    out = subprocess.run([sys.executable, "-m", "pyshim.cli", "doctor"], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert f"JAVA_HOME={tmp_path / 'no-jdk'} has no bin/java" in out.stdout
    assert "apt-get install openjdk-17-jdk-headless" in out.stdout


def test_doctor_reports_a_python_without_the_packages(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    env = {**os.environ, "PYSPARK_PYTHON": str(bare / "bin" / "python")}
    out = subprocess.run([sys.executable, "-m", "pyshim.cli", "doctor"], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert "PYSPARK_PYTHON" in out.stdout and "ModuleNotFoundError" in out.stdout


def test_make_stops_with_one_line_when_there_is_no_java(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = "/usr/local/bin/nothing"  # no java, but make itself is called by absolute path
    out = subprocess.run(["/usr/bin/make", "-s", "-C", str(ROOT), "java"], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("pyshim:")]
    assert lines == ["pyshim: no java found; install a JDK 17 (on Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"]


def test_extension_jar_is_rebuilt_when_a_source_changes(tmp_path):
    from pyshim.kernel import scala_build

    src = tmp_path / "src" / "demo"
    src.mkdir(parents=True)
    (src / "Hello.scala").write_text("package demo\nobject Hello { def hi = \"hi\" }\n")
    jar = tmp_path / "build" / "demo.jar"
    assert scala_build.build(jar, tmp_path / "src") is True
    assert scala_build.build(jar, tmp_path / "src") is False
    later = jar.stat().st_mtime + 5
    os.utime(src / "Hello.scala", (later, later))
    assert scala_build.is_stale(jar, tmp_path / "src")
    assert scala_build.build(jar, tmp_path / "src") is True


def test_a_compile_error_names_the_file(tmp_path):
    from pyshim.kernel import scala_build
    from pyshim.errors import ScalaBuildError

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Bad.scala").write_text("object Bad { def x: Int = \"no\" }\n")
    with pytest.raises(ScalaBuildError, match="Bad.scala"):
        scala_build.build(tmp_path / "b.jar", tmp_path / "src")
