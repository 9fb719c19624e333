"""Tab completion, Shift-Tab help and is-complete in each cell language, through the kernel
protocol (jupyter_client's complete / inspect / is_complete) against the shared Scala kernel
of the line (Toree's on Spark 3.5, pyshim's own on Spark 4), and in JupyterLab in a real
browser."""
from __future__ import annotations

import pytest

from pyshim import paths

pytestmark = pytest.mark.toree

WINE = "\U0001F377"  # outside the BMP: one code point, two UTF-16 units in the JVM


def _complete(toree, code: str, cursor: int | None = None) -> dict:
    reply = toree.shell_reply(toree.kc.complete(code, len(code) if cursor is None else cursor))
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]


def _inspect(toree, code: str, cursor: int | None = None) -> dict:
    reply = toree.shell_reply(toree.kc.inspect(code, len(code) if cursor is None else cursor))
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]


def _is_complete(toree, code: str) -> dict:
    return toree.shell_reply(toree.kc.is_complete(code))["content"]


def _completed(code: str, reply: dict, match: str) -> str:
    """The code as the front end makes it when the user picks `match` (positions in code points)."""
    assert match in reply["matches"], reply
    return code[:reply["cursor_start"]] + match + code[reply["cursor_end"]:]


@pytest.fixture(scope="module")
def functions(toree, mlflow_models):
    """A temp view, a model function and a Python UDF in the kernel's session."""
    path = str(mlflow_models.regression_data).replace("\\", "\\\\").replace('"', '\\"')
    toree.run(f'spark.read.parquet("{path}").createOrReplaceTempView("tab_bottles")').ok()
    toree.run(f"%register_model tab_model {mlflow_models.regressor_uri}").ok()
    toree.run('%%python\nspark.udf.register("tab_plus_seven", lambda n: n + 7, "bigint")').ok()
    return mlflow_models


def test_scala_completes_with_toree_s_own_completer(toree):
    code = "val answer = spark.rang"
    reply = _complete(toree, code)
    assert _completed(code, reply, "range") == "val answer = spark.range"


def test_python_cells_complete_from_the_sidecar_s_namespace(toree):
    toree.run("%%python\nimport collections\ntab_earlier_name = 41").ok()
    code = "%%python\nx = 1\ncollections.Ord"
    assert _completed(code, _complete(toree, code), "OrderedDict") == "%%python\nx = 1\ncollections.OrderedDict"
    code = "%%python\nprint(tab_earlier_na"
    assert _completed(code, _complete(toree, code), "tab_earlier_name") == "%%python\nprint(tab_earlier_name"
    names = _complete(toree, "%%python\nprin")["matches"]
    assert "print" in names and "println" not in names  # Python's names, not Scala's


def test_python_completes_what_the_cell_imports_or_defines_before_it_ran(toree):
    """As ipykernel's Tab with jedi: names the cell binds are known before it runs."""
    toree.run("%%python\npass").ok()  # Python is up (the Toree kernel's sidecar starts on first use)
    code = "%%python\nimport textwrap as tab_wrap\ntab_wrap.ded"
    assert _completed(code, _complete(toree, code), "dedent") == "%%python\nimport textwrap as tab_wrap\ntab_wrap.dedent"
    code = "%%python\ntab_grape = 'syrah'\ntab_grape.upp"
    assert _completed(code, _complete(toree, code), "upper") == "%%python\ntab_grape = 'syrah'\ntab_grape.upper"


def test_python_completes_keys_and_the_cursor_inside_the_cell(toree):
    toree.run("%%python\ntab_prices = {'merlot': 12, 'syrah': 9}").ok()
    code = "%%python\ntab_prices['mer"
    assert "merlot" in "".join(_complete(toree, code)["matches"])
    code = "%%python\ncollections.Ord\nprint(1)"
    cursor = code.index("\nprint")
    reply = _complete(toree, code, cursor)
    assert _completed(code, reply, "OrderedDict") == "%%python\ncollections.OrderedDict\nprint(1)"


def test_positions_count_code_points_after_a_character_outside_the_bmp(toree, functions):
    toree.run("%%python\nimport collections").ok()
    code = f"%%python\nlabel = '{WINE}'; collections.Ord"
    assert _completed(code, _complete(toree, code), "OrderedDict").endswith(f"'{WINE}'; collections.OrderedDict")
    code = f'val label = "{WINE}"; spark.rang'
    assert _completed(code, _complete(toree, code), "range") == f'val label = "{WINE}"; spark.range'
    code = f"%%sql\nSELECT '{WINE}' AS w, tab_plus_se"
    assert _completed(code, _complete(toree, code), "tab_plus_seven") == f"%%sql\nSELECT '{WINE}' AS w, tab_plus_seven"


def test_sql_completes_views_columns_keywords_model_functions_and_python_udfs(toree, functions):
    code = "%%sql\nSELECT * FROM tab_bott"
    assert _completed(code, _complete(toree, code), "tab_bottles") == "%%sql\nSELECT * FROM tab_bottles"
    code = "%%sql\nSELECT tab_mod"
    assert _completed(code, _complete(toree, code), "tab_model") == "%%sql\nSELECT tab_model"
    code = "%%sql\nSELECT tab_plus_s"
    assert _completed(code, _complete(toree, code), "tab_plus_seven") == "%%sql\nSELECT tab_plus_seven"
    code = "%%sql\nSELECT b.a, c FROM tab_bottles AS b WHERE "
    cursor = code.index(", c")
    assert "a" in _complete(toree, code, cursor)["matches"]
    assert {"a", "b", "c"} <= set(_complete(toree, "%%sql\nSELECT b. FROM tab_bottles b", len("%%sql\nSELECT b."))["matches"])
    assert "SELECT" in _complete(toree, "%%sql\nSEL")["matches"]
    assert "select" in _complete(toree, "%%sql\nsel")["matches"]


