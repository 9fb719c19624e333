"""The save hook in a real jupyter_server, saving through the REST contents API.

One server per module (default settings: marker required, scripts stripped,
review folder `_review`). Copies are awaited by polling the disk, bounded.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from hooks_fixtures import (
    SCRIPT_PAYLOAD,
    files_below,
    notebook_with_html_output,
    notebook_with_missing_attachment,
    python_notebook,
    read_or_empty,
    running_server,
    scala_notebook,
    wait_for,
)

pytestmark = pytest.mark.server

OTHER_HOOK = textwrap.dedent("""
    import pathlib

    def hook(model, os_path, contents_manager, **kwargs):
        path = pathlib.Path(os_path)
        (path.parent / (path.name + ".other-hook-ran")).touch()
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("server")
    # Another extension's hook, configured the classic way: ours must not replace it.
    hook_dir = base / "pythonpath"
    hook_dir.mkdir()
    (hook_dir / "other_save_hook.py").write_text(OTHER_HOOK, encoding="utf-8")
    config = {"ContentsManager": {"post_save_hook": "other_save_hook.hook"}}
    with running_server(base, config, extra_env={"PYTHONPATH": str(hook_dir)}) as running:
        yield running


def assert_saved(response) -> None:
    """PUT answers 201 when it creates the file and 200 when it overwrites it."""
    assert response.status_code in (200, 201), f"{response.status_code}: {response.text}"


def test_python_notebook_gets_script_and_html_copies(server):
    folder = server.mkdir("py")
    response = server.save("py/analysis.ipynb", python_notebook("print('hello')", "hello out"))
    assert_saved(response)

    script = folder / "_review" / "analysis.py"
    html = folder / "_review" / "analysis.html"
    wait_for(lambda: script.exists() and html.exists(), what="python copies")
    assert "print('hello')" in script.read_text()
    assert "# A title" in script.read_text()  # markdown kept, as comments
    assert "hello out" in html.read_text()  # the rendered output
    assert "<html" in html.read_text()


def test_scala_notebook_gets_scala_copy(server):
    folder = server.mkdir("scala")
    assert_saved(server.save("scala/model.ipynb", scala_notebook('val answer = 42')))

    script = folder / "_review" / "model.scala"
    wait_for(lambda: script.exists() and (folder / "_review" / "model.html").exists(),
             what="scala copies")
    text = script.read_text()
    assert "val answer = 42" in text
    assert text.startswith("// ")  # Scala comments, not Python ones
    assert not (folder / "_review" / "model.py").exists()


def test_later_save_updates_copies(server):
    folder = server.mkdir("update")
    script = folder / "_review" / "nb.py"
    server.save("update/nb.ipynb", python_notebook("x = 'first'"))
    wait_for(lambda: "x = 'first'" in read_or_empty(script), what="first copy")

    server.save("update/nb.ipynb", python_notebook("x = 'second'", "second output"))
    wait_for(lambda: "x = 'second'" in read_or_empty(script), what="updated script")
    html = folder / "_review" / "nb.html"
    wait_for(lambda: "second output" in read_or_empty(html), what="updated html")
    assert "x = 'first'" not in script.read_text()


def test_no_marker_no_copies(server):
    folder = server.mkdir("unmarked", marker=None)
    assert_saved(server.save("unmarked/nb.ipynb", python_notebook()))
    # Proof that the save (and its hooks) ran, then that ours did nothing:
    # a marked folder saved afterwards gets its copies, the unmarked one still has none.
    marked = server.mkdir("unmarked_control")
    server.save("unmarked_control/nb.ipynb", python_notebook())
    wait_for(lambda: (marked / "_review" / "nb.html").exists(), what="control copies")
    assert not (folder / "_review").exists()


def test_misspelled_marker_is_accepted(server):
    folder = server.mkdir("misspelled", marker=".ipynb_saveprocress")
    server.save("misspelled/nb.ipynb", python_notebook())
    wait_for(lambda: (folder / "_review" / "nb.py").exists(), what="copies via misspelled marker")


