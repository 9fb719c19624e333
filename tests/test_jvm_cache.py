"""The JVM class archive: made by `pyshim install`, used by the launcher when current."""
import subprocess

from conftest import TOREE_LINE_ONLY

from pyshim import paths
from pyshim.kernel import jvm_cache, launch

pytestmark = TOREE_LINE_ONLY


def test_launcher_uses_a_current_archive_and_nothing_else(tmp_path):
    assert jvm_cache.jvm_options({}, prefix=tmp_path) == []  # none yet
    archive = jvm_cache.archive(tmp_path)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"x")
    assert jvm_cache.jvm_options({}, prefix=tmp_path) == [f"-XX:SharedArchiveFile={archive}"]
    assert jvm_cache.jvm_options({"PYSHIM_JVM_CACHE": "0"}, prefix=tmp_path) == []
    # While an archive is being written, the kernel must not also read one.
    writing = {"SPARK_SUBMIT_OPTS": "-XX:ArchiveClassesAtExit=/tmp/t.jsa"}
    assert jvm_cache.jvm_options(writing, prefix=tmp_path) == []


def test_stamp_follows_the_jars(tmp_path, monkeypatch):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "spark-core.jar").write_bytes(b"one")
    monkeypatch.setattr(paths, "spark_jars", lambda: jars)
    first = jvm_cache.stamp()
    assert jvm_cache.stamp() == first
    (jars / "spark-core.jar").write_bytes(b"other size")
    assert jvm_cache.stamp() != first


def test_a_failed_attempt_is_not_retried_and_uninstall_clears_it(tmp_path):
    failed = jvm_cache.archive(tmp_path).with_suffix(".failed")
    failed.parent.mkdir(parents=True)
    failed.write_text("the kernel did not start\n")
    assert jvm_cache.ensure(tmp_path) == []  # no minute-long retry on every install
    usable, detail = jvm_cache.status(tmp_path)
    assert not usable and "the kernel did not start" in detail
    assert jvm_cache.remove(tmp_path) and not jvm_cache.cache_dir(tmp_path).exists()
    assert jvm_cache.remove(tmp_path) == []


def test_the_installed_archive_maps_into_a_jvm():
    # `make test` ran `pyshim install`, which wrote it for this JDK and these jars.
    archive = jvm_cache.archive()
    assert archive.is_file(), f"no JVM class archive; `pyshim doctor` says: {jvm_cache.status()}"
    classpath = f"{paths.spark_home() / 'conf'}/:{paths.spark_jars()}/*"
    # -Xshare:on fails the JVM when the archive cannot be mapped (default: silently ignored).
    done = subprocess.run([str(paths.java_executable()), "-Xshare:on", f"-XX:SharedArchiveFile={archive}",
                           "-cp", classpath, "-version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    env = launch.kernel_environment(None, {})
    assert f"-XX:SharedArchiveFile={archive}" in env["SPARK_SUBMIT_OPTS"]
