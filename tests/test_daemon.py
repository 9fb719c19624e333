"""pyshim.bridge.daemon: Spark's Python worker daemon, with the model libraries imported first."""
import subprocess
import sys

from pyshim.bridge import daemon


def test_preload_list_has_the_essentials_and_the_users_choice():
    names = daemon.preload_names({})
    assert names[:4] == ["pandas", "pyarrow", "mlflow.pyfunc", "pyshim.bridge.worker"]
    assert "sklearn" in names
    assert daemon.preload_names({"PYSHIM_WORKER_PRELOAD": ""}) == list(daemon.ALWAYS)
    assert daemon.preload_names({"PYSHIM_WORKER_PRELOAD": " xgboost , torch"})[-2:] == ["xgboost", "torch"]


def test_preload_skips_what_is_missing_and_keeps_stdout_clean(tmp_path):
    # The daemon announces its port on stdout: a chatty import must not get there first.
    (tmp_path / "chatty_lib.py").write_text("print('hello from an import')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pyshim.bridge import daemon\n"
            "sys.stderr.write(repr(daemon.preload(['json', 'chatty_lib', 'no_such_module_pyshim'])))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "hello from an import" in done.stderr
    assert done.stderr.endswith("['no_such_module_pyshim']")


def test_a_broken_library_is_reported_not_fatal(tmp_path):
    (tmp_path / "broken_lib.py").write_text("raise RuntimeError('half installed')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pyshim.bridge import daemon\n"
            "print(daemon.preload(['broken_lib', 'json']), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "could not preload broken_lib: half installed" in done.stderr
    assert "['broken_lib']" in done.stderr