def test_failing_export_keeps_save_successful_and_notebook_intact(server):
    folder = server.mkdir("failing")
    # A folder where the .html copy should go: that copy cannot be written, the other can.
    (folder / "_review" / "broken.html").mkdir(parents=True)
    nb = python_notebook("print('kept')")
    assert_saved(server.save("failing/broken.ipynb", nb))  # created: 201
    response = server.save("failing/broken.ipynb", nb)  # saved over: 200

    assert response.status_code == 200, response.text
    saved = nbformat.reads((folder / "broken.ipynb").read_text(), as_version=4)
    # The notebook on disk is exactly what was saved.
    assert saved == nbformat.reads(json.dumps(nb), as_version=4)
    notebook_path = str(folder / "broken.ipynb")
    log_line = wait_for(
        lambda: next((line for line in server.log().splitlines()
                      if "not updated" in line and notebook_path in line), None),
        what="the failure in the server log",
    )
    assert "cannot write broken.html" in log_line
    # The other format still got written: one failing exporter does not stop the rest.
    assert (folder / "_review" / "broken.py").exists()
    # And the server keeps working for the next save.
    (folder / "_review" / "broken.html").rmdir()
    assert_saved(server.save("failing/broken.ipynb", python_notebook()))
    wait_for(lambda: (folder / "_review" / "broken.html").is_file(), what="recovered html")


def test_notebook_jupyter_cannot_export_today_gets_both_copies(server):
    """A missing attachment used to fail the HTML copy; now it shows a marked broken image."""
    folder = server.mkdir("attachment")
    assert_saved(server.save("attachment/nb.ipynb", notebook_with_missing_attachment()))
    wait_for(lambda: "<main>" in read_or_empty(folder / "_review" / "nb.html"), what="html copy")
    assert (folder / "_review" / "nb.py").exists()
    assert not any("not updated" in line and "attachment/nb.ipynb" in line
                   for line in server.log().splitlines())


def test_rename_through_jupyter_takes_the_copies_along(server):
    folder = server.mkdir("renamed")
    assert_saved(server.save("renamed/old.ipynb", python_notebook("print('moving')")))
    wait_for(lambda: (folder / "_review" / "old.html").exists(), what="copies of old")
    response = server.session.patch(f"{server.url}/api/contents/renamed/old.ipynb",
                                    json={"path": "renamed/new.ipynb"}, timeout=30)
    assert response.status_code == 200, response.text
    review = folder / "_review"
    wait_for(lambda: {p.name for p in review.glob("*")} == {"new.py", "new.html"},
             what="copies under the new name only")
    assert "Review copy of new.ipynb" in (review / "new.py").read_text()


def test_delete_through_jupyter_takes_the_copies_along(server):
    folder = server.mkdir("deleted")
    assert_saved(server.save("deleted/gone.ipynb", python_notebook()))
    assert_saved(server.save("deleted/stays.ipynb", python_notebook()))
    review = folder / "_review"
    wait_for(lambda: (review / "gone.html").exists() and (review / "stays.html").exists(),
             what="copies of both")
    (review / "gone.txt").write_text("a file someone else put here")
    response = server.session.delete(f"{server.url}/api/contents/deleted/gone.ipynb", timeout=30)
    assert response.status_code == 204, response.text
    wait_for(lambda: {p.name for p in review.glob("*")} == {"stays.py", "stays.html", "gone.txt"},
             what="gone's copies removed, the rest kept")


def test_review_folder_blocked_by_a_file_is_logged_not_raised(server):
    folder = server.mkdir("blocked")
    (folder / "_review").write_text("not a folder")
    assert_saved(server.save("blocked/nb.ipynb", python_notebook()))
    assert (folder / "nb.ipynb").exists()
    wait_for(lambda: "a file has that name" in server.log(), what="the blocked-folder error")
    assert (folder / "_review").read_text() == "not a folder"


