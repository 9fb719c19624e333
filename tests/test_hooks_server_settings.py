"""The save hook with non-default settings, in a real jupyter_server.

Settings go in jupyter_server_config.json as a user would write them:
everywhere (no marker needed), scripts kept in HTML, another review folder name,
and only the script format.
"""

from __future__ import annotations

import pytest

from hooks_fixtures import (
    SCRIPT_PAYLOAD,
    notebook_with_html_output,
    python_notebook,
    read_or_empty,
    running_server,
    wait_for,
)

pytestmark = pytest.mark.server

SETTINGS = {
    "SaveExport": {
        "everywhere": True,
        "strip_scripts": False,
        "review_dir": "reviewed",
    }
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("server"), SETTINGS) as running:
        yield running


def test_everywhere_exports_without_a_marker(server):
    folder = server.mkdir("anywhere", marker=None)
    server.save("anywhere/nb.ipynb", python_notebook("value = 7"))
    wait_for(lambda: "value = 7" in read_or_empty(folder / "reviewed" / "nb.py"),
             what="copies in the configured folder")
    assert not (folder / "_review").exists()


def test_opt_out_keeps_scripts_in_html(server):
    folder = server.mkdir("trusted", marker=None)
    server.save("trusted/nb.ipynb", notebook_with_html_output(f"<i>kept</i>{SCRIPT_PAYLOAD}"))
    html = folder / "reviewed" / "nb.html"
    wait_for(lambda: "kept" in read_or_empty(html), what="html copy")
    assert SCRIPT_PAYLOAD in html.read_text()


def test_server_log_names_the_settings(server):
    log = server.log()
    assert "pyshim_hooks: review copies (script, html) into reviewed/" in log
    assert "every folder" in log
