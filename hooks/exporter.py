"""Pure export functions: notebook on disk -> review copies in its review folder.

Nothing here knows about jupyter_server or threads; the save hook (through the
worker: :func:`sync_copies`, which also removes the copies of a notebook renamed or
deleted) and `pyshim export` (:func:`export_notebook`, :func:`stale_copies`,
:func:`orphan_copies`) call it. Reading is in reading.py, the script copy in
script.py, the HTML copy's preparation in sanitize.py. nbformat, jupytext and
nbconvert are imported lazily, the first time a notebook is rendered, so
importing pyshim_hooks stays cheap.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sanitize
from .errors import ExportError
from .reading import read_notebook
from .script import HEADER, render_script, script_name

DEFAULT_REVIEW_DIR = "_review"
FORMATS = ("script", "html")
CHECKPOINT_DIR = ".ipynb_checkpoints"
TEMP_SUFFIX = ".pyshim-tmp"


@dataclass(frozen=True)
class ExportOptions:
    """What to write and how; a frozen snapshot so worker threads can share it."""

    review_dir: str = DEFAULT_REVIEW_DIR
    formats: tuple[str, ...] = FORMATS
    strip_scripts: bool = True


def check_review_dir_name(name: str) -> str:
    """Return ``name`` if it is a plain folder name, else raise ValueError saying why.

    A single name (no separators, no '..') guarantees that copies land beside the
    notebook and never anywhere else on disk.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(
            f"{name!r} is not a plain folder name; use a name such as {DEFAULT_REVIEW_DIR!r} "
            "(no slashes, not '.' or '..')"
        )
    return name


def review_folder(notebook: Path, options: ExportOptions) -> Path:
    """The folder beside ``notebook`` that receives its copies."""
    return notebook.parent / check_review_dir_name(options.review_dir)


def is_exportable_notebook(path: Path, options: ExportOptions) -> bool:
    """False for files that are not notebooks we should export (checkpoints, copies)."""
    if path.suffix != ".ipynb":
        return False
    # Only the direct parent matters: copies are written one level down, and a
    # folder higher up that happens to share the name is the user's business.
    return path.parent.name not in (CHECKPOINT_DIR, options.review_dir)


# ---------------------------------------------------------------- html copy

_local = threading.local()


