"""`pyshim run`: notebooks as jobs with parameters (papermill), one MLflow run each.

Real kernels (pyshim-python, and pyshim-scala for the Scala notebooks, one at a time), a real
MLflow store (the session's, in a temp folder), the real example notebooks 02 and 03.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from pyshim.jobs import parameters_cell as params_cell
from pyshim.jobs import params as job_params
from pyshim.jobs import run as job_run
from pyshim.paths import REPO_ROOT
from pyshim.tools import demo

ROWS = 178 * 562  # the wine data repeated, in notebooks 2 and 3
PY_KERNEL = {"name": "pyshim-python", "display_name": "Python (pyshim)", "language": "python"}
SCALA_KERNEL = {"name": "pyshim-scala", "display_name": "Scala (pyshim)", "language": "scala"}
PROGRESS = re.compile(r"^  cell +(\d+)/(\d+)  ", re.MULTILINE)


def write_notebook(path: Path, cells, kernel=PY_KERNEL) -> Path:
    language = {"name": kernel["language"], "file_extension": ".scala" if kernel["language"] == "scala" else ".py"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernel, "language_info": language}), path)
    return path


def parameters_cell(source: str):
    return new_code_cell(source, metadata={"tags": ["parameters"]})


def client():
    import mlflow

    return mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def runs_in(experiment: str):
    found = client().get_experiment_by_name(experiment)
    return [] if found is None else client().search_runs([found.experiment_id])


def artifacts(run_id: str, path: str | None = None) -> set[str]:
    names = set()
    for item in client().list_artifacts(run_id, path):
        names |= artifacts(run_id, item.path) if item.is_dir else {item.path}
    return names


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def rows_in(path: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(str(path), format="parquet").count_rows()


def wine_input(path: Path, copies: int) -> tuple[Path, int]:
    """The wine data as notebook 2's input_path takes it (wine_id, the features, target, copy)."""
    import pandas as pd
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns=lambda name: name.replace("/", "_"))
    wine.insert(0, "wine_id", range(len(wine)))
    rows = pd.concat([wine.assign(copy=i) for i in range(copies)], ignore_index=True)
    rows.to_parquet(path)
    return path, len(rows)


@pytest.fixture
def job_env(tmp_path, monkeypatch):
    """The notebooks write their default Parquet under a temp PYSHIM_OUTPUT_DIR."""
    monkeypatch.setenv("PYSHIM_OUTPUT_DIR", str(tmp_path / "output"))
    return tmp_path


# --- parameters, without a kernel -------------------------------------------------------------

