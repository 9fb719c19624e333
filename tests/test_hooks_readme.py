"""The commands of the docs' review page (docs/review-copies.md), typed as a user types them
(real `pyshim`, real git), against a throwaway repository, prefix and HOME. The browser ones (`nbdiff-web`,
`git difftool --tool nbdime`) are in test_hooks_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hooks_fixtures import python_notebook, write_notebook
from pyshim_hooks.install import server_config_path

ROOT = Path(__file__).resolve().parent.parent
PYSHIM = str(Path(sys.executable).parent / "pyshim")


@pytest.fixture
def user(tmp_path) -> dict[str, str]:
    """The environment of a user whose git and Jupyter config live in tmp."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JUPYTER", "GIT_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", JUPYTER_CONFIG_DIR=str(home / "jupyter"),
               JUPYTER_CONFIG_PATH=str(home / "jupyter"),
               GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.invalid")
    return env


def run(env: dict, cwd: Path, *command: str, code: int = 0) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == code, f"{command}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path, user) -> Path:
    """A repository with notebooks/model.ipynb committed on main."""
    repo = tmp_path / "project"
    notebooks = repo / "notebooks"
    write_notebook(notebooks / "model.ipynb", python_notebook("total = 1 + 1", "two"))
    run(user, repo, "git", "init", "-q", "-b", "main")
    run(user, repo, "git", "add", ".")
    run(user, repo, "git", "commit", "-q", "-m", "model")
    return repo


def edit(notebook: Path) -> None:
    """A source edit of the code cell, keeping cell ids, as Jupyter saves it."""
    import json

    nb = json.loads(notebook.read_text())
    nb["cells"][1]["source"] = "total = 40 + 2"
    notebook.write_text(json.dumps(nb, indent=1))


def test_install_uninstall_and_install_uninstall_agree(tmp_path, user, project):
    prefix = tmp_path / "prefix"
    where = ("--prefix", str(prefix), "--repo", str(project))
    config_before = (project / ".git" / "config").read_text()
    installed = run(user, project, PYSHIM, "install", *where)
    assert "enabled the save hook" in installed and "difftool.nbdime.cmd" in installed
    assert "nothing to do: already installed" in run(user, project, PYSHIM, "install", *where)

    removed = run(user, project, PYSHIM, "uninstall", *where)
    assert "disabled the save hook" in removed and "removed difftool.nbdime.cmd" in removed
    assert not server_config_path(prefix).exists()
    assert (project / ".git" / "config").read_text() == config_before
    assert "nothing to do: already uninstalled" in run(user, project, PYSHIM, "uninstall", *where)

    run(user, project, PYSHIM, "install", *where)
    assert "disabled the save hook" in run(user, project, PYSHIM, "install", "--uninstall", *where)
    assert (project / ".git" / "config").read_text() == config_before


def test_git_diff_is_cell_aware_after_install(tmp_path, user, project):
    run(user, project, PYSHIM, "install", "--prefix", str(tmp_path / "prefix"), "--repo", str(project))
    edit(project / "notebooks" / "model.ipynb")
    diff = run(user, project, "git", "diff", "notebooks/model.ipynb")
    assert "## modified /cells/1/source:" in diff and "total = 40 + 2" in diff
    assert run(user, project, "git", "status", "--porcelain") == " M notebooks/model.ipynb\n"


def test_export_commands_and_the_copies_in_a_branch_diff(user, project):
    notebooks = project / "notebooks"
    write_notebook(project / "a.ipynb", python_notebook("a = 1"))
    out = run(user, project, PYSHIM, "export", "notebooks/", "a.ipynb")
    assert "notebooks/model.ipynb -> notebooks/_review/model.py, notebooks/_review/model.html" in out
    assert "a.ipynb -> _review/a.py, _review/a.html" in out
    assert "review copies already up to date" in run(user, project, PYSHIM, "export")
    run(user, project, PYSHIM, "export", "--check", "notebooks/")
    run(user, project, "git", "add", ".")
    run(user, project, "git", "commit", "-q", "-m", "copies")

    run(user, project, "git", "checkout", "-q", "-b", "change")
    edit(notebooks / "model.ipynb")
    stale = run(user, project, PYSHIM, "export", "--check", "notebooks/", code=1)
    assert "stale: notebooks/_review/model.py" in stale
    run(user, project, PYSHIM, "export", "notebooks/")
    run(user, project, "git", "commit", "-q", "-am", "edit")
    # The same change as plain code: what a pull request shows.
    diff = run(user, project, "git", "diff", "main", "--", "notebooks/_review/")
    assert "-total = 1 + 1\n+total = 40 + 2" in diff

    (notebooks / "model.ipynb").rename(notebooks / "renamed.ipynb")  # outside Jupyter
    orphans = run(user, project, PYSHIM, "export", "--check", "notebooks/", code=1)
    assert "orphan: notebooks/_review/model.py" in orphans
    pruned = run(user, project, PYSHIM, "export", "--prune", "notebooks/")
    assert "removed orphan copy notebooks/_review/model.html" in pruned
    run(user, project, PYSHIM, "export", "--check", "notebooks/")


def test_doctor_reports_the_hook_and_each_nbdime_tool(tmp_path, user, project, monkeypatch):
    from pyshim.kernel import doctor
    from pyshim_hooks.install import install, uninstall

    monkeypatch.setenv("HOME", user["HOME"])
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    prefix = tmp_path / "prefix"
    install(prefix, project)
    hook, nbdime = doctor._check_hooks(prefix, project)
    assert hook.ok and "enabled" in hook.detail
    assert nbdime.detail.startswith("git diff: yes, git merge: yes, git difftool --tool nbdime: yes, "
                                    "git mergetool --tool nbdime: yes") and not nbdime.fix
    uninstall(prefix, project)
    hook, nbdime = doctor._check_hooks(prefix, project)
    assert not hook.ok and hook.fix == "run `pyshim install`"
    assert "git difftool --tool nbdime: no" in nbdime.detail and "pyshim install" in nbdime.fix