def render_html(nb: Any, notebook: Path, strip_scripts: bool) -> tuple[str, str]:
    """(file name, text) of the standalone HTML copy with rendered outputs."""
    exporter = _html_exporter()
    nb = sanitize.prepare_for_html(nb, strip_scripts, exporter.renderable)
    exporter.reset_ids()
    resources = {"metadata": {"name": notebook.stem, "path": str(notebook.parent)}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    if strip_scripts:
        html = sanitize.strip_scripts_from_cells(html)
    return notebook.stem + ".html", html


def _html_exporter():
    """One exporter per thread: building one compiles templates (~0.3 s), and
    nbconvert exporters are not documented as thread-safe."""
    exporter = getattr(_local, "html_exporter", None)
    if exporter is None:
        exporter = _local.html_exporter = _make_html_exporter()
    return exporter


def _make_html_exporter():
    import logging

    from nbconvert import HTMLExporter

    class ReviewHTMLExporter(HTMLExporter):
        """HTMLExporter with images embedded and reproducible element ids.

        nbconvert gives JavaScript and widget outputs random uuid4 ids; we
        number them instead so the same notebook always renders to the same
        bytes, which `pyshim export --check` relies on.
        """

        _id_counter = 0
        # The output types its templates can show, best first (nbconvert's display priority).
        renderable = tuple(HTMLExporter().default_config.NbConvertBase.display_data_priority)

        def reset_ids(self) -> None:
            self._id_counter = 0

        def _next_id(self) -> str:
            self._id_counter += 1
            return f"pyshim-output-{self._id_counter}"

        def _create_environment(self):
            environment = super()._create_environment()
            environment.globals["uuid4"] = self._next_id
            return environment

    quiet = logging.getLogger("pyshim_hooks.nbconvert")
    # nbconvert warns about every image without alt text; not our reviewers' problem.
    quiet.setLevel(logging.ERROR)
    return ReviewHTMLExporter(embed_images=True, log=quiet)


# ---------------------------------------------------------------- export / check


def planned_copies(notebook: Path, options: ExportOptions) -> tuple[dict[Path, str], list[str]]:
    """Render every configured copy in memory: ({target: text}, [problems]).

    A failing format is reported, not raised, so the others still get written.
    """
    nb = read_notebook(notebook)
    folder = review_folder(notebook, options)
    copies: dict[Path, str] = {}
    problems: list[str] = []
    for fmt in options.formats:
        try:
            if fmt == "script":
                name, text = render_script(nb, notebook)
            elif fmt == "html":
                name, text = render_html(nb, notebook, options.strip_scripts)
            else:
                raise ValueError(f"unknown format {fmt!r}; choose from {list(FORMATS)}")
        except Exception as exc:
            problems.append(f"{fmt} copy failed: {type(exc).__name__}: {exc}")
        else:
            copies[folder / name] = text
    return copies, problems


def export_notebook(notebook: Path, options: ExportOptions) -> list[Path]:
    """Write the review copies of ``notebook``; return those whose content changed.

    Copies that already hold the right text are left untouched (no mtime churn).
    Raises ExportError (carrying the copies it did write) if any format failed.
    """
    notebook = Path(notebook)
    copies, problems = planned_copies(notebook, options)
    written: list[Path] = []
    if copies:
        folder = _ensure_review_folder(notebook, options)
        mode = _copy_mode(notebook)
        for target, text in copies.items():
            if _read_text_or_none(target) == text:
                continue
            try:
                atomic_write_text(target, text, mode)
            except OSError as exc:
                problems.append(f"cannot write {target.name} in {folder}: {exc.strerror or exc}")
            else:
                written.append(target)
    if problems:
        raise ExportError(notebook, "; ".join(problems), written=written)
    return written


def stale_copies(notebook: Path, options: ExportOptions) -> list[Path]:
    """Copies of ``notebook`` that are missing or differ from a fresh export."""
    copies, problems = planned_copies(Path(notebook), options)
    if problems:
        raise ExportError(Path(notebook), "; ".join(problems))
    return [target for target, text in copies.items() if _read_text_or_none(target) != text]


def sync_copies(notebook: Path, options: ExportOptions) -> list[Path]:
    """Export ``notebook``, or remove its copies when it is gone (deleted, or renamed away).

    The save hook runs this for saves, renames and deletes alike, on its one worker
    thread: a rename that lands while the old name is being exported cannot leave
    copies of the old name behind.
    """
    notebook = Path(notebook)
    if not notebook.exists():
        return remove_copies(notebook, options)
    return export_notebook(notebook, options)


def remove_copies(notebook: Path, options: ExportOptions) -> list[Path]:
    """Delete the review copies of ``notebook``; return them. The folder goes when empty."""
    folder = review_folder(Path(notebook), options)
    if folder.is_symlink() or not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if path.stem == Path(notebook).stem and is_copy_of(path, Path(notebook).name):
            try:
                path.unlink()
            except OSError as exc:
                raise ExportError(notebook, f"cannot remove {path}: {exc.strerror or exc}") from None
            removed.append(path)
    try:
        folder.rmdir()  # only succeeds when empty
    except OSError:
        pass
    return removed


def is_copy_of(path: Path, notebook_name: str) -> bool:
    """True for a file pyshim_hooks wrote for ``notebook_name`` (the .html copy, or a script
    copy that starts with our header line), never for a file someone else put there."""
    if not path.is_file() or path.is_symlink():
        return False
    if path.suffix == ".html":
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return HEADER.format(name=notebook_name) in head


def orphan_copies(folder: Path, options: ExportOptions) -> list[Path]:
    """Copies in the review folder ``folder`` that no export of a notebook beside it writes:
    copies of notebooks renamed or deleted outside Jupyter, or of an older language.
    Only files that are our copies count (see :func:`is_copy_of`), never anyone else's."""
    expected: dict[str, set[str] | None] = {}
    orphans = []
    for path in sorted(folder.iterdir()):
        notebook = folder.parent / f"{path.stem}.ipynb"
        if path.name.startswith(".") or not is_copy_of(path, notebook.name):
            continue  # a half-written temp file of a running export, someone else's file
        if notebook.stem not in expected:
            expected[notebook.stem] = _copy_names(notebook, options)
        names = expected[notebook.stem]
        if names is not None and path.name not in names:
            orphans.append(path)
    return orphans


def _copy_names(notebook: Path, options: ExportOptions) -> set[str] | None:
    """Names the export of ``notebook`` writes; empty when it is gone, None when unreadable."""
    if not notebook.is_file():
        return set()
    try:
        nb = read_notebook(notebook)
    except ExportError:
        return None  # not ours to judge: `pyshim export` reports the notebook itself
    names = {notebook.stem + ".html"} if "html" in options.formats else set()
    if "script" in options.formats:
        names.add(script_name(nb, notebook))
    return names


def _ensure_review_folder(notebook: Path, options: ExportOptions) -> Path:
    folder = review_folder(notebook, options)
    if folder.is_symlink():
        # Writing through a link could put files anywhere on disk.
        raise ExportError(
            notebook,
            f"review folder {folder} is a symbolic link; replace it with a real folder",
        )
    try:
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        raise ExportError(
            notebook,
            f"cannot create review folder {folder}: a file has that name; remove it "
            "or set c.SaveExport.review_dir to another name",
        ) from None
    except OSError as exc:
        raise ExportError(
            notebook, f"cannot create review folder {folder}: {exc.strerror or exc}"
        ) from None
    return folder


def _copy_mode(notebook: Path) -> int:
    """Copies are as readable as the notebook itself, never executable."""
    try:
        mode = stat.S_IMODE(notebook.stat().st_mode)
    except OSError:
        mode = 0o644
    return mode & 0o666


def _read_text_or_none(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def atomic_write_text(target: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``target`` so that readers see the old or the new file, never half.

    The temp file sits in the same folder (a rename is only atomic within one
    file system) and is hidden, with a suffix that says whose it is. No fsync:
    copies are regenerated from the notebook, so durability is not worth a
    disk flush on every save.
    """
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(text.encode("utf-8"))
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise
