"""Review copies and nbdime as a reviewer sees them: in a real browser (Debian's chromium)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hooks_fixtures import interactive_outputs_notebook, python_notebook, wait_for, write_notebook
from pyshim_hooks.exporter import ExportOptions, export_notebook

VENV_BIN = Path(sys.executable).parent


def test_html_copy_renders_code_output_and_placeholders_in_a_browser(tmp_path: Path, browser_page):
    notebook = write_notebook(tmp_path / "report.ipynb", interactive_outputs_notebook())
    export_notebook(notebook, ExportOptions())
    browser_page.goto((tmp_path / "_review" / "report.html").as_uri())
    browser_page.get_by_text("hello from output").wait_for()
    assert browser_page.title() == "report"
    shown = browser_page.inner_text("main")
    assert "fig.show()" in shown
    # Where an output was removed, the reader sees which one.
    for what in ("application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json",
                 "<iframe> in text/html"):
        assert f"[interactive output removed: {what}]" in shown
    assert browser_page.locator("iframe").count() == 0


def two_versions() -> tuple[dict, dict]:
    """The same notebook before and after an edit of its code cell (same cell ids)."""
    before = python_notebook("total = 1 + 1", "two")
    after = python_notebook("total = 40 + 2", "forty-two")
    for cell_before, cell_after in zip(before["cells"], after["cells"]):
        cell_after["id"] = cell_before["id"]
    return before, after


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


@pytest.mark.parametrize("versions", ["two files", "two git revisions", "uncommitted changes"])
def test_nbdiff_web_shows_the_changed_cell(tmp_path: Path, browser_page, versions):
    before, after = two_versions()
    if versions == "two files":
        write_notebook(tmp_path / "base.ipynb", before)
        write_notebook(tmp_path / "nb.ipynb", after)
        targets = ["base.ipynb", "nb.ipynb"]
    else:  # as in docs/review-copies.md: `nbdiff-web main HEAD -- notebooks/model.ipynb`, `nbdiff-web`
        git(tmp_path, "init", "-q")
        for version, message in ((before, "before"), (after, "after")):
            write_notebook(tmp_path / "nb.ipynb", version)
            if versions == "two git revisions" or message == "before":
                git(tmp_path, "add", "nb.ipynb")
                git(tmp_path, "commit", "-q", "-m", message)
        targets = ["HEAD~1", "HEAD", "--", "nb.ipynb"] if versions == "two git revisions" else []
    log = tmp_path / "nbdiff-web.log"
    with open(log, "wb") as out:
        # 127.0.0.1 and a random port; "disabled" is no browser, so nothing opens on its own.
        server = subprocess.Popen(
            [str(VENV_BIN / "nbdiff-web"), "--ip", "127.0.0.1", "--port", "0",
             "--browser", "disabled", *targets],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = wait_for(lambda: _url_in(log, server), 60, "nbdiff-web's URL in its log")
        browser_page.goto(url)
        changed = browser_page.locator(".jp-Cell-diff.jp-Diff-twoway")
        changed.wait_for()
        text = changed.inner_text()
        assert "total = 1 + 1" in text and "total = 40 + 2" in text
        assert "Output deleted" in text and "two" in text and "forty-two" in text
        assert browser_page.locator(".jp-Cell-diff.jp-Diff-unchanged").is_hidden()  # the markdown
    finally:
        server.terminate()
        server.wait(timeout=15)


def _url_in(log: Path, server: subprocess.Popen) -> str | None:
    text = log.read_text(errors="replace")
    if server.poll() is not None:
        raise AssertionError(f"nbdiff-web exited with {server.returncode}:\n{text}")
    found = re.search(r"URL: (http://127\.0\.0\.1:\d+/\S+)", text)
    return found.group(1) if found else None


def test_git_difftool_nbdime_as_install_configures_it(tmp_path: Path, browser_page):
    """`git difftool --tool nbdime` (set up by install) serves the diff; "Close tool" ends it."""
    from pyshim_hooks.install import install

    before, after = two_versions()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_notebook(repo / "nb.ipynb", before)
    git(repo, "add", "nb.ipynb")
    git(repo, "commit", "-q", "-m", "before")
    write_notebook(repo / "nb.ipynb", after)
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "GIT_CONFIG_NOSYSTEM": "1"}
    env.pop("GIT_CONFIG_GLOBAL", None)
    install(prefix=tmp_path / "prefix", repo=repo)
    # nbdime opens the page with Python's webbrowser, which runs $BROWSER: record the URL.
    opened = tmp_path / "opened-url"
    recorder = tmp_path / "record-url"
    recorder.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    recorder.chmod(0o755)
    env["BROWSER"] = str(recorder)
    tool = subprocess.Popen(["git", "-C", str(repo), "difftool", "-y", "--tool", "nbdime", "--", "nb.ipynb"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = wait_for(lambda: opened.exists() and opened.read_text(), 60, "the difftool's URL")
        assert url.startswith("http://127.0.0.1:")
        browser_page.goto(url)
        changed = browser_page.locator(".jp-Cell-diff.jp-Diff-twoway")
        changed.wait_for()
        assert "total = 1 + 1" in changed.inner_text() and "total = 40 + 2" in changed.inner_text()
        browser_page.get_by_role("button", name="Close tool").click()
        assert tool.wait(timeout=30) == 0, tool.stdout.read().decode(errors="replace")
    finally:
        if tool.poll() is None:
            tool.terminate()
            tool.wait(timeout=15)
        tool.stdout.close()