def test_parameters_are_read_as_papermill_reads_them(tmp_path):
    """-f, then -p typed, then -r raw: compared with what papermill's own CLI injects."""
    (tmp_path / "p.yaml").write_text("n: 1\nfrom_file: [1, 2]\nwhen: 2024-01-01\n")
    typed = [("n", "3"), ("x", "0.5"), ("flag", "True"), ("nothing", "None"), ("s", "abc"), ("big", "1e3")]
    raw = [("r", "3"), ("s2", "True")]
    ours = job_params.resolve([tmp_path / "p.yaml"], typed, raw)
    nb = write_notebook(tmp_path / "nb.ipynb", [parameters_cell("n = 0")])
    argv = [str(nb), str(tmp_path / "out.ipynb"), "--prepare-only", "-f", str(tmp_path / "p.yaml")]
    for flag, pairs in (("-p", typed), ("-r", raw)):
        for name, value in pairs:
            argv += [flag, name, value]
    done = subprocess.run([sys.executable, "-m", "papermill", *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    theirs = dict(nbformat.read(tmp_path / "out.ipynb", as_version=4).metadata.papermill.parameters)
    assert ours == theirs
    assert ours["n"] == 3 and ours["flag"] is True and ours["r"] == "3" and ours["when"] == "2024-01-01"


def test_bad_parameter_files_and_names_are_one_line(tmp_path):
    with pytest.raises(job_params.BadParameters, match="no parameters file"):
        job_params.resolve([tmp_path / "absent.yaml"])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(job_params.BadParameters, match="NAME: VALUE lines"):
        job_params.resolve([tmp_path / "list.yaml"])
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(job_params.BadParameters, match="is not valid YAML"):
        job_params.resolve([tmp_path / "broken.yaml"])
    with pytest.raises(job_params.BadParameters, match="not a variable name"):
        job_params.resolve(typed=[("output-path", "x")])


@pytest.mark.parametrize("name", ["02_score_from_scala.ipynb", "03_pyspark_pipeline.ipynb"])
def test_notebooks_2_and_3_take_the_input_the_output_and_the_model(name):
    nb = nbformat.read(demo.NOTEBOOKS_DIR / name, as_version=4)
    assert job_params.declared(nb) == ["input_path", "output_path", "model_uri"]
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    setup = next(i for i, c in enumerate(nb.cells) if c.source.startswith(("%load setup", "%run -i snippets/setup")))
    assert len(tagged) == 1 and tagged[0] > setup  # the defaults use the set-up's output folder


def test_an_unknown_parameter_fails_before_any_kernel_or_run(job_env, capsys):
    nb = write_notebook(job_env / "nb.ipynb", [parameters_cell("alpha = 1  # the rate\nbeta = 'b'"),
                                                new_code_cell("print(alpha)")])
    code = job_run.main([str(nb), "-p", "alpah", "2", "--experiment", "unknown-param", "--output",
                         str(job_env / "out.ipynb")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nb.ipynb has no parameter 'alpah'; its 'parameters' cell assigns alpha, beta" in err
    assert runs_in("unknown-param") == [] and not (job_env / "out.ipynb").exists()

    untagged = write_notebook(job_env / "plain.ipynb", [new_code_cell("alpha = 1")])
    assert job_run.main([str(untagged), "-p", "alpha", "2"]) == 2
    assert "has no cell tagged 'parameters'" in capsys.readouterr().err
    assert job_run.main([str(job_env / "absent.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_scala_parameters_cell_is_read_without_a_kernel(tmp_path):
    nb = write_notebook(tmp_path / "s.ipynb", [new_code_cell("%load setup"), parameters_cell(
        'val input_path = ""  // a comment\nvar rows: Long = 10\n  val model_uri = "models:/m@a"\nprintln(1)')],
        kernel=SCALA_KERNEL)
    assert job_params.declared(nbformat.read(nb, as_version=4)) == ["input_path", "rows", "model_uri"]


SCALA_DEFAULTS = [  # (the cell's line, source text, literal?, value, declared type, help)
    ('val path = "/data/in.parquet"  // the input', '"/data/in.parquet"', True, "/data/in.parquet", "", "the input"),
    (r'val s = "a\"b // no comment\t\u00e9"', r'"a\"b // no comment\t\u00e9"', True, 'a"b // no comment\té', "", ""),
    ('val q = """select "x"\nfrom t"""', '"""select "x"\nfrom t"""', True, 'select "x"\nfrom t', "", ""),
    ("var rows: Long = 10L", "10L", True, 10, "Long", ""),
    ("val n = -3", "-3", True, -3, "", ""),
    ("val mask = 0xFF", "0xFF", True, 255, "", ""),
    ("val rate: Double = 1.5e-3", "1.5e-3", True, 0.0015, "Double", ""),
    ("val f = 0.25f", "0.25f", True, 0.25, "", ""),
    ("val on = true", "true", True, True, "", ""),
    ("val off: Boolean = false /* why */", "false", True, False, "Boolean", ""),
    ("val none: String = null", "null", True, None, "String", ""),
    ('val out = s"$outputDir/x.parquet"  // where', 's"$outputDir/x.parquet"', False, None, "", "where"),
    ("val cols = Seq(\n  1,  // first\n  2)", "Seq(\n  1,  \n  2)", False, None, "", ""),
    ("val f: Int => Int = x => x + 1", "x => x + 1", False, None, "Int => Int", ""),
    ("val when = java.time.LocalDate.now()", "java.time.LocalDate.now()", False, None, "", ""),
    ('val sql = """\n  val not_a_parameter = 1\n"""', '"""\n  val not_a_parameter = 1\n"""', True,
     "\n  val not_a_parameter = 1\n", "", ""),
]


@pytest.mark.parametrize("line, source, literal, value, declared_type, note", SCALA_DEFAULTS)
def test_scala_defaults_are_literals_or_expressions(line, source, literal, value, declared_type, note):
    (found,) = params_cell.scala(f"{line}\nprintln(1)")
    assert (found.source, found.literal, found.value, found.type, found.help) == (
        source, literal, value, declared_type, note)


def test_python_defaults_are_read_with_pythons_parser():
    found = {p.name: p for p in params_cell.python(
        '%matplotlib inline\nn: int = 1  # how many\nopts = dict(a=1)\nurl = "http://h/#top"  # the page\n'
        'sizes = [1,\n  2]\nmodel_uri = "models:/m@champion"\nmodel_uri = "models:/m@prod"\nprint(n)')}
    assert list(found) == ["n", "opts", "url", "sizes", "model_uri"]
    assert (found["n"].value, found["n"].type, found["n"].help) == (1, "int", "how many")
    assert (found["opts"].literal, found["opts"].source) == (False, "dict(a=1)")
    assert (found["url"].value, found["url"].help) == ("http://h/#top", "the page")
    assert found["sizes"].value == [1, 2]
    nb = new_notebook(cells=[parameters_cell('model_uri = "models:/m@champion"\nmodel_uri = "models:/m@prod"')],
                      metadata={"kernelspec": PY_KERNEL})
    (last,) = params_cell.read(nb)  # the value the cell runs with, in its first place
    assert last.value == "models:/m@prod"


def test_every_parameter_is_passed_or_a_default(tmp_path):
    cell = parameters_cell('val input_path = ""\nval rows = 10\nval out = s"$dir/x"\nval flag = true')
    nb = nbformat.read(write_notebook(tmp_path / "s.ipynb", [cell], kernel=SCALA_KERNEL), as_version=4)
    values = job_params.effective(tmp_path / "s.ipynb", nb, {"rows": 20, "flag": False})
    assert [(v.name, v.text, v.origin) for v in values] == [
        ("input_path", "", "default"), ("rows", "20", "passed"), ("out", 's"$dir/x"', "expression"),
        ("flag", "false", "passed")]
    assert job_params.tags(values) == {"pyshim.job.params_passed": "rows, flag",
                                       "pyshim.job.params_default": "input_path, out",
                                       "pyshim.job.params_expression": "out"}
    broken = new_notebook(cells=[parameters_cell("n = (1,")], metadata={"kernelspec": PY_KERNEL})
    with pytest.raises(job_params.BadParameters, match=r"b.ipynb: its 'parameters' cell is not valid Python \(line"):
        job_params.effective(tmp_path / "b.ipynb", broken, {})
    r_kernel = {"name": "ir", "display_name": "R", "language": "R"}
    other = new_notebook(cells=[parameters_cell("n <- 1")], metadata={"kernelspec": r_kernel})
    with pytest.raises(job_params.BadParameters, match="its 'parameters' cell is R code; pyshim reads the parameters "
                                                       "of Python and Scala notebooks"):
        job_params.effective(tmp_path / "r.ipynb", other, {})


@pytest.mark.parametrize("name, lines", [
    ("02_score_from_scala.ipynb", [
        "02_score_from_scala.ipynb takes 3 parameters (its 'parameters' cell, scala):",
        '  input_path = ""', '  output_path = s"$outputDir/wine_scored_scala.parquet"',
        "an expression: the run logs its text", '  model_uri = "models:/wine_classifier@champion"']),
    ("03_pyspark_pipeline.ipynb", [
        "03_pyspark_pipeline.ipynb takes 3 parameters (its 'parameters' cell, python):",
        '  output_path = str(OUTPUT_DIR / "wine_scored_pyspark.parquet")',
        "  model_uri = \"\"  ", "a classifier of the 13 scaled features"]),
])
def test_help_notebook_lists_parameters_and_defaults_without_a_kernel(name, lines, capsys):
    assert job_run.main([str(demo.NOTEBOOKS_DIR / name), "--help-notebook"]) == 0
    out = capsys.readouterr().out
    for line in lines:
        assert line in out
    assert "-p NAME VALUE (typed), -r NAME VALUE (a string) or -f PARAMS_YAML" in out


def test_help_notebook_without_a_parameters_cell_says_how_to_tag_one(tmp_path, capsys):
    plain = write_notebook(tmp_path / "plain.ipynb", [new_code_cell("alpha = 1")])
    assert job_run.main([str(plain), "--help-params"]) == 2
    assert "plain.ipynb has no cell tagged 'parameters'" in capsys.readouterr().err


def test_git_commit_only_inside_a_repository(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", [new_code_cell("1")])
    assert job_run.git_state(nb) == (None, False)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "nb.ipynb"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert job_run.git_state(nb) == (head, False)
    nb.write_text(nb.read_text().replace('"1"', '"2"'))
    assert job_run.git_state(nb) == (head, True)


def test_default_output_is_a_new_file_under_pyshim_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(job_run, "RUNS_DIR", tmp_path / "runs")
    first = job_run._default_output(Path("/x/02_score.ipynb"))
    first.write_text("{}")
    second = job_run._default_output(Path("/x/02_score.ipynb"))
    assert first.parent == second.parent == tmp_path / "runs"
    assert first != second and first.name.startswith("02_score-") and second.suffix == ".ipynb"
    assert subprocess.run(["git", "check-ignore", "-q", ".pyshim/runs/a.ipynb"], cwd=REPO_ROOT).returncode == 0


# --- Python jobs on the pyshim-python kernel ---------------------------------------------------

def test_a_python_job_gets_its_parameters_and_an_mlflow_run(job_env, capsys):
    import mlflow
    import pyshim

    git = ["git", "-C", str(job_env), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    nb = write_notebook(job_env / "job.ipynb", [
        new_markdown_cell("# a job"),
        parameters_cell("n = 1\nlabel = 'default'\nmodel_uri = 'models:/price@champion'  # the model\n"
                        "out = f'{label}.parquet'"),
        new_code_cell("import os\nprint(os.environ['PYSHIM_JOB_RUN_ID'], os.environ['PYSHIM_JOB_NAME'], "
                      "os.environ['MLFLOW_TRACKING_URI'], os.environ.get('MLFLOW_RUN_ID'))"),
        new_code_cell("print(n * 2, repr(label))"),
    ])
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "job.ipynb"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "job"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    executed = job_env / "runs" / "job-out.ipynb"

    code = job_run.main([str(nb), "-p", "n", "21", "-r", "label", "7", "--output", str(executed),
                         "--experiment", "python-job"])

    out = capsys.readouterr().out
    assert code == 0, out
    # one progress line per code cell, numbered among all cells (papermill's injected cell included)
    assert [int(m[0]) for m in PROGRESS.findall(out)] == [2, 3, 4, 5]
    assert {int(m[1]) for m in PROGRESS.findall(out)} == {5}
    ran = nbformat.read(executed, as_version=4)
    assert ran.cells[2].metadata.tags == ["injected-parameters"]   # right after the parameters cell
    assert "n = 21" in ran.cells[2].source and "label = \"7\"" in ran.cells[2].source
    assert outputs_text(ran.cells[4]).strip() == "42 '7'"

    (run,) = runs_in("python-job")
    # the contract: the job's run id, the notebook's path, the store; never MLFLOW_RUN_ID
    assert outputs_text(ran.cells[3]).split() == [run.info.run_id, str(nb.resolve()),
                                                  os.environ["MLFLOW_TRACKING_URI"], "None"]
    assert run.info.status == "FINISHED" and run.info.run_name == "job"
    # every parameter of the cell: the two passed, a literal default, an expression's source text
    assert run.data.params == {"n": "21", "label": "7", "model_uri": "models:/price@champion",
                               "out": "f'{label}.parquet'"}
    tags = run.data.tags
    assert (tags["pyshim.job.params_passed"], tags["pyshim.job.params_default"],
            tags["pyshim.job.params_expression"]) == ("n, label", "model_uri, out", "out")
    assert "  parameters: n=21, label=7, model_uri=models:/price@champion (default), " \
           "out=f'{label}.parquet' (default expression)\n" in out
    found = mlflow.search_runs(experiment_names=["python-job"], output_format="list",
                               filter_string="params.model_uri = 'models:/price@champion'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert tags["pyshim.job.notebook_sha256"] == hashlib.sha256(nb.read_bytes()).hexdigest()
    assert tags["mlflow.source.git.commit"] == head and tags["pyshim.job.git_dirty"] == "false"
    assert tags["pyshim.version.pyshim"] == pyshim.__version__
    assert tags["pyshim.version.mlflow"] == mlflow.__version__
    assert tags["pyshim.version.python"] == platform.python_version()
    import pyspark

    assert tags["pyshim.version.spark"] == pyspark.__version__
    assert artifacts(run.info.run_id) == {"job-out.ipynb", "job-out.kernel.log",
                                          "_review/job-out.py", "_review/job-out.html"}
    logged = client().download_artifacts(run.info.run_id, "job-out.ipynb", str(job_env / "dl"))
    assert Path(logged).read_bytes() == executed.read_bytes()
    assert (executed.parent / "_review" / "job-out.py").is_file()
    assert f"MLflow run {run.info.run_id} in experiment python-job: FINISHED" in out


def test_a_failing_cell_fails_the_job_and_keeps_the_partial_notebook(job_env, capsys):
    nb = write_notebook(job_env / "bad.ipynb", [
        new_code_cell("print('first cell ran')"),
        new_code_cell("rate = 1 / 0"),
        new_code_cell("print('never runs')"),
    ])
    executed = job_env / "bad-out.ipynb"

    code = job_run.main([str(nb), "--output", str(executed), "--experiment", "failing-job"])

    out, err = capsys.readouterr()
    assert code == 1
    assert "bad.ipynb failed at cell 2 of 3 (rate = 1 / 0)" in err
    assert "ZeroDivisionError: division by zero" in err
    assert f"partly executed notebook: {executed}" in err
    assert "Traceback" not in err
    assert re.search(r"cell  2/3  rate = 1 / 0 .*FAILED", out)
    (run,) = runs_in("failing-job")
    assert f"MLflow run {run.info.run_id}: FAILED" in err
    assert run.info.status == "FAILED"
    assert "ZeroDivisionError: division by zero" in run.data.tags["pyshim.job.error"]
    assert run.data.tags["pyshim.job.failed_cell"] == "2"
    partial = nbformat.read(executed, as_version=4)
    cells = {c.source: c for c in partial.cells}
    assert outputs_text(cells["print('first cell ran')"]).strip() == "first cell ran"
    assert cells["print('never runs')"].outputs == []
    assert {"bad-out.ipynb", "_review/bad-out.html"} <= artifacts(run.info.run_id)


# --- the example notebooks as jobs -------------------------------------------------------------

@pytest.mark.toree
def test_scala_notebook_2_as_a_job_writes_its_output_and_records_the_run(trained, demo_env, tmp_path):
    """`pyshim run notebooks/02_score_from_scala.ipynb -r input_path X`: the output and the model
    are the parameters cell's defaults, and the run logs them too."""
    import mlflow

    target = tmp_path / "output" / "wine_scored_scala.parquet"  # the default: s"$outputDir/..."
    executed = tmp_path / "02-job.ipynb"
    source, source_rows = wine_input(tmp_path / "wines.parquet", copies=10)
    notebook = demo.NOTEBOOKS_DIR / "02_score_from_scala.ipynb"
    env = {**demo_env, "PYSHIM_OUTPUT_DIR": str(tmp_path / "output")}
    done = subprocess.run([str(Path(sys.executable).parent / "pyshim"), "run", str(notebook),
                           "-r", "input_path", str(source), "--output", str(executed), "--experiment", "scala-job"],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert rows_in(target) == source_rows

    ran = nbformat.read(executed, as_version=4)
    code_cells = [i + 1 for i, c in enumerate(ran.cells) if c.cell_type == "code"]
    assert [int(m[0]) for m in PROGRESS.findall(done.stdout)] == code_cells
    assert not [o for c in ran.cells for o in c.get("outputs", []) if o.output_type == "error"]
    injected = next(c for c in ran.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert injected.source.strip().splitlines()[-1] == f'val input_path = "{source}"'
    version = mlflow.MlflowClient(tracking_uri=demo_env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(
        "wine_classifier", "champion").version
    register = next(c for c in ran.cells if c.cell_type == "code" and "pyshim.Models.register" in c.source)
    assert f"wine: registered models:/wine_classifier@champion (version {version}," in outputs_text(register)

    (run,) = runs_in("scala-job")
    assert run.info.status == "FINISHED"
    params = {"input_path": str(source), "output_path": 's"$outputDir/wine_scored_scala.parquet"',
              "model_uri": "models:/wine_classifier@champion"}
    assert run.data.params == params
    tags = run.data.tags
    assert (tags["pyshim.job.params_passed"], tags["pyshim.job.params_default"],
            tags["pyshim.job.params_expression"]) == ("input_path", "output_path, model_uri", "output_path")
    found = client().search_runs([run.info.experiment_id],
                                 filter_string="params.model_uri = 'models:/wine_classifier@champion'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert tags["pyshim.job.notebook_sha256"] == hashlib.sha256(notebook.read_bytes()).hexdigest()
    assert tags["pyshim.job.kernel"] == "pyshim-scala"
    assert tags["mlflow.source.git.commit"] == subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert {"pyshim.version.pyshim", "pyshim.version.spark", "pyshim.version.mlflow",
            "pyshim.version.python"} <= set(tags)
    assert artifacts(run.info.run_id) == {"02-job.ipynb", "02-job.kernel.log", "lineage.json",
                                          "_review/02-job.scala", "_review/02-job.html"}
    assert f"MLflow run {run.info.run_id} in experiment scala-job: FINISHED" in done.stdout

    # The write's lineage: in the output folder and in the run, naming the version the alias gave.
    (write,) = json.loads((target / "_pyshim_lineage.json").read_text())["writes"]
    assert write["output"]["rows"] == source_rows
    assert [Path(i["path"].removeprefix("file:")) for i in write["inputs"]] == [source]
    (fn,) = write["functions"]
    assert (fn["name"], fn["model_uri"], fn["version"]) == ("wine", "models:/wine_classifier@champion", str(version))
    assert write["job"]["run_id"] == run.info.run_id
    assert (write["job"]["params"], write["job"]["defaults"], write["job"]["expressions"]) == (
        params, ["output_path", "model_uri"], ["output_path"])
    shown = subprocess.run([str(Path(sys.executable).parent / "pyshim"), "lineage", str(target)],
                           env=env, capture_output=True, text=True, timeout=60)
    assert (f"  parameters  input_path={source}, model_uri=models:/wine_classifier@champion (default), "
            'output_path=s"$outputDir/wine_scored_scala.parquet" (default expression)\n') in shown.stdout
    logged = client().download_artifacts(run.info.run_id, "lineage.json", str(tmp_path / "dl"))
    assert json.loads(Path(logged).read_text())["writes"] == [write]
    digest = write["inputs"][0]["digest"]
    found = client().search_runs([run.info.experiment_id], filter_string=f"dataset.digest = '{digest}'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


@pytest.mark.toree
def test_a_failing_scala_cell_gives_its_short_error_and_a_failed_run(job_env, capsys):
    missing = job_env / "no-such-input.parquet"
    nb = write_notebook(job_env / "scala_job.ipynb", [
        parameters_cell('val input_path = "/default/input"'),
        new_code_cell('println(sys.env("PYSHIM_JOB_RUN_ID") + " " + sys.env("PYSHIM_JOB_NAME"))'),
        new_code_cell("val rows = spark.read.parquet(input_path).count()"),
        new_code_cell('println("never runs")'),
    ], kernel=SCALA_KERNEL)
    executed = job_env / "scala-out.ipynb"

    code = job_run.main([str(nb), "-r", "input_path", str(missing), "--output", str(executed),
                         "--experiment", "scala-failing"])

    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "scala_job.ipynb failed at cell 4 of 5 (val rows = spark.read.parquet(input_path).count())" in err
    assert "Path does not exist" in err and str(missing) in err
    assert not re.search(r"^\s+at [\w$.]+\(", err, re.MULTILINE), err  # no JVM stack
    (run,) = runs_in("scala-failing")
    assert run.info.status == "FAILED"
    partial = nbformat.read(executed, as_version=4)
    env_cell = next(c for c in partial.cells if "PYSHIM_JOB_RUN_ID" in c.source)
    assert outputs_text(env_cell).split() == [run.info.run_id, str(nb.resolve())]
    assert next(c for c in partial.cells if c.source == 'println("never runs")').outputs == []
    assert {"scala-out.ipynb", "_review/scala-out.scala"} <= artifacts(run.info.run_id)


def test_pyspark_notebook_3_as_a_job(job_env, capsys):
    target = job_env / "scored3.parquet"
    executed = job_env / "03-job.ipynb"
    code = job_run.main([str(demo.NOTEBOOKS_DIR / "03_pyspark_pipeline.ipynb"), "-r", "output_path", str(target),
                         "--output", str(executed), "--experiment", "pyspark-job"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert rows_in(target) == ROWS
    assert not (job_env / "output" / "wine_scored_pyspark.parquet").exists()
    (run,) = runs_in("pyspark-job")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"input_path": "", "output_path": str(target), "model_uri": ""}  # the cell's "" defaults
    assert (run.data.tags["pyshim.job.params_passed"], run.data.tags["pyshim.job.params_default"]) == (
        "output_path", "input_path, model_uri")
    assert "pyshim.job.params_expression" not in run.data.tags
    assert run.data.tags["pyshim.job.kernel"] == "pyshim-python"
    assert {"03-job.ipynb", "_review/03-job.py", "_review/03-job.html"} <= artifacts(run.info.run_id)