def test_shift_tab_in_python_gives_ipython_s_help(toree):
    reply = _inspect(toree, "%%python\nn = len")
    assert reply["found"] is True
    assert "Return the number of items in a container." in reply["data"]["text/plain"]
    assert _inspect(toree, "%%python\ntab_no_such_name")["found"] is False


def test_shift_tab_on_a_model_function_gives_its_uri_and_version_in_any_cell(toree, functions):
    for code in ("%%sql\nSELECT tab_model(a, b, c) FROM tab_bottles",
                 'spark.sql("SELECT tab_model(a, b, c) FROM tab_bottles")',
                 "%%python\nspark.sql('SELECT tab_model(a, b, c) FROM tab_bottles')"):
        reply = _inspect(toree, code, code.index("tab_model") + 3)
        assert reply["found"] is True, code
        text = reply["data"]["text/plain"]
        assert f"model: {functions.regressor_uri}" in text and "version 1" in text, text


def test_shift_tab_in_scala_gives_the_type_of_the_identifier(toree):
    toree.run("val tabCount = 3L").ok()
    reply = _inspect(toree, "tabCount + 1", 3)
    assert reply["found"] is True and reply["data"]["text/plain"] == "tabCount: Long"
    reply = _inspect(toree, "spark.range(5)", len("spark.ran"))
    assert reply["found"] is True and "def range(end: Long)" in reply["data"]["text/plain"]
    assert _inspect(toree, "tabNoSuchName", 3)["found"] is False


def test_is_complete_answers_per_language(toree):
    assert _is_complete(toree, "val x = (1 +")["status"] == "incomplete"
    assert _is_complete(toree, "%%python\nfor i in range(3):")["status"] == "incomplete"
    assert _is_complete(toree, "%%python\nx = 1\n\n")["status"] == "complete"
    assert _is_complete(toree, "%%python\nx = )\n\n")["status"] == "invalid"
    assert _is_complete(toree, "%%sql\nSELECT (1\n\n")["status"] == "incomplete"
    assert _is_complete(toree, "%%sql\nSELECT 1\n\n")["status"] == "complete"


def test_a_completion_during_a_running_cell_answers_and_the_cell_keeps_all_its_output(toree):
    python_tab = "%%python\nimport collections\ncollections.Ord"
    # A %%python cell runs: Scala's Tab and is-complete answer. Python's answers too: nothing
    # from the Toree kernel's sidecar (busy with the cell), the names from pyshim's own
    # kernel (its IPython completes on a thread beside the cell).
    running = toree.kc.execute("%%python\nimport time\nfor i in range(30):\n    print('line', i, flush=True)\n"
                               "    time.sleep(0.1)\n")
    toree.wait_until_printing(running)
    assert _complete(toree, python_tab)["matches"] == ([] if paths.scala_kernel() == "toree" else ["OrderedDict"])
    assert "range" in _complete(toree, "spark.rang")["matches"]
    assert _is_complete(toree, "val x = (1 +")["status"] == "incomplete"
    assert not toree.replied(running), "the completions must be answered while the cell runs"
    result = toree.result_of(running).ok()
    assert result.stdout == "".join(f"line {i}\n" for i in range(30))

    # A Scala cell runs: Python and Scala complete, Shift-Tab answers.
    running = toree.kc.execute('for (i <- 0 until 30) { println(s"line $i"); Thread.sleep(100) }')
    toree.wait_until_printing(running)
    assert "OrderedDict" in _complete(toree, python_tab)["matches"]
    assert "range" in _complete(toree, "spark.rang")["matches"]
    assert "def range(end: Long)" in _inspect(toree, "spark.range(5)", len("spark.ran"))["data"]["text/plain"]
    assert not toree.replied(running)
    result = toree.result_of(running).ok()
    assert result.stdout == "".join(f"line {i}\n" for i in range(30))


def test_in_jupyterlab_tab_completes_python_names_and_shift_tab_shows_the_docstring(browser_page, lab):
    """A user's view: JupyterLab (this .venv, 127.0.0.1, a token) in chromium, a Scala
    notebook; Tab in a %%python cell lists names of the sidecar's namespace, Shift-Tab on a
    call shows Python's help in a tooltip."""
    from hooks_fixtures import wait_for
    from lab import KERNEL_START_TIMEOUT, kernels_idle, scala_notebook

    nb = scala_notebook("%%python\ntab_rose, tab_red = 1, 2\nprint('defined')", "%%python\nprint(tab_r",
                        "%%python\nlen(")
    page = browser_page
    lab.open(page, nb, "tab.ipynb")
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.nth(0).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    page.locator(".jp-OutputArea-output", has_text="defined").wait_for(timeout=120_000)
    wait_for(lambda: kernels_idle(lab.server), KERNEL_START_TIMEOUT, "the first cell to end")

    cells.nth(1).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")
    completer = page.locator(".jp-Completer")
    completer.wait_for(timeout=60_000)
    items = completer.locator(".jp-Completer-item").all_inner_texts()
    assert any("tab_rose" in item for item in items), items
    assert any("tab_red" in item for item in items), items
    page.keyboard.press("Escape")

    cells.nth(2).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Shift+Tab")
    tooltip = page.locator(".jp-Tooltip")
    tooltip.wait_for(timeout=60_000)
    assert "Return the number of items in a container" in tooltip.inner_text()
