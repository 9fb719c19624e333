"""%%python cells are IPython cells: rich output in order with the prints, magics, and
DataFrames shared with Scala, against the session's shared Toree kernel."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest


pytestmark = pytest.mark.toree

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODEL_FUNCTIONS_PAGE = Path(__file__).parent.parent / "docs" / "model-functions.md"


def _sequence(result) -> list[tuple[str, object]]:
    """The cell's outputs in order, text merged: ("text", str) or (msg_type, data)."""
    seq: list[tuple[str, object]] = []
    for kind, content in result.outputs:
        if kind == "stream":
            if seq and seq[-1][0] == "text":
                seq[-1] = ("text", seq[-1][1] + content["text"])
            else:
                seq.append(("text", content["text"]))
        elif kind in ("display_data", "execute_result"):
            seq.append((kind, content["data"]))
    return seq


def _displays(result) -> list[dict]:
    return [content["data"] for kind, content in result.outputs if kind == "display_data"]


def test_a_figure_shows_as_a_png_at_the_end_of_the_cell_without_backend_warnings(toree):
    result = toree.run("%%python\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('drawn')").ok()
    pngs = [d["image/png"] for d in _displays(result) if "image/png" in d]
    assert len(pngs) == 1, result.outputs
    assert base64.b64decode(pngs[0]).startswith(PNG_MAGIC)
    assert "drawn" in result.stdout
    assert "backend" not in result.stderr.lower() and "warning" not in result.stderr.lower(), result.stderr


def test_plt_show_shows_the_figure_where_it_is_called(toree):
    result = toree.run("%%python\nimport matplotlib.pyplot as plt\n%matplotlib inline\n"
                       "print('before')\nplt.bar(['a', 'b'], [2, 5])\nplt.show()\nprint('after')").ok()
    seq = _sequence(result)
    kinds = [kind if kind == "text" else "png" if "image/png" in data else kind for kind, data in seq]
    assert kinds == ["text", "png", "text"], seq
    assert seq[0][1] == "before\n" and seq[2][1] == "after\n"


def test_display_of_a_dataframe_mid_cell_is_a_table_between_the_prints(toree):
    result = toree.run("%%python\nimport pandas as pd\nprint('before')\n"
                       "display(pd.DataFrame({'wine': ['a', 'b'], 'score': [0.5, 0.75]}))\nprint('after')\n"
                       "spark.range(2)").ok()
    seq = _sequence(result)
    assert [kind for kind, _ in seq] == ["text", "display_data", "text", "execute_result"], seq
    assert seq[0][1] == "before\n" and seq[2][1] == "after\n"
    assert "<table" in seq[1][1]["text/html"] and "0.75" in seq[1][1]["text/html"]
    assert seq[3][1]["text/plain"] == "DataFrame[id: bigint]"  # a Spark DataFrame as IPython shows it


def test_every_mime_type_ipython_produces_arrives_in_one_message(toree):
    result = toree.run("%%python\nfrom IPython.display import HTML, JSON, SVG, Latex, Markdown\n"
                       "display(HTML('<b>bold</b>'), Markdown('*it*'), JSON({'k': [1, 2]}), Latex(r'$x^2$'),\n"
                       "        SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>'))\n"
                       "display({'text/plain': 'plain', 'application/vnd.pyshim+json': {'a': 1}}, raw=True)").ok()
    displays = _displays(result)
    assert [sorted(d) for d in displays] == [
        ["text/html", "text/plain"], ["text/markdown", "text/plain"], ["application/json", "text/plain"],
        ["text/latex", "text/plain"], ["image/svg+xml", "text/plain"],
        ["application/vnd.pyshim+json", "text/plain"]]
    assert displays[2]["application/json"] == {"k": [1, 2]}  # JSON as JSON, not as a string
    assert displays[5]["application/vnd.pyshim+json"] == {"a": 1}


