"""Review copies and nbdime as a reviewer sees them: in a real browser (Debian's chromium)."""
from __future__ import annotations

from pathlib import Path

import nbformat

from browser import browser_page  # noqa: F401  (pytest fixture)
from hooks_fixtures import python_notebook, write_notebook
from pyshim_hooks.exporter import ExportOptions, export_notebook


def test_html_copy_renders_code_and_output_in_a_browser(tmp_path: Path, browser_page):
    notebook = write_notebook(tmp_path / "report.ipynb", python_notebook("total = 6 * 7", "forty-two"))
    export_notebook(notebook, ExportOptions())
    browser_page.goto((tmp_path / "_review" / "report.html").as_uri())
    browser_page.get_by_text("forty-two").wait_for()
    assert "total = 6 * 7" in browser_page.inner_text("main")
    assert browser_page.title() == "report"
