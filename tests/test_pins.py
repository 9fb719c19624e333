"""pyproject.toml is the single source of pins; each line's environment file must mirror it."""
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each Spark line's conda file: the common pins, the line's extra, and the test and docs extras.
LINE_FILES = {"spark35": "environment.yml", "spark4": "environment-spark4.yml"}


def _pins(lines):
    return dict(re.findall(r"([A-Za-z0-9_.\-]+)==([^\s\"]+)", "\n".join(lines)))


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("line", sorted(LINE_FILES))
def test_each_lines_environment_file_mirrors_pyproject_pins(line):
    project = _project()
    extras = project["optional-dependencies"]
    # psycopg[binary] has no conda mirror.
    ours = _pins(project["dependencies"] + extras[line] + extras["test"] + extras["docs"])
    conda = _pins((ROOT / LINE_FILES[line]).read_text().splitlines())
    assert ours, "no pins found in pyproject.toml"
    drift = {k: (v, conda.get(k)) for k, v in ours.items() if conda.get(k) != v}
    assert not drift, f"{LINE_FILES[line]} drifted from pyproject.toml (pyproject, conda file): {drift}"
    if line == "spark4":
        assert "toree" not in conda, "Toree cannot start on Spark 4: environment-spark4.yml must not install it"


def test_each_line_pins_a_spark_and_scala_that_fit():
    extras = _project()["optional-dependencies"]
    spark35, spark4 = _pins(extras["spark35"]), _pins(extras["spark4"])
    assert spark35["pyspark"].startswith("3.5."), "Toree 0.5.0 is Scala 2.12: the spark35 line stays on pyspark 3.5.x"
    assert spark35["toree"] == "0.5.0"
    assert spark4["pyspark"].startswith("4."), "the spark4 line is pyspark 4 (Scala 2.13)"
    assert "toree" not in spark4, "Toree cannot start on Spark 4"
    assert "pyspark" not in _pins(_project()["dependencies"]), "the Spark line is an extra, never a common pin"
