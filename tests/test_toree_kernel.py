"""The installed Toree kernel starts on Java 17 with the extension loaded."""
import re

import pytest

from pyshim import paths

pytestmark = pytest.mark.toree


def test_scala_evaluates(toree):
    assert toree.run("1 + 1").ok().text == "2"


def test_a_spark_job_runs(toree):
    result = toree.run('spark.range(1000).selectExpr("sum(id) AS s").first.getLong(0)').ok()
    assert result.text == "499500"


def test_lsmagic_lists_the_extension_magics(toree):
    out = toree.run("%lsmagic").ok().stdout
    assert "%register_model" in out and "%%python" in out and "%load" in out
    assert out.count("pyshim magics") == 1


def test_pyshim_magic_reports_versions_once(toree):
    out = toree.run("%pyshim").ok().stdout
    versions = r"Spark 3\.5\.\d+, Scala 2\.12\.\d+" if paths.spark_line() == "3.5" else r"Spark 4\.\d+\.\d+, Scala 2\.13\.\d+"
    assert re.search(versions + r", Java (1[7-9]|[2-9]\d)", out)
    assert out.count("pyshim 0.1.0") == 1, "Toree ran the magic twice (annotation on a bridge method?)"


def test_no_plugin_loader_exception_in_the_kernel_log(toree):
    toree.run("%lsmagic").ok()
    log = toree.log_text()
    assert "InaccessibleObjectException" not in log
    assert "does not \"opens java.util.jar\"" not in log
    assert "ClassNotFoundException" not in log


def test_spark_logs_are_quiet(toree):
    toree.run('spark.range(10).count()').ok()
    assert " INFO " not in toree.log_text()
