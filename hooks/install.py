"""`pyshim install` / `uninstall` for the hooks: server config and nbdime git drivers.

* Jupyter: a drop-in file ``<prefix>/etc/jupyter/jupyter_server_config.d/pyshim_hooks.json``
  enables the ``pyshim_hooks`` server extension, so ``jupyter lab`` started from
  that environment registers the save hook.
* git: nbdime's diff and merge drivers for ONE repository. ``nbdime config-git
  --enable`` would append to the working tree's ``.gitattributes`` (a tracked
  file, dirtying the checkout); we write the same attribute to
  ``.git/info/attributes`` and the driver commands to the repository's
  ``.git/config`` instead, never to global or system config. The same config
  gets nbdime's web tools, ``git difftool --tool nbdime`` and ``git mergetool
  --tool nbdime``, as nbdime's own ``config-git`` writes them (without its
  repository-wide ``difftool.prompt``/``mergetool.prompt`` changes).

Both functions are idempotent and return human-readable lines of what changed
(an empty list when nothing did). uninstall removes exactly what install adds.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import InstallError

EXTENSION_NAME = "pyshim_hooks"
SERVER_CONFIG_RELPATH = Path("etc/jupyter/jupyter_server_config.d") / f"{EXTENSION_NAME}.json"
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {EXTENSION_NAME: True}}}

DRIVER = "jupyternotebook"  # the driver name nbdime itself uses
ATTRIBUTES_MARKER = "# pyshim: nbdime drivers for notebooks (remove with `pyshim uninstall`)"
ATTRIBUTES_LINE = f"*.ipynb\tdiff={DRIVER}\tmerge={DRIVER}"
MERGE_DRIVER_NAME = "jupyter notebook merge driver"
TOOL = "nbdime"  # `git difftool --tool nbdime`, `git mergetool --tool nbdime`
# git gives a path's diff driver precedence over the external diff that `git difftool`
# asks for (GIT_EXTERNAL_DIFF), so with nbdime's driver alone `git difftool --tool nbdime`
# only prints the terminal diff (nbdime issues #147, #451). The driver steps aside when an
# external diff was asked for; git runs the command with the shell and appends "$@".
DEFER_TO_DIFFTOOL = '[ -n "$GIT_EXTERNAL_DIFF" ] && exec "$GIT_EXTERNAL_DIFF" "$@"; '
DIFFTOOL_ARGS = 'diff "$LOCAL" "$REMOTE" "$BASE"'
MERGETOOL_ARGS = 'merge "$BASE" "$LOCAL" "$REMOTE" "$MERGED"'
# Recognise our values whatever folder the driver script was found in.
_OUR_VALUE = {
    f"diff.{DRIVER}.command": re.compile(r"git-nbdiffdriver'? diff$"),
    f"merge.{DRIVER}.driver": re.compile(r"git-nbmergedriver'? merge %O %A %B %L %P$"),
    f"merge.{DRIVER}.name": re.compile(re.escape(MERGE_DRIVER_NAME) + "$"),
    f"difftool.{TOOL}.cmd": re.compile(r"git-nbdifftool'? " + re.escape(DIFFTOOL_ARGS) + "$"),
    f"mergetool.{TOOL}.cmd": re.compile(r"git-nbmergetool'? " + re.escape(MERGETOOL_ARGS) + "$"),
}


def install(prefix: Path, repo: Path | None = None) -> list[str]:
    """Enable the save hook in ``prefix`` and nbdime's git drivers in ``repo`` (if a git repo)."""
    changes = _install_server_config(Path(prefix))
    if repo is not None and _git_dir(Path(repo)) is not None:
        changes += _install_git_drivers(Path(repo), Path(prefix))
    return changes


def uninstall(prefix: Path, repo: Path | None = None) -> list[str]:
    """Remove what :func:`install` added; leave everything else alone."""
    changes = _uninstall_server_config(Path(prefix))
    if repo is not None and _git_dir(Path(repo)) is not None:
        changes += _uninstall_git_drivers(Path(repo))
    return changes


