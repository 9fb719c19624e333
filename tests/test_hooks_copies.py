"""Review copies of notebooks as found in the wild: every one gets both copies, the script
copy is valid in its language (Python compiles, Scala parses with scalac from pyspark's jars)
and `jupytext --to ipynb` gives back every code cell."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hooks_fixtures import WILD_NOTEBOOKS, python_notebook, toree_notebook, write_notebook
from pyshim_hooks.exporter import ExportOptions, export_notebook, stale_copies
from pyshim_hooks.reading import read_notebook
from pyshim_hooks.script import HEADER

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Path, Path]]:
    """name -> (notebook, script copy, html copy), for every notebook of WILD_NOTEBOOKS."""
    folder = tmp_path_factory.mktemp("wild")
    result = {}
    for name, (make, extension) in WILD_NOTEBOOKS.items():
        notebook = write_notebook(folder / f"{name}.ipynb", make())
        written = export_notebook(notebook, ExportOptions())
        review = folder / "_review"
        result[name] = (notebook, review / f"{name}{extension}", review / f"{name}.html")
        assert sorted(written) == sorted(result[name][1:]), f"{name}: wrote {written}"
    return result


@pytest.mark.parametrize("name", sorted(WILD_NOTEBOOKS))
def test_every_notebook_gets_both_copies_with_the_same_bytes_again(exported, name):
    notebook, script, html = exported[name]
    assert script.read_text().count(HEADER.format(name=notebook.name)) == 1
    assert "In[" not in script.read_text() and "In [" not in script.read_text()
    assert "<main>" in html.read_text()
    assert stale_copies(notebook, ExportOptions()) == []  # same notebook, same bytes
    assert export_notebook(notebook, ExportOptions()) == []


@pytest.mark.parametrize("name", sorted(n for n, (_, ext) in WILD_NOTEBOOKS.items() if ext == ".py"))
def test_python_copies_compile(exported, name):
    script = exported[name][1]
    compile(script.read_text(), str(script), "exec")


def scalac_parse(script: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Parse ``script`` as a Scala 2.12 script (top-level statements allowed), parser phase
    only, with the compiler in pyspark's jars, invoked as pyshim builds the extension."""
    from pyshim.kernel import scala_build

    command = scala_build.compiler_command(tmp_path, []) + [
        "-Xscript", "ReviewCopy", "-Ystop-after:parser", str(script)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(n for n, (_, ext) in WILD_NOTEBOOKS.items() if ext == ".scala"))
