"""kernels/ is generated from code, committed, and free of machine paths."""
import json
from pathlib import Path

import pytest

from conftest import TOREE_LINE_ONLY

from pyshim import paths
from pyshim.kernel import launch
from pyshim.kernel import specs as kernels

ROOT = Path(__file__).resolve().parent.parent


def test_committed_kernel_specs_match_the_generator(tmp_path):
    kernels.generate(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(generated) >= 7  # three folders: Spark 3.5 with Toree, Spark 4, Spark 3.5 with pyshim's kernel
    for relative in generated:
        committed = ROOT / "kernels" / relative
        assert committed.exists() and committed.read_text() == (tmp_path / relative).read_text(), \
            f"{committed} drifted from pyshim/kernel/specs.py: run `pyshim kernelspecs`"


def test_the_scala_kernel_keeps_its_name_on_every_line_and_kernel():
    """A notebook's kernelspec name finds the Scala kernel of whichever line and kernel is installed."""
    scala = {(line, kernel): json.loads(kernels.spec_files(line, kernel)[kernels.SCALA_KERNEL]["kernel.json"])
             for line, kernel in kernels.FLAVOURS}
    assert {s["language"] for s in scala.values()} == {"scala"}
    assert scala["3.5", "toree"]["argv"][2] == "pyshim.kernel.launch"
    assert scala["4", "pyshim"]["argv"][2] == scala["3.5", "pyshim"]["argv"][2] == "pyshim.scala_kernel"
    assert scala["3.5", "pyshim"]["display_name"] == "Scala 2.12 · Spark 3.5 (pyshim)"
    assert len({s["display_name"] for s in scala.values()}) == 3


def _installed_kind(prefix: Path) -> str:
    return json.loads((kernels.kernels_root(prefix) / kernels.SCALA_KERNEL / "kernel.json").read_text())["metadata"]["pyshim"]["kind"]


def test_the_scala_kernel_is_chosen_at_install_and_kept_until_changed(tmp_path, monkeypatch):
    monkeypatch.delenv("PYSHIM_SCALA_KERNEL", raising=False)
    kernels.install(tmp_path)
    default = paths.default_scala_kernel()
    assert paths.scala_kernel(tmp_path) == default
    monkeypatch.setenv("PYSHIM_SCALA_KERNEL", "pyshim")
    assert kernels.install(tmp_path) == ([] if default == "pyshim" else
                                         [f"installed kernel spec pyshim-scala (Scala 2.12 · Spark 3.5 (pyshim)) in "
                                          f"{kernels.kernels_root(tmp_path) / 'pyshim-scala'}"])
    assert _installed_kind(tmp_path) == "repl" and paths.scala_kernel(tmp_path) == "pyshim"
    monkeypatch.delenv("PYSHIM_SCALA_KERNEL")
    assert kernels.install(tmp_path) == []  # a later `make setup` keeps the choice
    assert paths.scala_kernel(tmp_path) == "pyshim"


def test_a_scala_kernel_that_cannot_run_is_refused_in_one_line(tmp_path, monkeypatch):
    from pyshim.errors import SetupError

    monkeypatch.setenv("PYSHIM_SCALA_KERNEL", "almond")
    with pytest.raises(SetupError, match="SCALA_KERNEL=almond is not a Scala kernel of pyshim") as bad:
        kernels.install(tmp_path)
    assert "toree or pyshim" in bad.value.fix
    monkeypatch.setenv("PYSHIM_SCALA_KERNEL", "toree")
    if paths.spark_line() == "3.5":
        kernels.install(tmp_path)
        assert _installed_kind(tmp_path) == "toree"
    else:
        with pytest.raises(SetupError, match="Toree 0.5 cannot start on Spark 4"):
            kernels.install(tmp_path)


def test_kernel_specs_hold_no_machine_paths():
    for spec_file in (ROOT / "kernels").glob("**/kernel.json"):
        text = spec_file.read_text()
        for forbidden in (str(ROOT), "/root", "/home/", "site-packages", ".venv"):
            assert forbidden not in text, f"{spec_file} contains {forbidden}"
        spec = json.loads(text)
        assert spec["argv"][0] == "python", "jupyter_client replaces 'python' with its own interpreter"


@TOREE_LINE_ONLY
def test_toree_command_has_java17_opens_extension_and_user_options(tmp_path):
    env = launch.kernel_environment(ROOT / "kernels" / "pyshim-scala",
                                    {"SPARK_OPTS": "--master spark://10.0.0.1:7077 --jars /x/a.jar",
                                     "TOREE_OPTS": "--nosparkcontext"})
    cmd = launch.kernel_command("/tmp/conn.json", env)
    assert "--add-opens=java.base/java.util.jar=ALL-UNNAMED" in env["SPARK_SUBMIT_OPTS"]
    assert "log4j2.configurationFile" in env["SPARK_SUBMIT_OPTS"]
    assert env["SPARK_HOME"] == str(paths.spark_home())
    assert env["PYSPARK_PYTHON"] and Path(env["PYSPARK_PYTHON"]).exists()
    assert cmd[cmd.index("--master") + 1] == "spark://10.0.0.1:7077"
    assert cmd[cmd.index("--jars") + 1] == f"/x/a.jar,{paths.EXTENSION_JAR}"  # merged, not overridden
    assert cmd[cmd.index("--magic-url") + 1] == paths.EXTENSION_JAR.as_uri()
    assert "--nosparkcontext" in cmd
    assert cmd[-2:] == ["--profile", "/tmp/conn.json"]


def test_log4j_config_quiets_spark_to_warn():
    text = (ROOT / "kernels" / "pyshim-scala" / "log4j2.properties").read_text()
    assert "rootLogger.level = warn" in text


def _confs(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, word in enumerate(cmd[:-1]) if word == "--conf"]


@TOREE_LINE_ONLY
def test_python_workers_fork_from_pyshim_daemon_when_they_run_this_python():
    env = launch.kernel_environment(None, {})
    assert "spark.python.daemon.module=pyshim.bridge.daemon" in _confs(launch.kernel_command("/tmp/c.json", env))


@TOREE_LINE_ONLY
def test_a_users_daemon_or_another_python_keeps_sparks_own_daemon():
    own = launch.kernel_environment(None, {"SPARK_OPTS": "--conf spark.python.daemon.module=my.daemon"})
    assert "spark.python.daemon.module=pyshim.bridge.daemon" not in _confs(launch.kernel_command("/tmp/c.json", own))
    other = launch.kernel_environment(None, {"PYSPARK_PYTHON": "/opt/other/bin/python3"})
    assert not any("daemon.module" in c for c in _confs(launch.kernel_command("/tmp/c.json", other)))


@TOREE_LINE_ONLY
def test_driver_and_executors_jit_huge_methods_unless_the_user_set_executor_options(tmp_path):
    env = launch.kernel_environment(None, {"SPARK_CONF_DIR": str(tmp_path)})
    assert "-XX:-DontCompileHugeMethods" in env["SPARK_SUBMIT_OPTS"].split()  # the driver (local mode's executor)
    assert "spark.executor.extraJavaOptions=-XX:-DontCompileHugeMethods" in _confs(launch.kernel_command("/tmp/c.json", env))
    own = launch.kernel_environment(None, {"SPARK_CONF_DIR": str(tmp_path),
                                           "SPARK_OPTS": "--conf spark.executor.extraJavaOptions=-Xss4m"})
    assert [c for c in _confs(launch.kernel_command("/tmp/c.json", own)) if "executor.extraJavaOptions" in c] == \
        ["spark.executor.extraJavaOptions=-Xss4m"]
    (tmp_path / "spark-defaults.conf").write_text("# the cluster's\nspark.executor.extraJavaOptions  -Xss8m\n")
    admin = launch.kernel_environment(None, {"SPARK_CONF_DIR": str(tmp_path)})
    assert not any("executor.extraJavaOptions" in c for c in _confs(launch.kernel_command("/tmp/c.json", admin)))


def test_the_spark4_kernel_sets_what_the_toree_launcher_sets(tmp_path):
    """The same session settings on both lines: the worker daemon, the JIT option of the driver
    and executors, the lineage listener, the warehouse out of the notebooks' folder; and the
    REPL's class folder that executors load the cells' classes from."""
    from pyshim import defaults
    from pyshim.scala_kernel import jvm

    conf = jvm.kernel_conf(tmp_path / "classes", {"PYSHIM_OUTPUT_DIR": str(tmp_path / "out")})
    assert conf["spark.repl.class.outputDir"] == str(tmp_path / "classes")
    assert conf["spark.ui.showConsoleProgress"] == "false"  # as spark-submit has it for Toree (not a shell)
    assert conf["spark.sql.queryExecutionListeners"] == defaults.LINEAGE_LISTENER
    assert conf["spark.python.daemon.module"] == "pyshim.bridge.daemon"
    assert conf["spark.executor.extraJavaOptions"] == defaults.JIT_HUGE_METHODS
    assert defaults.JIT_HUGE_METHODS in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "out" / "spark-warehouse")
    assert conf["spark.driver.extraClassPath"] == str(paths.EXTENSION_JAR)
    other_python = jvm.kernel_conf(tmp_path, {"PYSPARK_PYTHON": "/usr/bin/python3"})
    assert "spark.python.daemon.module" not in other_python  # Spark's own daemon for another python
