"""`pyshim export [--check] [PATH...]` through pyshim_hooks.export.main."""

from __future__ import annotations

import pytest

from hooks_fixtures import python_notebook, scala_notebook, write_notebook
from pyshim_hooks.export import main


@pytest.fixture(autouse=True)
def isolated_jupyter_config(tmp_path, monkeypatch):
    """main() reads jupyter_server config for the settings: keep the user's out."""
    config = tmp_path / "jupyter-config"
    config.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    return config


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    write_notebook(root / "a.ipynb", python_notebook("a = 1"))
    write_notebook(root / "sub" / "b.ipynb", scala_notebook("val b = 2"))
    # Not exported: checkpoints, review copies, hidden folders, virtualenvs.
    write_notebook(root / ".ipynb_checkpoints" / "a-checkpoint.ipynb", python_notebook())
    write_notebook(root / "_review" / "stray.ipynb", python_notebook())
    write_notebook(root / ".hidden" / "h.ipynb", python_notebook())
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    write_notebook(root / "venv" / "share" / "v.ipynb", python_notebook())
    return root


def test_export_folder_recurses_and_writes_copies(project, capsys):
    assert main([str(project)]) == 0

    assert "a = 1" in (project / "_review" / "a.py").read_text()
    assert (project / "_review" / "a.html").exists()
    assert "val b = 2" in (project / "sub" / "_review" / "b.scala").read_text()
    assert (project / "sub" / "_review" / "b.html").exists()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # one line per notebook, nothing for the skipped ones
    assert not (project / ".ipynb_checkpoints" / "_review").exists()
    assert not (project / "_review" / "_review").exists()
    assert not (project / ".hidden" / "_review").exists()
    assert not (project / "venv" / "share" / "_review").exists()


def test_export_without_marker_and_default_path_is_cwd(project, monkeypatch, capsys):
    monkeypatch.chdir(project / "sub")
    assert main([]) == 0
    assert (project / "sub" / "_review" / "b.scala").exists()
    assert not (project / "_review" / "a.py").exists()
    assert capsys.readouterr().out.startswith("b.ipynb -> _review/b.scala")


def test_second_export_reports_up_to_date(project, capsys):
    notebook = project / "a.ipynb"
    main([str(notebook)])
    capsys.readouterr()
    assert main([str(notebook)]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_check_is_clean_after_export(project, capsys):
    main([str(project)])
    capsys.readouterr()
    assert main(["--check", str(project)]) == 0
    assert "stale" not in capsys.readouterr().out


def test_check_reports_missing_copies(project, capsys):
    assert main(["--check", str(project)]) == 1
    out = capsys.readouterr().out
    assert "stale: " in out and "a.py" in out and "b.scala" in out
    assert not (project / "_review" / "a.py").exists()  # --check writes nothing
    assert not (project / "sub" / "_review").exists()


def test_check_reports_copies_of_an_edited_notebook(project, capsys):
    main([str(project)])
    write_notebook(project / "a.ipynb", python_notebook("a = 'edited'"))
    capsys.readouterr()

    assert main(["--check", str(project)]) == 1
    stale = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stale:")]
    assert sorted(stale) == sorted(
        [f"stale: {project / '_review' / 'a.py'}", f"stale: {project / '_review' / 'a.html'}"]
    )


def test_missing_path_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.ipynb"
    assert main([str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pyshim export: no such file or folder: {missing}"


def test_non_notebook_file_exits_2(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    assert main(["--check", str(text)]) == 2
    assert "not a notebook" in capsys.readouterr().err


def test_unreadable_notebook_exits_2_and_others_still_export(tmp_path, capsys):
    (tmp_path / "bad.ipynb").write_text("{ not json")
    write_notebook(tmp_path / "good.ipynb", python_notebook())
    assert main([str(tmp_path)]) == 2
    assert "bad.ipynb" in capsys.readouterr().err
    assert (tmp_path / "_review" / "good.py").exists()


def test_settings_come_from_jupyter_server_config(tmp_path, isolated_jupyter_config):
    (isolated_jupyter_config / "jupyter_server_config.json").write_text(
        '{"SaveExport": {"review_dir": "copies", "formats": ["script"]}}'
    )
    write_notebook(tmp_path / "nb.ipynb", python_notebook())
    assert main([str(tmp_path / "nb.ipynb")]) == 0
    assert sorted(path.name for path in (tmp_path / "copies").iterdir()) == ["nb.py"]


def test_bad_setting_in_config_exits_2_with_the_reason(tmp_path, isolated_jupyter_config, capsys):
    (isolated_jupyter_config / "jupyter_server_config.json").write_text(
        '{"SaveExport": {"review_dir": "../outside"}}'
    )
    write_notebook(tmp_path / "nb.ipynb", python_notebook())
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyshim export: cannot read the SaveExport settings")
    assert "plain folder name" in err
    assert not (tmp_path.parent / "outside").exists()


def test_check_reports_orphan_copies_and_prune_removes_them(project, capsys):
    assert main([str(project)]) == 0
    review = project / "_review"
    (project / "a.ipynb").rename(project / "renamed.ipynb")  # outside Jupyter: copies stay
    (review / "notes.md").write_text("someone else's file")
    capsys.readouterr()

    assert main(["--check", str(project)]) == 1
    out = capsys.readouterr().out
    assert "orphan: " + str(review / "a.py") in out and "orphan: " + str(review / "a.html") in out
    assert "stale: " + str(review / "renamed.py") in out
    assert "run `pyshim export --prune`" in out
    assert "notes.md" not in out

    assert main(["--prune", str(project)]) == 0
    out = capsys.readouterr().out
    assert f"removed orphan copy {review / 'a.py'}" in out
    assert {p.name for p in review.iterdir()} == {"renamed.py", "renamed.html", "notes.md", "stray.ipynb"}
    assert main(["--check", str(project)]) == 0


def test_a_copy_in_an_older_language_is_an_orphan(tmp_path, capsys):
    notebook = write_notebook(tmp_path / "nb.ipynb", python_notebook())
    assert main([str(notebook)]) == 0
    write_notebook(notebook, scala_notebook())  # the notebook moved to the Scala kernel
    assert main([str(notebook)]) == 0
    capsys.readouterr()
    assert main(["--check", str(notebook)]) == 1
    assert f"orphan: {tmp_path / '_review' / 'nb.py'}" in capsys.readouterr().out


def test_check_and_prune_do_not_mix(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--check", "--prune", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
