"""Each cell of a Scala notebook is highlighted in its own language, in a real browser.

JupyterLab from this .venv (127.0.0.1, a token, isolated dirs) in Debian's chromium, with the
extension that `pyshim install` put into the server's prefix. A cell's CodeMirror editor says
which language it highlights in `.cm-content[data-language]`.
"""
from __future__ import annotations

import nbformat
import pytest

from hooks_fixtures import running_server, wait_for
from lab import kernels_idle as _kernels_idle

pytestmark = [pytest.mark.server, pytest.mark.toree]

KERNEL_START_TIMEOUT = 300  # a bound for a Toree start on a busy 2-core machine, not a speed target
# JupyterLab's first load (some 60 plugins) took 25-60 s here with 4 test runs on 2 cores.
LAB_LOAD_TIMEOUT = 180
EDITORS = ".jp-Notebook .jp-CodeCell .jp-InputArea-editor .cm-content"


def _scala_notebook() -> nbformat.NotebookNode:
    # No language_info: JupyterLab learns the language from the kernel when it starts, and
    # then resets every cell's mime type to Scala; the extension must put its own back.
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "pyshim-scala", "language": "scala",
                                                           "display_name": "Scala (Toree + pyshim)"}})
    nb.cells = [nbformat.v4.new_code_cell('val greeting = "hello" // a Scala cell'),
                nbformat.v4.new_code_cell("%%python\nprint('it''s python')  # a comment"),
                nbformat.v4.new_code_cell("%%sql\nSELECT `id` FROM range(3) WHERE id RLIKE '1'")]
    return nb


def _languages(page) -> list[str | None]:
    return page.locator(EDITORS).evaluate_all("els => els.map(e => e.getAttribute('data-language'))")


def _wait_languages(page, expected: list[str | None], timeout_s: float | None = None) -> None:
    """Wait until the editors report these languages, in order; fail with what they say.

    None stands for the notebook's own language while the kernel has not yet said which it
    is: JupyterLab shows such cells as plain text (no data-language), later as Scala."""
    try:
        page.wait_for_function(
            """([sel, want]) => {
                const got = [...document.querySelectorAll(sel)].map(e => e.getAttribute('data-language'));
                return got.length === want.length && got.every((g, i) =>
                    want[i] === null ? (g === null || g === 'scala') : g === want[i]);
            }""",
            arg=[EDITORS, expected], timeout=timeout_s * 1000 if timeout_s else None)
    except Exception as err:  # playwright's TimeoutError: say what the editors showed instead
        raise AssertionError(f"editors show {_languages(page)}, expected {expected}") from err


def _saved_sources(server) -> list[str]:
    return [cell.source for cell in nbformat.read(server.root / "modes.ipynb", as_version=4).cells]


def _editor(page, index: int):
    return page.locator(EDITORS).nth(index)


def test_python_and_sql_cells_are_highlighted_in_their_language_in_lab_and_notebook_7(tmp_path, browser_page):
    page = browser_page
    base = tmp_path / "lab"
    # JupyterLab looks for extensions in JUPYTER_PATH first: the copy this server's install put there.
    extra = {"JUPYTER_PATH": str(base / "prefix" / "share" / "jupyter")}
    with running_server(base, extra_env=extra) as server:
        nbformat.write(_scala_notebook(), server.root / "modes.ipynb")
        url = f"{server.url}/lab/tree/modes.ipynb?token={server.token}"
        try:
            page.goto(url)
            page.locator(EDITORS).nth(2).wait_for(timeout=LAB_LOAD_TIMEOUT * 1000)
            # While Toree starts (a minute or more on a busy machine): edits.
            _wait_languages(page, [None, "python", "sql"])

            # Deleting the magic line brings the notebook's language back.
            _editor(page, 1).click()
            page.keyboard.press("Control+Home")
            page.keyboard.press("Shift+End")
            page.keyboard.press("Delete")
            page.keyboard.press("Delete")
            assert _editor(page, 1).inner_text().startswith("print(")
            _wait_languages(page, [None, None, "sql"])

            # A new cell becomes Python when %%python is typed into it.
            _editor(page, 2).click()
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            page.locator(EDITORS).nth(3).wait_for()
            _wait_languages(page, [None, None, "sql", None])
            page.keyboard.press("Enter")
            page.keyboard.type("%%python\nimport os")
            _wait_languages(page, [None, None, "sql", "python"])

            # Scala shows once the kernel's language_info arrived, which resets every cell to
            # Scala; the %%sql and %%python cells must keep their language through it.
            wait_for(lambda: _kernels_idle(server), KERNEL_START_TIMEOUT, "the Toree kernel started by JupyterLab")
            _wait_languages(page, ["scala", "scala", "sql", "python"], KERNEL_START_TIMEOUT)

            # A restarted kernel sends its language_info again: the languages hold.
            kernel = server.session.get(f"{server.url}/api/kernels", timeout=10).json()[0]
            server.session.post(f"{server.url}/api/kernels/{kernel['id']}/restart", timeout=KERNEL_START_TIMEOUT)
            wait_for(lambda: _kernels_idle(server), KERNEL_START_TIMEOUT, "the restarted Toree kernel")
            _wait_languages(page, ["scala", "scala", "sql", "python"])

            # Saved and reopened: the languages come back from the sources alone.
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")
            wait_for(lambda: _saved_sources(server)[-1:] == ["%%python\nimport os"], 60, "the saved notebook")
            page.goto(url)
            page.locator(EDITORS).nth(3).wait_for(timeout=LAB_LOAD_TIMEOUT * 1000)
            _wait_languages(page, ["scala", "scala", "sql", "python"])

            # Notebook 7 (the same server, the same kernel): the extension loads there too.
            page.goto(f"{server.url}/notebooks/modes.ipynb?token={server.token}")
            page.locator(EDITORS).nth(3).wait_for(timeout=LAB_LOAD_TIMEOUT * 1000)
            _wait_languages(page, ["scala", "scala", "sql", "python"], KERNEL_START_TIMEOUT)
        finally:
            for kernel in server.session.get(f"{server.url}/api/kernels", timeout=10).json():
                server.session.delete(f"{server.url}/api/kernels/{kernel['id']}", timeout=60)
