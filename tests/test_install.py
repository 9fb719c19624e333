"""`pyshim install` / `--uninstall` / `doctor`, against a temp prefix and a throwaway repo."""
from __future__ import annotations

import os
import re
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
    from pyshim import paths

    toree = ("toree",) if paths.scala_kernel() == "toree" else ()  # checked when Toree is the Scala kernel
    for name in ("java", "spark", *toree, "extension", "kernel pyshim-scala", "PYSPARK_PYTHON", "MLflow"):
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

    src = tmp_path / "src" / "pyshim"  # a folder that both Spark lines compile (scala_build.folders)
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

    (tmp_path / "src" / "pyshim").mkdir(parents=True)
    (tmp_path / "src" / "pyshim" / "Bad.scala").write_text("object Bad { def x: Int = \"no\" }\n")
    with pytest.raises(ScalaBuildError, match="Bad.scala"):
        scala_build.build(tmp_path / "b.jar", tmp_path / "src")


# ------------------------------------------------------------------ the JupyterLab extension


def test_jupyterlab_extension_goes_into_the_prefix_and_comes_out_again(tmp_path):
    from pyshim.kernel import doctor, labextension

    prefix = tmp_path / "prefix"
    dest = prefix / "share" / "jupyter" / "labextensions" / labextension.name()
    assert labextension.install(prefix) == [f"installed the JupyterLab extension {labextension.name()} in {dest}"]
    assert (dest / "package.json").read_bytes() == (labextension.PREBUILT / "package.json").read_bytes()
    assert list((dest / "static").glob("remoteEntry.*.js"))
    assert labextension.install(prefix) == []
    assert doctor._check_labextension(prefix).ok

    (dest / "package.json").write_text("{}")  # a stale or damaged copy is replaced
    assert not doctor._check_labextension(prefix).ok
    assert labextension.install(prefix) and labextension.status(prefix)[0]

    assert labextension.uninstall(prefix) == [f"removed the JupyterLab extension {labextension.name()} from {dest}"]
    assert not dest.exists() and not dest.parent.exists()
    assert labextension.uninstall(prefix) == []
    check = doctor._check_labextension(prefix)
    assert not check.ok and check.fix == "run `pyshim install`"


def test_the_committed_jupyterlab_extension_was_built_from_the_current_sources():
    """Needs no Node: the build records the hash of its sources; a source edited without a
    rebuild (python -m pyshim.kernel.labextension build) fails here."""
    from pyshim.kernel import labextension

    assert labextension.recorded_hash() == labextension.sources_hash(), (
        "pyshim/labextension/prebuilt is stale: run `npm ci` in pyshim/labextension, then "
        "`python -m pyshim.kernel.labextension build`, and commit prebuilt/")


def _comparable_build(files: dict[str, bytes]) -> dict[str, bytes]:
    """The container entry's module id (and so remoteEntry's name) hashes the folder's absolute
    path, so a build in another folder differs there alone; the chunks holding the code must
    be byte-identical."""
    out = {}
    for name, data in files.items():
        if name.startswith("static/remoteEntry."):
            name, data = "static/remoteEntry.js", re.sub(rb"\d+", b"0", data)
        elif name == "package.json":
            data = re.sub(rb"remoteEntry\.[0-9a-f]+\.js", b"remoteEntry.js", data)
        out[name] = data
    return out


def test_jupyterlab_extension_rebuilt_with_node_is_the_committed_one(tmp_path):
    """A rebuild of the committed sources, in a copy of the folder, gives the committed files."""
    import shutil

    from pyshim.kernel import labextension

    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the rebuild check runs where Node 20 is installed")
    if not (labextension.SOURCE / "node_modules" / "@jupyterlab" / "builder").is_dir():
        pytest.skip(f"the build tools are not installed: run `npm ci` in {labextension.SOURCE}")
    copy = tmp_path / "labextension"
    shutil.copytree(labextension.SOURCE, copy, symlinks=True, ignore=shutil.ignore_patterns("prebuilt"))
    out = subprocess.run(labextension.builder_command(copy), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    built = _comparable_build(_snapshot(copy / "prebuilt"))
    committed = _comparable_build(_snapshot(labextension.PREBUILT))
    committed.pop(labextension.HASH_FILE)
    assert sorted(built) == sorted(committed)
    assert [name for name in built if built[name] != committed[name]] == []


def test_jupyter_labextension_list_shows_it_enabled_with_no_node_on_path(tmp_path):
    """The environment `make setup` made (pyshim install into .venv), seen by a fresh user."""
    import shutil

    from pyshim.kernel import labextension

    venv_bin = str(Path(sys.executable).parent)
    assert shutil.which("node", path=venv_bin) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(PATH=venv_bin, HOME=str(tmp_path / "home"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    out = subprocess.run([str(Path(venv_bin) / "jupyter"), "labextension", "list"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    listing = out.stdout + out.stderr
    assert str(labextension.target(Path(sys.prefix)).parent) in listing
    line = next((ln for ln in listing.splitlines() if labextension.name() in ln), "")
    assert "enabled" in line and "OK" in line, listing
