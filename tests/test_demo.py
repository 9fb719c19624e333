"""`python -m pyshim.tools.demo`: the runner's defaults, progress, summary and how it stops.

The example notebooks themselves run in test_notebooks.py (through the same runner); here
tiny notebooks on the IPython kernel keep the runner's paths fast.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from pyshim import defaults
from pyshim.tools import demo
from pyshim.paths import REPO_ROOT

PY_KERNEL = {"name": "pyshim-python", "display_name": "Python (pyshim)", "language": "python"}


def write_notebook(path: Path, cells, kernel=PY_KERNEL) -> Path:
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernel,
                                             "language_info": {"name": "python", "file_extension": ".py"}})
    nbformat.write(nb, path)
    return path


@pytest.fixture
def run_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSHIM_OUTPUT_DIR", str(tmp_path / "output"))
    return tmp_path


# --- defaults --------------------------------------------------------------------------------

def test_embedded_defaults_live_in_the_project():
    env = defaults.environment({"PATH": "/usr/bin"})
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{REPO_ROOT / '.pyshim' / 'mlflow.db'}"
    assert env["PYSHIM_OUTPUT_DIR"] == str(REPO_ROOT / ".pyshim" / "output")
    assert defaults.artifact_location(env["MLFLOW_TRACKING_URI"]) == str(REPO_ROOT / ".pyshim" / "artifacts")
    assert env["PATH"] == "/usr/bin"
    paths = [".pyshim/mlflow.db", ".pyshim/output/a.parquet", "notebooks/_executed/x.ipynb",
             "notebooks/_executed/_review/x.html"]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=REPO_ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == paths, "the embedded store and the demo's output must be git-ignored"


def test_environment_wins_over_the_defaults(tmp_path):
    env = defaults.environment({"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
                                "PYSHIM_OUTPUT_DIR": str(tmp_path / "out")})
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert env["PYSHIM_OUTPUT_DIR"] == str(tmp_path / "out")
    assert defaults.artifact_location("http://127.0.0.1:5999") is None  # the server decides
    assert defaults.sqlite_path("sqlite:////tmp/a/m.db") == Path("/tmp/a/m.db")


def test_spark_opts_settings_win_over_the_projects():
    given = defaults._submit_settings("--master spark://h:7077 --conf spark.sql.shuffle.partitions=4 --driver-memory 2g")
    assert given == {"spark.master", "spark.sql.shuffle.partitions"}
    assert defaults._submit_settings("") == set()
    assert defaults._submit_settings("--driver-java-options -Xss4m") == {"spark.driver.extraJavaOptions"}


def test_spark_defaults_conf_settings_win_over_the_projects(tmp_path):
    (tmp_path / "spark-defaults.conf").write_text("# admin\nspark.executor.extraJavaOptions -Xss8m\n\n")
    given = defaults.settings_given("--master local[2]", {"SPARK_CONF_DIR": str(tmp_path)})
    assert given == {"spark.master", "spark.executor.extraJavaOptions"}
    assert defaults.SPARK_CONF["spark.executor.extraJavaOptions"] == defaults.JIT_HUGE_METHODS


def test_use_mlflow_puts_every_experiments_artifacts_beside_a_new_store(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    try:
        assert defaults.use_mlflow("demo-test") == uri
        locations = {e.name: e.artifact_location for e in mlflow.MlflowClient(uri).search_experiments()}
    finally:
        mlflow.set_tracking_uri(None)
    assert locations == {"demo-test": str(tmp_path / "store" / "artifacts"),
                         "Default": str(tmp_path / "store" / "artifacts" / "0")}
    assert not (tmp_path / "mlruns").exists()


# --- the runner ------------------------------------------------------------------------------

def test_runner_stops_at_the_failing_cell_and_saves_the_partial_notebook(run_env, capsys):
    good = write_notebook(run_env / "a_good.ipynb", [new_markdown_cell("# fine"),
                                                     new_code_cell("print('good notebook ran')")])
    bad = write_notebook(run_env / "b_bad.ipynb", [
        new_markdown_cell("# fails"),
        new_code_cell("x = 21\nprint('first cell ran', x * 2)"),
        new_code_cell("ratio = x / 0"),
        new_code_cell("print('never runs')"),
    ])
    never = write_notebook(run_env / "c_never.ipynb", [new_code_cell("print('third')")])
    executed = run_env / "executed"

    code = demo.main([str(good), str(bad), str(never), "--executed-dir", str(executed)])

    out, err = capsys.readouterr()
    assert code == 1
    partial = executed / "b_bad.ipynb"
    assert "b_bad.ipynb failed at cell 3 of 4 (ratio = x / 0)" in err
    assert "ZeroDivisionError: division by zero" in err
    assert f"partly executed notebook: {partial}" in err
    # the partial notebook: what ran, the error in its cell, nothing after, papermill's banner on top
    nb = nbformat.read(partial, as_version=4)
    cells = {c.source: c for c in nb.cells}
    assert "first cell ran 42" in cells["x = 21\nprint('first cell ran', x * 2)"].outputs[0].text
    assert [o.ename for o in cells["ratio = x / 0"].outputs if o.output_type == "error"] == ["ZeroDivisionError"]
    assert cells["print('never runs')"].outputs == []
    assert "An Exception was encountered" in nb.cells[0].source
    # progress per notebook and per cell; the notebook before it finished, the one after never ran
    assert "[1/3] a_good.ipynb on kernel pyshim-python" in out
    assert "cell  2/2  print('good notebook ran')" in out
    assert "[2/3] b_bad.ipynb" in out and "FAILED" in out
    assert "[3/3]" not in out and not (executed / "c_never.ipynb").exists()
    assert (executed / "_review" / "a_good.py").is_file() and (executed / "_review" / "a_good.html").is_file()
    assert "pyshim demo: 3 notebooks in" not in out  # no summary after a failure


def test_runner_summary_after_a_good_run(run_env, capsys):
    nb = write_notebook(run_env / "ok.ipynb", [new_code_cell("import os\nprint(os.environ['PYSHIM_OUTPUT_DIR'])")])
    executed = run_env / "executed"
    assert demo.main([str(nb), "--executed-dir", str(executed)]) == 0
    out = capsys.readouterr().out
    ran = nbformat.read(executed / "ok.ipynb", as_version=4)
    assert ran.cells[0].outputs[0].text.strip() == str(run_env / "output")  # the kernel got the environment
    assert "pyshim demo: 1 notebooks in" in out
    assert "model: wine_classifier" in out
    assert "Try next:" in out and "make lab" in out and "mlflow ui --backend-store-uri" in out
    assert "make serve" in out
    assert (executed / "ok.kernel.log").is_file()


def test_a_kernel_that_does_not_exist_stops_before_the_first_cell(run_env):
    nb = write_notebook(run_env / "nokernel.ipynb", [new_code_cell("1")],
                        kernel={"name": "no-such-kernel", "display_name": "none", "language": "python"})
    with pytest.raises(demo.NotebookFailed) as failed:
        demo.run_notebook(nb, run_env / "executed", dict(defaults.environment()))
    assert "nokernel.ipynb failed before the first cell" in str(failed.value)
    assert "no-such-kernel" in str(failed.value)
    assert failed.value.partial.is_file()


def test_missing_notebook_is_bad_input(run_env, capsys):
    assert demo.main([str(run_env / "absent.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_summary_counts_rows_from_parquet_and_hints_the_ui(tmp_path):
    import pandas as pd

    out = tmp_path / "out"
    (out / demo.SCORED_OUTPUTS["02_score_from_scala.ipynb"]).mkdir(parents=True)
    pd.DataFrame({"a": range(7)}).to_parquet(out / demo.SCORED_OUTPUTS["02_score_from_scala.ipynb"] / "part-0.parquet")
    run = demo.NotebookRun(Path("notebooks/02_score_from_scala.ipynb"), tmp_path / "x.ipynb", "pyshim-scala", 75.0, 16)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "PYSHIM_OUTPUT_DIR": str(out)}
    text = demo.summary([run], env, 80.0)
    assert "pyshim demo: 1 notebooks in 1 min 20 s" in text
    assert "02_score_from_scala" in text and "1 min 15 s" in text
    assert "scored by 02_score_from_scala: 7 rows" in text
    assert "wine_classifier@champion: not found" in text
    assert demo.mlflow_ui_hint("http://127.0.0.1:5000").startswith("open http://127.0.0.1:5000")


def test_make_demo_runs_the_module_and_help_works():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "$(PY) -m pyshim.tools.demo" in makefile
    done = subprocess.run([sys.executable, "-m", "pyshim.tools.demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "NOTEBOOK" in done.stdout


def test_a_kernel_that_never_answers_stops_cleanly(run_env, isolated_home):
    """Startup timeout: one clear error, the kernel process ended, no traceback at exit."""
    spec = Path(os.environ["JUPYTER_DATA_DIR"]) / "kernels" / "pyshim-test-sleepy"
    spec.mkdir(parents=True, exist_ok=True)
    marker = run_env / "sleepy.pid"
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(120)",
                 "{connection_file}"],
        "display_name": "never answers", "language": "python"}))
    nb = write_notebook(run_env / "sleepy.ipynb", [new_code_cell("1")],
                        kernel={"name": "pyshim-test-sleepy", "display_name": "never answers", "language": "python"})
    script = (f"from pathlib import Path; from pyshim import defaults\nfrom pyshim.tools import demo\n"
              f"try:\n"
              f"    demo.run_notebook(Path({str(nb)!r}), Path({str(run_env / 'executed')!r}), defaults.environment(), startup_timeout=3)\n"
              f"except demo.NotebookFailed as err:\n"
              f"    print(err)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "sleepy.ipynb failed before the first cell" in done.stdout, done.stdout + done.stderr
    assert "didn't respond in 3 seconds" in done.stdout
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    pid = int(marker.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), "the kernel that never answered is still running"
