"""nbdime git drivers: install() turns `git diff` of notebooks content-aware, uninstall() undoes it.

A throwaway repository in tmp, with HOME pointing there and system config off,
so the developer's own git config is neither read nor touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hooks_fixtures import python_notebook, write_notebook
from pyshim_hooks.install import install, status, uninstall

NBDIME_MARKER = "## modified /cells/1/source:"


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    # git runs the driver through the shell; the venv's scripts must be findable.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for key, value in {
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }.items():
        monkeypatch.setenv(key, value)
    return home


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def repo(tmp_path, git_env):
    """A repository with one committed notebook, then edited in the work tree."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    nb = python_notebook("x = 'before'")
    write_notebook(root / "nb.ipynb", nb)
    git(root, "add", "nb.ipynb")
    git(root, "commit", "-q", "-m", "notebook")
    nb["cells"][1]["source"] = "x = 'after'"  # same cell ids: a source edit, as in a real session
    write_notebook(root / "nb.ipynb", nb)
    return root


def test_install_makes_git_diff_use_nbdime_and_uninstall_reverts(repo, tmp_path):
    prefix = tmp_path / "prefix"
    plain = git(repo, "diff")
    assert '"source"' in plain and NBDIME_MARKER not in plain  # raw JSON lines

    changes = install(prefix=prefix, repo=repo)
    assert changes  # reports what it did
    assert NBDIME_MARKER in git(repo, "diff")
    assert install(prefix=prefix, repo=repo) == []  # idempotent
    assert status(prefix, repo) == {
        "jupyter_server_extension": True,
        "git_repository": True,
        "nbdime_git_diff": True,
        "nbdime_git_merge": True,
        "nbdime_difftool": True,
        "nbdime_mergetool": True,
    }
    config_after_install = git(repo, "config", "--local", "--list")

    assert uninstall(prefix=prefix, repo=repo)
    assert git(repo, "diff") == plain
    assert uninstall(prefix=prefix, repo=repo) == []
    assert not any(status(prefix, repo)[key] for key in
                   ("jupyter_server_extension", "nbdime_git_diff", "nbdime_git_merge",
                    "nbdime_difftool", "nbdime_mergetool"))
    assert "nbdime" not in git(repo, "config", "--local", "--list")
    assert "[difftool" not in (repo / ".git" / "config").read_text()  # no empty sections left
    install(prefix=prefix, repo=repo)
    assert git(repo, "config", "--local", "--list") == config_after_install  # same again


def test_install_registers_nbdimes_web_difftool_and_mergetool(repo, tmp_path):
    install(prefix=tmp_path / "prefix", repo=repo)
    for kind, args in (("difftool", 'diff "$LOCAL" "$REMOTE" "$BASE"'),
                       ("mergetool", 'merge "$BASE" "$LOCAL" "$REMOTE" "$MERGED"')):
        command = git(repo, "config", "--local", f"{kind}.nbdime.cmd").strip()
        script, _, rest = command.partition(" ")
        assert rest == args and Path(script).name == f"git-nb{kind}" and os.access(script, os.X_OK)
        assert f"nbdime.cmd {command}" in git(repo, kind, "--tool-help")  # git lists it as usable
    # Only the tools: which tool is the default, and prompting, stay the user's choice.
    config = git(repo, "config", "--local", "--list")
    assert "diff.tool" not in config and "merge.tool" not in config and "prompt" not in config


def test_install_leaves_the_work_tree_and_global_config_clean(repo, tmp_path, git_env):
    install(prefix=tmp_path / "prefix", repo=repo)
    # Only nb.ipynb (our own edit) is modified: no .gitattributes appeared.
    assert git(repo, "status", "--porcelain") == " M nb.ipynb\n"
    assert not (repo / ".gitattributes").exists()
    assert not (git_env / ".gitconfig").exists()
    assert not (git_env / ".config" / "git").exists()


def test_uninstall_keeps_the_users_own_lines_and_settings(repo, tmp_path):
    attributes = repo / ".git" / "info" / "attributes"
    attributes.parent.mkdir(parents=True, exist_ok=True)
    attributes.write_text("*.csv -diff\n")
    git(repo, "config", "--local", "diff.other.command", "mydiff")

    install(prefix=tmp_path / "prefix", repo=repo)
    uninstall(prefix=tmp_path / "prefix", repo=repo)

    assert attributes.read_text() == "*.csv -diff\n"
    assert git(repo, "config", "--local", "--get", "diff.other.command").strip() == "mydiff"
    assert "jupyternotebook" not in (repo / ".git" / "config").read_text()


def test_merge_driver_is_configured(repo, tmp_path):
    install(prefix=tmp_path / "prefix", repo=repo)
    driver = git(repo, "config", "--local", "--get", "merge.jupyternotebook.driver")
    assert "git-nbmergedriver" in driver and "%O %A %B" in driver
    assert git(repo, "check-attr", "merge", "--", "x.ipynb").strip() == "x.ipynb: merge: jupyternotebook"


def test_not_a_repository_only_installs_the_server_config(tmp_path, git_env):
    folder = tmp_path / "plain-folder"
    folder.mkdir()
    changes = install(prefix=tmp_path / "prefix", repo=folder)
    assert len(changes) == 1 and "pyshim_hooks.json" in changes[0]
    assert status(tmp_path / "prefix", folder)["git_repository"] is False