def status(prefix: Path, repo: Path | None = None) -> dict[str, bool]:
    """What is in effect, for `pyshim doctor`.

    ``nbdime_git_diff`` / ``nbdime_git_merge`` are True when git would really use
    nbdime for notebooks in ``repo`` (driver configured and attribute set, from
    whatever source), not only when pyshim configured them; ``nbdime_difftool`` /
    ``nbdime_mergetool`` when `git difftool/mergetool --tool nbdime` has a command.
    """
    in_repo = repo is not None and _git_dir(Path(repo)) is not None
    return {
        "jupyter_server_extension": _server_config_enabled(Path(prefix)),
        "git_repository": in_repo,
        "nbdime_git_diff": in_repo and _driver_active(Path(repo), "diff", "command"),
        "nbdime_git_merge": in_repo and _driver_active(Path(repo), "merge", "driver"),
        "nbdime_difftool": in_repo and _tool_configured(Path(repo), "difftool"),
        "nbdime_mergetool": in_repo and _tool_configured(Path(repo), "mergetool"),
    }


# ---------------------------------------------------------------- jupyter server config


def server_config_path(prefix: Path) -> Path:
    """Where install writes the drop-in that enables the extension."""
    return Path(prefix) / SERVER_CONFIG_RELPATH


def _install_server_config(prefix: Path) -> list[str]:
    path = server_config_path(prefix)
    text = json.dumps(SERVER_CONFIG, indent=2) + "\n"
    if _read_or_none(path) == text:
        return []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InstallError(
            f"cannot write {path}: {exc.strerror or exc}; check that the environment "
            "prefix is writable"
        ) from None
    return [f"enabled the save hook (jupyter server extension {EXTENSION_NAME}): wrote {path}"]


def _uninstall_server_config(prefix: Path) -> list[str]:
    path = server_config_path(prefix)
    if not path.exists():
        return []
    try:
        path.unlink()
    except OSError as exc:
        raise InstallError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return [f"disabled the save hook: removed {path}"]


def _server_config_enabled(prefix: Path) -> bool:
    try:
        data = json.loads(_read_or_none(server_config_path(prefix)) or "{}")
    except json.JSONDecodeError:
        return False
    return data.get("ServerApp", {}).get("jpserver_extensions", {}).get(EXTENSION_NAME) is True


# ---------------------------------------------------------------- nbdime git drivers


def _install_git_drivers(repo: Path, prefix: Path) -> list[str]:
    changes: list[str] = []
    wanted = {
        f"diff.{DRIVER}.command": f"{DEFER_TO_DIFFTOOL}exec {_script(prefix, 'git-nbdiffdriver')} diff",
        f"merge.{DRIVER}.driver": f"{_script(prefix, 'git-nbmergedriver')} merge %O %A %B %L %P",
        f"merge.{DRIVER}.name": MERGE_DRIVER_NAME,
        f"difftool.{TOOL}.cmd": f"{_script(prefix, 'git-nbdifftool')} {DIFFTOOL_ARGS}",
        f"mergetool.{TOOL}.cmd": f"{_script(prefix, 'git-nbmergetool')} {MERGETOOL_ARGS}",
    }
    for key, value in wanted.items():
        current = _git_config_get(repo, key)
        if current is None or (current != value and _OUR_VALUE[key].search(current)):
            _git(repo, "config", "--local", key, value)
            changes.append(f"git config {key} = {value} (in {_git_dir(repo)}/config)")
        # Any other value is the user's own driver: keep it.
    attributes = _attributes_path(repo)
    text = _read_or_none(attributes) or ""
    if ATTRIBUTES_MARKER not in text.splitlines():
        block = f"{ATTRIBUTES_MARKER}\n{ATTRIBUTES_LINE}\n"
        separator = "" if not text or text.endswith("\n") else "\n"
        _write(attributes, text + separator + block)
        changes.append(f"notebooks use nbdime for git diff and merge: added to {attributes}")
    return changes