def test_last_expression_underscore_out_and_in_work_as_in_ipython(toree):
    first = toree.run("%%python\nimport pandas as pd\npd.DataFrame({'n': [1, 2]})").ok()
    assert "<table" in first.result_data["text/html"]
    toree.run("%%python\nanswer = 40\nanswer + 2").ok()
    assert toree.run("%%python\n_ + 1").ok().text == "43"
    out = toree.run("%%python\n(Out[max(Out)], In[-1])").ok().text
    assert out == "(43, '(Out[max(Out)], In[-1])')"
    assert toree.run("%%python\n1 + 1;").ok().result_data is None  # ; hides the value, as in IPython


def test_timing_magics_print_their_figures(toree):
    assert "per loop" in toree.run("%%python\n%timeit -n 20 -r 2 sum(range(10))").ok().stdout
    timed = toree.run("%%python\n%time total = sum(range(1000))\nprint(total)").ok().stdout
    assert "Wall time" in timed and "499500" in timed


def test_who_env_and_writefile_magics(toree, tmp_path):
    toree.run("%%python\nwho_probe = 1").ok()
    who = toree.run("%%python\n%who").ok().stdout
    assert "who_probe" in who
    assert "spark" not in who.split() and "z" not in who.split()  # the bound names are not the user's
    assert toree.run("%%python\n%env PYSHIM_PROBE=yes\nimport os\nos.environ['PYSHIM_PROBE']").ok().text == "'yes'"
    target = tmp_path / "written.txt"
    wrote = toree.run(f"%%python\n%%writefile {target}\nfirst line\nsecond line").ok()
    assert "Writing" in wrote.stdout
    assert target.read_text() == "first line\nsecond line\n"


def test_help_with_question_marks_shows_in_the_cell(toree):
    toree.run("%%python\ndef scored(x):\n    'Score one wine.'\n    return x * 2").ok()
    short = toree.run("%%python\nscored?").ok()
    assert "Score one wine." in short.text and "Signature" in short.text
    source = toree.run("%%python\nscored??").ok()
    assert "return x * 2" in source.text


def test_a_syntax_error_shows_the_offending_line_and_the_shell_goes_on(toree):
    result = toree.run("%%python\nx = 1\nprint(x +)\n")
    assert result.status == "error"
    text = result.error_text
    assert "SyntaxError" in text and "print(x +)" in text and "line 2" in text
    assert "sidecar.py" not in text and "IPython" not in text
    assert toree.run("%%python\nprint('fine')").ok().stdout == "fine\n"


def test_an_error_in_a_magic_is_one_short_message(toree):
    result = toree.run("%%python\n%timeit -badoption 1")
    assert result.status == "error" and "UsageError" in result.error_text
    assert "interactiveshell.py" not in result.error_text


def test_dataframes_travel_through_z_both_ways_as_the_same_jvm_object(toree):
    toree.run('import pyshim.z\nval frame = spark.range(5).toDF("n")\nz.put("frame", frame)').ok()
    seen = toree.run("%%python\nframe = z.get('frame')\nprint(type(frame).__module__, frame.count())\n"
                     "z.put('frame_back', frame)\nframe").ok()
    # pyspark 4's DataFrame class lives in pyspark.sql.classic.dataframe
    assert seen.stdout in ("pyspark.sql.dataframe 5\n", "pyspark.sql.classic.dataframe 5\n")
    assert seen.text == "DataFrame[n: bigint]"
    assert toree.run('z.getDataFrame("frame_back") eq frame').ok().text == "true"

    toree.run("%%python\ntwice = spark.range(4).selectExpr('id * 2 AS twice')\nz.put('twice', twice)").ok()
    assert toree.run("%%python\nz.get('twice')._jdf.equals(twice._jdf)").ok().text == "True"
    total = toree.run('val twice: org.apache.spark.sql.DataFrame = z.getDataFrame("twice")\n'
                      'twice.agg(org.apache.spark.sql.functions.sum("twice")).first.getLong(0)').ok()
    assert total.text == "12"

    toree.run('z.put("typed", Seq(3, 4, 5).toDS)').ok()
    assert toree.run("%%python\nz.get('typed').toPandas()['value'].tolist()").ok().text == "[3, 4, 5]"
    wrong = toree.run('z.put("count", 3)\nz.getDataFrame("count")')
    assert wrong.status == "error" and "z.getDataFrame: 'count' is a java.lang.Integer, not a DataFrame" in wrong.error_text


