"""The JVM class archive: made by `pyshim install` for the environment's Scala kernel (Toree
or pyshim's own), used by that kernel's JVM when current."""
from pathlib import Path

from conftest import _descendants

from pyshim import paths
from pyshim.kernel import jvm_cache


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
    for library in paths.spark_jars().glob("scala-library-*.jar"):  # which Scala: the extension jar's name
        (jars / library.name).write_bytes(b"scala")
    monkeypatch.setattr(paths, "spark_jars", lambda: jars)
    kernel = paths.scala_kernel()
    first = jvm_cache.stamp(kernel)
    assert jvm_cache.stamp(kernel) == first
    (jars / "spark-core.jar").write_bytes(b"other size")
    assert jvm_cache.stamp(kernel) != first


def test_a_failed_attempt_is_not_retried_and_uninstall_clears_it(tmp_path):
    failed = jvm_cache.archive(tmp_path).with_suffix(".failed")
    failed.parent.mkdir(parents=True)
    failed.write_text("the kernel did not start\n")
    assert jvm_cache.ensure(tmp_path) == []  # no minute-long retry on every install
    usable, detail = jvm_cache.status(tmp_path)
    assert not usable and "the kernel did not start" in detail
    assert jvm_cache.remove(tmp_path) and not jvm_cache.cache_dir(tmp_path).exists()
    assert jvm_cache.remove(tmp_path) == []


def test_the_shared_kernels_jvm_maps_the_installed_archive(toree):
    # `make test` ran `pyshim install`, which wrote it for this JDK, these jars and this kernel.
    archive = jvm_cache.archive()
    assert archive.is_file(), f"no JVM class archive; `pyshim doctor` says: {jvm_cache.status()}"
    assert archive.name.startswith(f"{paths.scala_kernel()}-")
    toree.run("spark.version").ok()  # pyshim's kernel starts its JVM beside the front end's connection
    # A JVM that cannot use an archive starts without it, silently: the kernel's JVM must
    # have it mapped (Toree's JVM through its launcher, pyshim's through pyspark's).
    jvms = [pid for pid, cmd in [(toree.pid, ""), *_descendants(toree.pid)]
            if Path(f"/proc/{pid}/exe").resolve().name == "java"]
    assert jvms, "no JVM under the kernel"
    assert any(str(archive) in Path(f"/proc/{pid}/maps").read_text() for pid in jvms), \
        f"the kernel's JVM {jvms} did not map {archive}"
