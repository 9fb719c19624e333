"""pyproject.toml is the single source of pins; environment.yml must mirror it."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    return dict(re.findall(r"([A-Za-z0-9_.\-]+)==([^\s\"]+)", "\n".join(lines)))


def test_environment_yml_mirrors_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The extras too (pytest, the browser driver, the docs tools); psycopg[binary] has no conda mirror.
    extras = [pin for pins in project["optional-dependencies"].values() for pin in pins]
    ours = _pins(project["dependencies"] + extras)
    conda = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert ours, "no pins found in pyproject.toml"
    drift = {k: (v, conda.get(k)) for k, v in ours.items() if conda.get(k) != v}
    assert not drift, f"environment.yml drifted from pyproject.toml (pyproject, environment.yml): {drift}"


def test_spark_stays_on_scala_212():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(project["dependencies"])
    assert pins["pyspark"].startswith("3.5."), "Toree 0.5.0 is Scala 2.12: pyspark must stay 3.5.x"
    assert pins["toree"] == "0.5.0"
