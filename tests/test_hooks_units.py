"""Unit tests of pyshim_hooks' pure parts: exporter, sanitizer, worker, settings, import cost."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from traitlets import TraitError
from traitlets.config import Config

from hooks_fixtures import python_notebook, scala_notebook, write_notebook
from pyshim_hooks.config import SaveExport
from pyshim_hooks.errors import ExportError
from pyshim_hooks.exporter import ExportOptions, atomic_write_text, export_notebook, stale_copies
from pyshim_hooks.reading import script_extension
from pyshim_hooks.sanitize import prepare_for_html, strip_scripts_from_cells
from pyshim_hooks.script import render_script
from pyshim_hooks.worker import ExportWorker


def node(nb: dict):
    return nbformat.from_dict(nb)


# ---------------------------------------------------------------- script copies


@pytest.mark.parametrize(
    ("metadata", "extension"),
    [
        ({"language_info": {"name": "scala", "file_extension": ".scala"}}, ".scala"),
        ({"language_info": {"name": "python", "file_extension": ".py"}}, ".py"),
        ({"kernelspec": {"name": "apache_toree_scala", "language": "scala"}}, ".scala"),
        ({"language_info": {"name": "python", "file_extension": "../../evil"}}, ".py"),
        ({"language_info": {"name": "cobol"}}, ".txt"),
        ({"kernelspec": "apache_toree_scala"}, ".scala"),  # invalid, but says enough
        ({}, ".py"),  # Python when nothing says otherwise
    ],
)
def test_script_extension(metadata, extension):
    assert script_extension({"metadata": metadata}) == extension


def test_script_copy_is_percent_format_with_magics_commented():
    nb = node(python_notebook("%time x = 1\nprint(x)"))
    name, text = render_script(nb, Path("/data/analysis.ipynb"))
    assert name == "analysis.py"
    assert text == (
        "# Review copy of analysis.ipynb, written by pyshim_hooks. Edit the notebook, not this file."
        "\n\n# %% [markdown]\n# # A title\n#\n# Some words."
        "\n\n# %%\n# %time x = 1\nprint(x)\n"
    )


def test_scala_script_copy_uses_scala_comments():
    nb = node(scala_notebook("val x = 1"))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("Notes"))
    name, text = render_script(nb, Path("m.ipynb"))
    assert name == "m.scala"
    assert "// %% [markdown]\n// Notes\n\n// %%\nval x = 1\n" in text


# ---------------------------------------------------------------- html sanitizer


def page(cells: str) -> str:
    return f"<html><head><script src='mathjax.js'></script></head><body><main>{cells}</main></body></html>"


@pytest.mark.parametrize(
    "active",
    [
        "<script>evil()</script>",
        "<img src=x onerror='evil()'>",
        "<a href=' JaVa\tScRiPt:evil()'>x</a>",
        "<iframe srcdoc='<script>evil()</script>'></iframe>",
        "<svg><script>evil()</script><a xlink:href='javascript:evil()'>x</a></svg>",
        "<object data='x.swf'></object><embed src='x'>",
        "<form action='javascript:evil()'><button formaction='javascript:evil()'>b</button></form>",
    ],
)
def test_sanitizer_removes_active_content_from_cells(active):
    cleaned = strip_scripts_from_cells(page(f"<p>keep</p>{active}"))
    assert "evil" not in cleaned.split("<main>")[1]
    assert "<p>keep</p>" in cleaned
    assert "<script src='mathjax.js'></script>" in cleaned  # the page's own scripts stay


def test_sanitizer_keeps_tables_styles_and_images():
    html = (
        "<style>.df td {color: red}</style><table class='df'><thead><tr><th>a</th></tr></thead>"
        "<tbody><tr><td>1</td></tr></tbody></table><h2>Heading</h2>"
        "<img src='data:image/png;base64,AAAA' alt='chart'>"
    )
    cleaned = strip_scripts_from_cells(page(html))
    for kept in ("<style>.df td {color: red}</style>", "<thead><tr><th>a</th></tr></thead>",
                 "<td>1</td>", "<h2>Heading</h2>", 'src="data:image/png;base64,AAAA"'):
        assert kept in cleaned


def test_active_outputs_fall_back_to_text_with_a_placeholder():
    nb = node(python_notebook())
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    nb.cells[1].outputs.append(nbformat.v4.new_output(
        "display_data",
        data={"application/javascript": "evil()", "text/plain": "fallback"},
    ))
    cleaned = prepare_for_html(nb, True, ("text/html", "text/plain"))
    assert cleaned.cells[1].outputs[1].data == {"text/plain": "fallback"}
    assert "interactive output removed: application/javascript" in cleaned.cells[1].outputs[2].data["text/plain"]
    assert "widgets" not in cleaned.metadata
    assert "application/javascript" in nb.cells[1].outputs[1].data  # input untouched


# ---------------------------------------------------------------- export / check


def test_export_then_check_then_edit(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", python_notebook("a = 1"))
    options = ExportOptions()
    written = export_notebook(notebook, options)
    assert sorted(path.name for path in written) == ["nb.html", "nb.py"]
    assert stale_copies(notebook, options) == []
    assert export_notebook(notebook, options) == []  # unchanged copies are not rewritten

    write_notebook(notebook, python_notebook("a = 2"))
    assert sorted(path.name for path in stale_copies(notebook, options)) == ["nb.html", "nb.py"]


def test_html_is_reproducible_with_javascript_outputs(tmp_path):
    nb = python_notebook()
    nb["cells"][1]["outputs"].append(
        {"output_type": "display_data", "metadata": {},
         "data": {"application/javascript": "console.log(1)", "text/plain": "js"}}
    )
    notebook = write_notebook(tmp_path / "nb.ipynb", nb)
    options = ExportOptions(strip_scripts=False)  # keeps the output that gets an id
    export_notebook(notebook, options)
    assert "pyshim-output-1" in (tmp_path / "_review" / "nb.html").read_text()
    assert stale_copies(notebook, options) == []


def test_export_refuses_a_symlinked_review_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    notebook = write_notebook(project / "nb.ipynb", python_notebook())
    (project / "_review").symlink_to(elsewhere)
    with pytest.raises(ExportError, match="symbolic link"):
        export_notebook(notebook, ExportOptions())
    assert list(elsewhere.iterdir()) == []


def test_export_of_a_missing_notebook_says_so(tmp_path):
    with pytest.raises(ExportError, match="no longer exists"):
        export_notebook(tmp_path / "gone.ipynb", ExportOptions())


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    target = tmp_path / "copy.txt"
    target.write_text("old")
    with pytest.raises(AttributeError):
        atomic_write_text(target, None)  # type: ignore[arg-type]  # fails mid-write
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["copy.txt"]


def test_copies_are_as_readable_as_the_notebook(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", python_notebook())
    notebook.chmod(0o640)
    export_notebook(notebook, ExportOptions(formats=("script",)))
    assert (tmp_path / "_review" / "nb.py").stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- worker


def test_worker_coalesces_a_burst_into_one_export():
    calls: list[Path] = []
    worker = ExportWorker(calls.append, logging.getLogger("test"), debounce_seconds=0.2)
    for _ in range(20):
        worker.submit(Path("a.ipynb"))
    worker.submit(Path("b.ipynb"))
    assert worker.wait_idle(5)
    assert sorted(calls) == [Path("a.ipynb"), Path("b.ipynb")]
    worker.stop()


def test_worker_reexports_a_notebook_saved_during_its_export():
    started, release = threading.Event(), threading.Event()
    calls: list[Path] = []

    def slow_export(path: Path) -> None:
        calls.append(path)
        started.set()
        release.wait(5)

    worker = ExportWorker(slow_export, logging.getLogger("test"))
    worker.submit(Path("a.ipynb"))
    assert started.wait(5)
    worker.submit(Path("a.ipynb"))  # a save lands while the export runs
    release.set()
    assert worker.wait_idle(5)
    assert calls == [Path("a.ipynb"), Path("a.ipynb")]
    worker.stop()


def test_worker_logs_failures_with_the_path_and_keeps_going(caplog):
    def export(path: Path) -> None:
        if path.name == "bad.ipynb":
            raise ExportError(path, "html copy failed: boom")
        if path.name == "worse.ipynb":
            raise RuntimeError("unexpected")

    worker = ExportWorker(export, logging.getLogger("test.worker"))
    with caplog.at_level(logging.ERROR, logger="test.worker"):
        for name in ("bad.ipynb", "worse.ipynb", "good.ipynb"):
            worker.submit(Path(name))
        assert worker.wait_idle(5)
    messages = [record.getMessage() for record in caplog.records]
    assert any("bad.ipynb" in m and "html copy failed: boom" in m for m in messages)
    assert any("worse.ipynb" in m and "RuntimeError: unexpected" in m for m in messages)
    assert len(messages) == 2
    worker.stop()


def test_wait_idle_times_out_while_busy():
    release = threading.Event()
    worker = ExportWorker(lambda path: release.wait(5), logging.getLogger("test"))
    worker.submit(Path("a.ipynb"))
    start = time.monotonic()
    assert worker.wait_idle(0.1) is False
    assert time.monotonic() - start < 2
    release.set()
    assert worker.stop(5)


# ---------------------------------------------------------------- settings


def test_settings_defaults():
    settings = SaveExport()
    assert settings.review_dir == "_review"
    assert settings.everywhere is False
    assert settings.strip_scripts is True
    assert settings.formats == ["script", "html"]
    assert all(SaveExport.class_traits()[name].help for name in
               ("review_dir", "everywhere", "strip_scripts", "formats", "debounce_seconds"))


def test_settings_come_from_config():
    config = Config({"SaveExport": {"everywhere": True, "formats": ["html"]}})
    settings = SaveExport(config=config)
    assert settings.everywhere and settings.export_options().formats == ("html",)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/abs", "..\\up"])
def test_review_dir_must_be_a_plain_name(bad):
    with pytest.raises(TraitError, match="plain folder name"):
        SaveExport(review_dir=bad)


def test_unknown_format_is_rejected_with_the_choices():
    with pytest.raises(TraitError, match=r"unknown format\(s\) \['pdf'\]; choose from"):
        SaveExport(formats=["script", "pdf"])


def test_marker_switches_folders_on(tmp_path):
    settings = SaveExport()
    assert not settings.applies_to_folder(tmp_path)
    (tmp_path / ".ipynb_saveprocess").touch()
    assert settings.applies_to_folder(tmp_path)


# ---------------------------------------------------------------- packaging


def test_import_is_light_and_warning_free():
    code = (
        "import sys, pyshim_hooks, pyshim_hooks.extension, pyshim_hooks.export, "
        "pyshim_hooks.install, pyshim_hooks.config\n"
        "heavy = {'nbconvert', 'nbformat', 'jupyter_server', 'pyspark', 'mlflow', 'bs4'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_extension_points():
    import pyshim_hooks

    assert pyshim_hooks._jupyter_server_extension_points() == [{"module": "pyshim_hooks"}]


def test_install_writes_the_documented_server_config(tmp_path):
    from pyshim_hooks.install import install, uninstall

    path = tmp_path / "etc/jupyter/jupyter_server_config.d/pyshim_hooks.json"
    assert install(tmp_path, None)
    assert json.loads(path.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"pyshim_hooks": True}}
    }
    assert install(tmp_path, None) == []
    assert uninstall(tmp_path, None) and not path.exists()
    assert uninstall(tmp_path, None) == []


def test_a_language_without_a_script_format_gets_a_markdown_copy(tmp_path):
    nb = python_notebook("DISPLAY 'HI'.")
    nb["metadata"] = {"kernelspec": {"name": "cobol", "language": "cobol", "display_name": "COBOL"},
                      "language_info": {"name": "cobol"}}
    notebook = write_notebook(tmp_path / "legacy.ipynb", nb)
    assert sorted(p.name for p in export_notebook(notebook, ExportOptions())) == ["legacy.html", "legacy.md"]
    text = (tmp_path / "_review" / "legacy.md").read_text()
    assert text.startswith("<!-- Review copy of legacy.ipynb, written by pyshim_hooks.")
    assert "```cobol\nDISPLAY 'HI'.\n```" in text
    assert stale_copies(notebook, ExportOptions()) == []
