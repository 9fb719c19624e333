"""The example notebooks, executed against the installed kernels, checked on what they produce.

They run as `make demo` runs them (pyshim.tools.demo.run_notebook: nbclient, the kernel named in
the notebook, the notebooks folder as working folder) with the session's temp MLflow store
and a temp output folder, once per session: conftest.py's `trained`, `scored_in_scala` and
`pyspark_pipeline`, which test_serve.py shares. Asserts are on key outputs: the registered
version, the rows scored, the accuracy, the Parquet written, not only on the absence of errors.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pyspark
import pytest

from pyshim import defaults
from pyshim.tools import demo

NOTEBOOKS = demo.NOTEBOOKS_DIR
ROWS = 178 * 562  # the wine data repeated, in notebooks 2 and 3


def text_of(nb, index: int | None = None) -> str:
    """Everything a cell (or the whole notebook) shows: streams, results and errors."""
    cells = nb.cells if index is None else [nb.cells[index]]
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def cell_with(nb, code: str) -> int:
    """The index of the first cell whose source contains `code`."""
    return next(i for i, c in enumerate(nb.cells) if code in c.source)


def errors_in(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def number_after(label: str, text: str) -> str:
    match = re.search(rf"^{re.escape(label)}:\s*([0-9.]+)\s*$", text, re.MULTILINE)
    assert match, f"no line '{label}: <number>' in the notebook's output:\n{text[-3000:]}"
    return match.group(1)


def read_parquet(path: Path):
    import pyarrow.dataset as ds

    return ds.dataset(str(path), format="parquet").to_table().to_pandas()


# --- the committed notebooks -------------------------------------------------------------

@pytest.mark.parametrize("name", demo.DEMO_NOTEBOOKS)
def test_committed_without_outputs_and_with_a_pyshim_kernel(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), \
        f"{name}: clear the outputs before committing (diffs stay small; the tests execute it)"
    assert nb.metadata.kernelspec.name in ("pyshim-python", "pyshim-scala")
    # %%python cells are embedded in a Scala triple-quoted string by Toree
    assert not any(c.source.startswith("%%python") and '"""' in c.source for c in code)


def test_demo_notebooks_are_numbered_in_order():
    assert list(demo.DEMO_NOTEBOOKS) == sorted(demo.DEMO_NOTEBOOKS)
    assert all((NOTEBOOKS / n).is_file() for n in demo.DEMO_NOTEBOOKS)


def test_snippets_exist_for_both_kernels():
    assert (NOTEBOOKS / "snippets" / "setup.scala").is_file()
    assert (NOTEBOOKS / "snippets" / "setup.py").is_file()
    scala = nbformat.read(NOTEBOOKS / "02_score_from_scala.ipynb", as_version=4)
    assert any(c.source.strip() == "%load setup" for c in scala.cells)


# --- 1: train, track, register -------------------------------------------------------------

def test_train_notebook_registers_a_version_with_the_champion_alias(trained, demo_env):
    import mlflow

    run, nb = trained
    assert not errors_in(nb)
    out = text_of(nb)
    match = re.search(r"registered wine_classifier version (\d+) as models:/wine_classifier@champion", out)
    assert match, out
    client = mlflow.MlflowClient(tracking_uri=demo_env["MLFLOW_TRACKING_URI"])
    mv = client.get_model_version_by_alias("wine_classifier", "champion")
    assert str(mv.version) == match.group(1)
    logged = client.get_run(mv.run_id)
    assert logged.data.params["C"] == "1.0"
    assert float(logged.data.metrics["accuracy"]) > 0.85
    assert "f1_macro" in logged.data.metrics
    # signature and input example went with the model
    from mlflow.models import Model

    local = mlflow.artifacts.download_artifacts(f"models:/wine_classifier/{mv.version}",
                                                dst_path=str(run.executed.parent / "model"))
    model = Model.load(str(Path(local) / "MLmodel"))
    assert "proline" in model.signature.inputs.input_names()
    assert model.saved_input_example_info is not None