def _uninstall_git_drivers(repo: Path) -> list[str]:
    changes: list[str] = []
    for key, pattern in _OUR_VALUE.items():
        current = _git_config_get(repo, key)
        if current is not None and pattern.search(current):
            _git(repo, "config", "--local", "--unset", key)
            changes.append(f"git config: removed {key}")
    for section in (f"diff.{DRIVER}", f"merge.{DRIVER}", f"difftool.{TOOL}", f"mergetool.{TOOL}"):
        # git leaves an empty "[diff "jupyternotebook"]" header behind; drop it if empty.
        if _git(repo, "config", "--local", "--get-regexp", f"^{re.escape(section)}\\.",
                check=False).returncode == 1:
            _git(repo, "config", "--local", "--remove-section", section, check=False)
    attributes = _attributes_path(repo)
    text = _read_or_none(attributes)
    if text is not None:
        kept = _without_our_block(text.splitlines())
        if kept != text.splitlines():
            _write(attributes, "".join(f"{line}\n" for line in kept))
            changes.append(f"notebooks use plain git diff again: removed our lines from {attributes}")
    return changes


def _without_our_block(lines: list[str]) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for line in lines:
        if line == ATTRIBUTES_MARKER:
            skip_next = True
            continue
        if skip_next and line == ATTRIBUTES_LINE:
            skip_next = False
            continue
        skip_next = False
        kept.append(line)
    return kept


def _driver_active(repo: Path, kind: str, key: str) -> bool:
    if _git_config_get(repo, f"{kind}.{DRIVER}.{key}") is None:
        return False
    result = _git(repo, "check-attr", kind, "--", "notebook.ipynb", check=False)
    return result.stdout.strip().endswith(f": {kind}: {DRIVER}")


def _tool_configured(repo: Path, kind: str) -> bool:
    # Any scope counts: git uses a global difftool.nbdime.cmd just as well.
    return _git(repo, "config", "--get", f"{kind}.{TOOL}.cmd", check=False).returncode == 0


def _script(prefix: Path, name: str) -> str:
    """The nbdime script as a shell word, by absolute path when we can find it.

    git runs drivers through the shell with the user's PATH, which often lacks
    the virtualenv's bin folder (a terminal where the env is not activated):
    an absolute path keeps `git diff` working there.
    """
    folders = [Path(prefix) / "bin", Path(prefix) / "Scripts", Path(sys.executable).parent]
    for folder in folders:
        found = shutil.which(name, path=str(folder))
        if found:
            return shlex.quote(Path(found).as_posix())
    found = shutil.which(name)
    return shlex.quote(Path(found).as_posix()) if found else name


# ---------------------------------------------------------------- git plumbing


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise InstallError("git is not installed or not on PATH; install git first") from None
    if check and result.returncode != 0:
        raise InstallError(
            f"`git {' '.join(args)}` failed in {repo}: {result.stderr.strip() or result.returncode}"
        )
    return result


def _git_dir(repo: Path) -> Path | None:
    """The repository's git folder, or None when ``repo`` is not in a git work tree."""
    if not repo.is_dir() or shutil.which("git") is None:
        return None
    result = _git(repo, "rev-parse", "--absolute-git-dir", check=False)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def _attributes_path(repo: Path) -> Path:
    # --git-path resolves linked worktrees and GIT_DIR overrides correctly.
    relative = _git(repo, "rev-parse", "--git-path", "info/attributes").stdout.strip()
    path = Path(relative)
    return path if path.is_absolute() else (Path(repo) / path).absolute()


def _git_config_get(repo: Path, key: str) -> str | None:
    result = _git(repo, "config", "--local", "--get", key, check=False)
    return result.stdout.rstrip("\n") if result.returncode == 0 else None


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InstallError(f"cannot write {path}: {exc.strerror or exc}") from None
