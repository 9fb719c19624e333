"""The JupyterLab extension that highlights `%%python` and `%%sql` cells in their language.

Its sources are JavaScript in pyshim/labextension/src; `jupyter-builder build` (JupyterLab's
`jupyter labextension build`, with Node)
turns them into a prebuilt ("federated") extension in pyshim/labextension/prebuilt, which
is committed, so users need no Node. `pyshim install` copies that folder to
``<prefix>/share/jupyter/labextensions/<name>``, where JupyterLab and Notebook 7 started
from the environment find it. ``prebuilt/sources.sha256`` records the hash of the sources it
was built from: a test compares it with the sources, so a stale build fails CI.

Rebuild after changing a source: ``python -m pyshim.kernel.labextension build`` (needs Node
and ``npm ci`` in pyshim/labextension).
"""
from __future__ import annotations

import filecmp
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from .. import paths
from ..errors import SetupError

SOURCE = paths.REPO_ROOT / "pyshim" / "labextension"
PREBUILT = SOURCE / "prebuilt"
HASH_FILE = "sources.sha256"
# What the build reads: the code, the package manifest and the locked dependency versions.
SOURCE_FILES = ("package.json", "package-lock.json")


def name() -> str:
    return json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))["name"]


def target(prefix: Path) -> Path:
    return Path(prefix) / "share" / "jupyter" / "labextensions" / name()


def sources_hash(root: Path = SOURCE) -> str:
    """sha256 over the sources' relative paths and bytes, in a fixed order."""
    digest = hashlib.sha256()
    files = [root / f for f in SOURCE_FILES] + sorted((root / "src").rglob("*.js"))
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def recorded_hash(prebuilt: Path = PREBUILT) -> str:
    try:
        return (prebuilt / HASH_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _same_tree(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def install(prefix: Path) -> list[str]:
    """Copy the prebuilt extension into the prefix; nothing when it is there already."""
    if not (PREBUILT / "package.json").exists():
        raise SetupError(f"the prebuilt JupyterLab extension is missing from {PREBUILT}",
                         "restore it with `git checkout -- pyshim/labextension/prebuilt`")
    dest = target(prefix)
    if _same_tree(PREBUILT, dest):
        return []
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(PREBUILT, dest)
    return [f"installed the JupyterLab extension {name()} in {dest}"]


def uninstall(prefix: Path) -> list[str]:
    dest = target(prefix)
    if not dest.exists():
        return []
    shutil.rmtree(dest)
    parent = dest.parent  # labextensions/ when we made it and nothing else lives there
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return [f"removed the JupyterLab extension {name()} from {dest}"]


def status(prefix: Path) -> tuple[bool, str]:
    """(installed and current, a line for `pyshim doctor`)."""
    dest = target(prefix)
    if not dest.exists():
        return False, f"{name()} is not in {dest.parent}"
    if not _same_tree(PREBUILT, dest):
        return False, f"{dest} differs from {PREBUILT}"
    return True, f"{name()} in {dest}"


def builder_command(source: Path) -> list[str]:
    """JupyterLab 4.6's `jupyter labextension build` hands over to jupyter-builder (looked up
    on PATH): call this environment's. The core's package file is the installed JupyterLab's,
    so the build shares its modules with exactly that version and never goes online for it."""
    import jupyterlab

    core = Path(jupyterlab.__file__).parent / "staging" / "package.json"
    return [str(Path(sys.executable).with_name("jupyter-builder")), "build",
            f"--core-package-file={core}", str(source)]


def build() -> Path:
    """Rebuild the prebuilt extension with Node (a developer's step, never the user's)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SetupError("building the JupyterLab extension needs node and npm on PATH",
                         "install Node 20 (the committed build in pyshim/labextension/prebuilt needs none)")
    if not (SOURCE / "node_modules" / "@jupyterlab" / "builder").is_dir():
        raise SetupError(f"the build tools are not installed in {SOURCE / 'node_modules'}",
                         f"run `npm ci` in {SOURCE}")
    subprocess.run(builder_command(SOURCE), check=True)
    (PREBUILT / HASH_FILE).write_text(sources_hash() + "\n", encoding="utf-8")
    return PREBUILT


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m pyshim.kernel.labextension build")
    print(f"built {build()}")