def test_scala_copies_parse_with_scalac(exported, name, tmp_path):
    result = scalac_parse(exported[name][1], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scalac_check_rejects_what_the_old_copies_held(tmp_path):
    """The parse check can fail: bare magics and Python code are not Scala."""
    old_style = tmp_path / "old.scala"
    old_style.write_text("// %%\n%load setup\nval x = 1\n\n// %%\ndef f(x):\n    return {'x': x}\n")
    result = scalac_parse(old_style, tmp_path)
    assert result.returncode != 0 and "error" in result.stdout + result.stderr


def code_sources(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_copies_round_trip_through_the_jupytext_cli(exported, tmp_path):
    """`jupytext --to ipynb` of each script copy gives back every code cell's source."""
    copies = []
    for name, (_, script, _) in exported.items():
        copy = tmp_path / script.name
        copy.write_bytes(script.read_bytes())
        copies.append(copy)
    subprocess.run([str(VENV_BIN / "jupytext"), "--quiet", "--to", "ipynb", *map(str, copies)],
                   check=True, capture_output=True, text=True, timeout=120)
    for name, (notebook, script, _) in exported.items():
        back = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        header = f"{'//' if script.suffix == '.scala' else '#'} {HEADER.format(name=notebook.name)}"
        assert back.cells[0].source == header, name
        back.cells.pop(0)
        assert code_sources(back) == code_sources(read_notebook(notebook)), name


def test_magics_and_other_languages_are_commented_in_the_scala_copy(exported):
    text = exported["toree"][1].read_text()
    assert "\n// %AddDeps org.apache.commons commons-math3 3.6.1 --transitive\n// %load setup\n" in text
    assert '// %% language="python"\n// import json\n' in text
    assert '// %% magic_args="--limit 2" language="SQL"\n// SELECT "quoted"' in text
    assert '// %%dataframe\ndf.filter($"n" > 5)' in text  # its body is Scala: kept as code
    assert "\nval df = spark.range(10)" in text


def test_magics_and_other_languages_are_commented_in_the_python_copy(exported):
    text = exported["python_magics"][1].read_text()
    for commented in ("# %run -i snippets/setup.py", "# !pip list | grep pandas", "# files = !ls",
                      '# %% language="bash"\n# for f in *.csv; do', '# %% language="R"\n# x <- c(1, 2, 3)',
                      "# %% language=\"html\"\n# <div class='note'>", "# def broken(:"):
        assert commented in text


def test_rerunning_a_notebook_does_not_change_its_script_copy(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", python_notebook("x = 1", "first run"))
    export_notebook(notebook, ExportOptions())
    rerun = python_notebook("x = 1", "second run")
    rerun["cells"][1]["execution_count"] = 42
    write_notebook(notebook, rerun)
    assert [path.name for path in stale_copies(notebook, ExportOptions())] == ["nb.html"]


def test_python_is_assumed_when_nothing_says_otherwise(exported):
    for name in ("no_language", "invalid_metadata", "v3", "v2"):
        assert exported[name][1].suffix == ".py"


def test_html_marks_a_missing_attachment_as_a_broken_image(exported):
    html = exported["missing_attachment"][2].read_text()
    images = re.findall(r'<img alt="chart" src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == 1
    assert "missing attachment: nowhere.png" in base64.b64decode(images[0]).decode()


def test_unknown_cell_type_is_kept_with_a_note(exported):
    note = "a cell of type 'hologram', which this Jupyter does not know, kept as raw text"
    script = exported["unknown_cell_type"][1].read_text()
    assert f"# %% [raw]\n# pyshim: {note}:\n# a cell from the future\n# with two lines\n" in script
    html = exported["unknown_cell_type"][2].read_text()
    assert note in html and "a cell from the future\nwith two lines" in html


def test_html_names_every_interactive_output_it_removed(exported):
    html = exported["interactive_outputs"][2].read_text()
    for what in ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json",
                 "&lt;iframe&gt; in text/html", "application/vnd.vegalite.v5+json"):
        assert f"interactive output removed: {what}" in html
    assert "IntSlider(value=3)" in html  # the widget's text form stays
    assert "Plotly.newPlot" not in html and "<iframe" not in html


def test_v3_notebook_keeps_its_heading_and_code(exported):
    script = exported["v3"][1].read_text()
    assert "# %% [markdown]\n# # Old notebook\n\n# %%\n# %matplotlib inline\ntotal = sum(range(10))" in script
    assert "45" in exported["v3"][2].read_text()


def test_a_scala_language_cell_is_not_mistaken_for_a_foreign_one(tmp_path):
    nb = toree_notebook()
    nb["cells"] = nb["cells"][:3]
    notebook = write_notebook(tmp_path / "plain.ipynb", nb)
    export_notebook(notebook, ExportOptions())
    # No foreign cell magics: no jupytext header, our line comes first.
    assert (tmp_path / "_review" / "plain.scala").read_text().startswith("// Review copy of plain.ipynb")


def test_unicode_escapes_in_comments_cannot_break_a_scala_copy(tmp_path):
    """scalac 2.12 reads \\uXXXX even in comments: a malformed one, or a line break, in a
    commented cell would break the file. The copy adds one backslash there, nowhere else."""
    nb = toree_notebook()
    nb["cells"] = [nb["cells"][0], {"cell_type": "code", "id": "py", "metadata": {}, "outputs": [],
                                    "execution_count": None,
                                    "source": '%%python\nprint("line\\u000aend", r"C:\\users")'},
                   {"cell_type": "code", "id": "scala", "metadata": {}, "outputs": [],
                    "execution_count": None, "source": 'val e = "caf\\u00e9"'}]
    notebook = write_notebook(tmp_path / "escapes.ipynb", nb)
    export_notebook(notebook, ExportOptions())
    script = tmp_path / "_review" / "escapes.scala"
    text = script.read_text()
    assert '// print("line\\\\u000aend", r"C:\\\\users")' in text
    assert "Data in `C:\\\\users\\spark`" in text
    assert 'val e = "caf\\u00e9"' in text  # code is the kernel's business, as written
    result = scalac_parse(script, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("make", "cells"), [
    (toree_notebook, ["%%scala\nval y = 2", '%%scala -x "q"\nval z = 3']),
    (python_notebook, ["%%python\nx = 1", "%%python3\nx = 2"]),
])
def test_a_cell_magic_naming_the_notebooks_own_language_round_trips(tmp_path, make, cells):
    """jupytext drops such a magic when it reads its own file back; the copy keeps it."""
    nb = make()
    nb["cells"] = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [],
                    "execution_count": None, "source": source} for i, source in enumerate(cells)]
    notebook = write_notebook(tmp_path / "own.ipynb", nb)
    export_notebook(notebook, ExportOptions())
    script = next((tmp_path / "_review").glob("own.[ps]*"))
    subprocess.run([str(VENV_BIN / "jupytext"), "--quiet", "--to", "ipynb", "-o", str(tmp_path / "back.ipynb"),
                    str(script)], check=True, capture_output=True, timeout=120)
    back = nbformat.read(tmp_path / "back.ipynb", as_version=4)
    assert code_sources(back)[1:] == cells  # after the header line's cell
    if script.suffix == ".py":
        compile(script.read_text(), str(script), "exec")
    else:
        assert scalac_parse(script, tmp_path).returncode == 0