def test_train_notebook_keeps_artifacts_beside_the_store(trained, demo_env):
    import mlflow

    db = defaults.sqlite_path(demo_env["MLFLOW_TRACKING_URI"])
    experiment = mlflow.MlflowClient(tracking_uri=demo_env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("pyshim-demo")
    assert experiment.artifact_location == str(db.parent / "artifacts")
    assert not (NOTEBOOKS / "mlruns").exists()


# --- 2: Scala (Toree on Spark 3.5, pyshim's own kernel on Spark 4) --------------------------

@pytest.mark.toree
def test_scala_notebook_scores_rows_through_the_registered_version(trained, scored_in_scala, demo_env):
    _, trained_nb = trained
    run, nb = scored_in_scala
    assert run.kernel == "pyshim-scala"
    assert not errors_in(nb), errors_in(nb)
    version = re.search(r"registered wine_classifier version (\d+)", text_of(trained_nb)).group(1)

    load = text_of(nb, 1)
    assert "loaded " in load and "setup.scala" in load
    assert f"MLflow tracking URI: {demo_env['MLFLOW_TRACKING_URI']}" in load
    assert f"Spark {pyspark.__version__} " in load  # the line's own Spark: the kernel runs this environment's

    register = text_of(nb, cell_with(nb, 'pyshim.Models.register("wine", model_uri)'))
    assert f"wine: registered models:/wine_classifier@champion (version {version}," in register
    assert "result: bigint" in register
    # The demo's 3-class logistic regression (44 K characters of SQL) is worth compiling.
    assert "runs: native Spark SQL, no Python workers" in register, register

    out = text_of(nb)
    assert int(number_after("rows scored", out)) == ROWS
    assert float(number_after("accuracy", out)) > 0.9
    assert re.search(r"misclassified: (\d+) with call_udf, \1 with spark\.sql", out), \
        "spark.sql and call_udf should agree on every row"


@pytest.mark.toree
def test_scala_notebook_writes_readable_parquet(scored_in_scala, demo_env):
    path = Path(demo_env["PYSHIM_OUTPUT_DIR"]) / demo.SCORED_OUTPUTS["02_score_from_scala.ipynb"]
    frame = read_parquet(path)
    assert len(frame) == ROWS == demo.rows_in(path)
    assert set(frame.columns) == {"wine_id", "copy", "target", "predicted"}
    assert set(frame.predicted.unique()) <= {0, 1, 2}
    assert (frame.predicted == frame.target).mean() > 0.9


@pytest.mark.toree
def test_scala_notebook_plots_scala_results_in_python_and_the_review_copy_shows_it(scored_in_scala):
    run, nb = scored_in_scala
    plot = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%python") and "plt." in c.source)
    pngs = [o.data["image/png"] for o in plot.outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(pngs) == 1, plot.outputs
    assert f"{ROWS:,} rows in the confusion matrix" in "".join(o.get("text", "") for o in plot.outputs)
    html = next(p for p in demo.export_review(run.executed) if p.suffix == ".html").read_text()
    assert re.search(rf'<img [^>]*src="data:image/png;base64,{re.escape(pngs[0][:200])}', html)


# --- 3: PySpark pipeline ---------------------------------------------------------------------

def test_pyspark_notebook_tracks_the_spark_pipeline_and_scores(pyspark_pipeline, demo_env):
    import mlflow

    run, nb = pyspark_pipeline
    assert not errors_in(nb), errors_in(nb)
    out = text_of(nb)
    assert "MLflow tracking URI: " + demo_env["MLFLOW_TRACKING_URI"] in out
    assert re.search(r"wine_scaled: registered models:/m-\w+ .* as a Spark SQL function", out)
    rows = int(number_after("rows scored", out))
    accuracy = float(number_after("accuracy", out))
    assert rows == ROWS
    assert accuracy > 0.9

    pipeline_uri = re.search(r"feature pipeline: (runs:/\S+)", out).group(1)
    flavors = mlflow.models.get_model_info(pipeline_uri).flavors
    assert "spark" in flavors
    run_id = pipeline_uri.split("/")[1]
    logged = mlflow.MlflowClient(tracking_uri=demo_env["MLFLOW_TRACKING_URI"]).get_run(run_id)
    assert logged.data.metrics["batch_rows"] == rows

    path = Path(demo_env["PYSHIM_OUTPUT_DIR"]) / demo.SCORED_OUTPUTS["03_pyspark_pipeline.ipynb"]
    frame = read_parquet(path)
    assert len(frame) == rows
    assert abs((frame.predicted == frame.target).mean() - accuracy) < 1e-4
    assert not (NOTEBOOKS / "spark-warehouse").exists()


def test_executed_notebooks_get_review_copies(trained):
    run, _ = trained
    copies = demo.export_review(run.executed)
    names = {p.name for p in copies}
    assert {"01_train_model.py", "01_train_model.html"} <= names
    script = (run.executed.parent / "_review" / "01_train_model.py").read_text()
    assert "registered_model_name=MODEL_NAME" in script


def test_demo_summary_reports_the_model_version_and_rows(trained, pyspark_pipeline, demo_env):
    (run1, nb1), (run3, _) = trained, pyspark_pipeline
    version = re.search(r"registered wine_classifier version (\d+)", text_of(nb1)).group(1)
    text = demo.summary([run1, run3], demo_env, 42.0)
    assert f"model: wine_classifier version {version} (alias champion" in text
    assert f"scored by 03_pyspark_pipeline: {ROWS:,} rows" in text
    assert re.search(r"01_train_model\s+pyshim-python\s+\d+ cells\s+[\d.]+ s", text)
    assert "make lab" in text and "mlflow ui --backend-store-uri " + demo_env["MLFLOW_TRACKING_URI"] in text


def test_no_demo_notebook_shows_a_librarys_warning(trained, scored_in_scala, pyspark_pipeline):
    """tqdm warns "IProgress not found" at mlflow's first import in any Jupyter kernel (no
    ipywidgets): the kernels leave that noise out (defaults.quiet_missing_widgets). pyspark 4.3
    warns at import that pandas 3 is not yet fully supported: the Spark 4 line pins pandas 2."""
    for _, nb in (trained, scored_in_scala, pyspark_pipeline):
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                text = output.get("text", "")
                assert "IProgress not found" not in text, cell.source[:60]
                assert "Warning:" not in text, (cell.source[:60], text)


@pytest.mark.toree
def test_load_of_a_missing_snippet_is_one_clear_line(toree):
    result = toree.run("%load no_such_snippet")
    assert result.status == "error"
    message = result.error.get("evalue") or result.error_text
    assert "%load: no file 'no_such_snippet'" in message
    assert str(NOTEBOOKS / "snippets") in message       # says where it looked
    assert len(message.strip().splitlines()) == 1, message
    assert not any(line.strip().startswith("at org.") for line in result.error_text.splitlines())  # no JVM stack