def test_a_pandas_dataframe_reaches_scala_as_a_spark_dataframe(toree):
    arrow = 'spark.conf.get("spark.sql.execution.arrow.pyspark.enabled")'
    before = toree.run(arrow).ok().text
    toree.run("%%python\nimport pandas as pd\n"
              "z.put('bottles', pd.DataFrame({'alcohol': [12.5, 13.0, 14.5], 'name': ['a', 'b', 'c']}))").ok()
    schema = toree.run('z.getDataFrame("bottles").schema.simpleString').ok().text
    assert schema == "struct<alcohol:double,name:string>"
    total = toree.run('z.getDataFrame("bottles").agg(org.apache.spark.sql.functions.sum("alcohol")).first.getDouble(0)')
    assert total.ok().text == "40.0"
    # The session's own Arrow setting is left as it was.
    assert toree.run(arrow).ok().text == before


def test_a_pandas_dataframe_past_the_limit_gets_a_message_with_the_fix(toree):
    result = toree.run("%%python\nimport os, pandas as pd\nos.environ['PYSHIM_PANDAS_PUT_LIMIT_MB'] = '0.01'\n"
                       "try:\n    z.put('big', pd.DataFrame({'x': range(10_000)}))\n"
                       "finally:\n    del os.environ['PYSHIM_PANDAS_PUT_LIMIT_MB']")
    assert result.status == "error"
    assert "more than z.put copies into Spark (0.01 MB)" in result.error_text
    assert "spark.createDataFrame" in result.error_text
    assert "big" not in toree.run("import pyshim.z\nz.keys").ok().text


def _docs_blocks(heading: str) -> dict[str, str]:
    """The fenced code blocks of one section of the docs' model functions page, by language."""
    section = re.split(r"\n#{2,3} ", MODEL_FUNCTIONS_PAGE.read_text().split(heading, 1)[1], maxsplit=1)[0]
    return {lang: code for lang, code in re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)}


def test_the_documented_python_functions_are_called_from_scala_sql_callUDF_and_sql(toree):
    blocks = _docs_blocks("## Python functions as SQL functions")
    toree.run(blocks["python"].strip()).ok()
    shown = toree.run(blocks["scala"].strip()).ok().stdout
    assert re.search(r"\|\s*1\|\s*0\.0\|.*\|\s*2\|\s*1\.2\|.*\|\s*3\|\s*2\.4\|", shown, re.DOTALL), shown
    assert re.search(r"\|gross\|.*\|\s*0\.0\|.*\|\s*1\.2\|.*\|\s*2\.4\|", shown, re.DOTALL), shown
    cell = toree.run(blocks["sql"].strip()).ok()
    assert "42" in cell.text or "42" in cell.data.get("text/html", ""), cell


def test_in_jupyterlab_a_scala_notebook_shows_a_python_plot_and_table(browser_page, lab):
    """A user's view: JupyterLab (this .venv, 127.0.0.1, a token, isolated dirs) in chromium,
    a Scala notebook whose %%python cells draw a figure and show a DataFrame."""
    from lab import scala_notebook

    nb = scala_notebook("%%python\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nprint('plotted')",
                        "%%python\nimport pandas as pd\npd.DataFrame({'wine': ['a', 'b'], 'score': [0.5, 0.75]})")
    lab.open(browser_page, nb, "python_cells.ipynb")
    outputs = lab.run_all(browser_page)
    image = outputs.locator("img").first
    image.wait_for(timeout=120_000)
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    table = outputs.locator("table").first
    table.wait_for(timeout=60_000)
    assert "0.75" in table.inner_text()
    assert "plotted" in browser_page.locator(".jp-Notebook").inner_text()