def test_twenty_quick_saves_end_with_the_last_content(server):
    folder = server.mkdir("burst")
    for number in range(20):
        assert_saved(server.save("burst/nb.ipynb", python_notebook(f"step = {number}", f"out {number}")))
    script = folder / "_review" / "nb.py"
    html = folder / "_review" / "nb.html"
    wait_for(lambda: "step = 19" in read_or_empty(script) and "out 19" in read_or_empty(html),
             what="copies of the 20th save")
    # The copies equal a fresh export of the final notebook.
    from pyshim_hooks.exporter import ExportOptions, stale_copies
    wait_for(lambda: not stale_copies(folder / "nb.ipynb", ExportOptions()), what="fresh copies")


def test_html_copy_strips_scripts_from_outputs_by_default(server):
    folder = server.mkdir("scripts")
    html_output = f"<b onclick=\"steal()\">bold output</b>{SCRIPT_PAYLOAD}"
    server.save("scripts/nb.ipynb", notebook_with_html_output(html_output))
    html = folder / "_review" / "nb.html"
    wait_for(lambda: "bold output" in read_or_empty(html), what="html copy")
    text = html.read_text()
    assert SCRIPT_PAYLOAD not in text
    assert "window.pyshimPwned" not in text
    assert "steal()" not in text


def test_writes_only_into_the_review_folder_and_leaves_no_temp_files(server):
    folder = server.mkdir("tidy")
    server.save("tidy/nb.ipynb", python_notebook())
    wait_for(lambda: (folder / "_review" / "nb.html").exists(), what="copies")
    server.save("tidy/nb.ipynb", python_notebook("print('again')"))
    wait_for(lambda: "again" in read_or_empty(folder / "_review" / "nb.py"), what="second copies")

    written = files_below(folder)
    outside = {
        path for path in written
        if path.parts[0] not in ("_review", ".ipynb_checkpoints")
    }
    # The notebook, the marker and the other extension's proof file; nothing of ours.
    assert outside == {
        folder.joinpath(name).relative_to(folder)
        for name in ("nb.ipynb", ".ipynb_saveprocess", "nb.ipynb.other-hook-ran")
    }
    assert {path.name for path in (folder / "_review").iterdir()} == {"nb.py", "nb.html"}


def test_other_extensions_post_save_hook_still_runs(server):
    folder = server.mkdir("coexist")
    server.save("coexist/nb.ipynb", python_notebook())
    assert (folder / "nb.ipynb.other-hook-ran").exists()  # ran synchronously in the request
    wait_for(lambda: (folder / "_review" / "nb.py").exists(), what="our copies too")


def test_files_and_review_folder_notebooks_are_not_exported(server):
    folder = server.mkdir("plain")
    session, url = server.session, server.url
    body = {"type": "file", "format": "text", "content": "just text"}
    assert_saved(session.put(f"{url}/api/contents/plain/notes.txt", json=body))
    server.save("plain/_review/inside.ipynb", python_notebook())
    server.save("plain/nb.ipynb", python_notebook())
    wait_for(lambda: (folder / "_review" / "nb.html").exists(), what="copies of nb")
    assert not (folder / "_review" / "_review").exists()
    assert not (folder / "_review" / "notes.py").exists()


def test_a_file_that_is_not_a_notebook_gives_one_log_line(server):
    folder = server.mkdir("notanotebook")
    body = {"type": "file", "format": "text", "content": "{ this is not json"}
    assert_saved(server.session.put(f"{server.url}/api/contents/notanotebook/draft.txt",
                                    json=body, timeout=30))
    response = server.session.patch(f"{server.url}/api/contents/notanotebook/draft.txt",
                                    json={"path": "notanotebook/broken.ipynb"}, timeout=30)
    assert response.status_code == 200, response.text
    path = str(folder / "broken.ipynb")
    line = wait_for(lambda: next((ln for ln in server.log().splitlines() if path in ln), None),
                    what="the log line naming the file")
    assert "not a readable notebook" in line
    lines = [ln for ln in server.log().splitlines() if path in ln]
    assert len(lines) == 1, lines
    assert not (folder / "_review").exists()
