"""Pure export functions: notebook on disk -> review copies in its review folder.

Nothing here knows about jupyter_server or threads; the save hook (through the
worker) and `pyshim export` both call :func:`export_notebook` or
:func:`stale_copies`. nbformat and nbconvert are imported lazily, the first time
a notebook is rendered, so importing pyshim_hooks stays cheap.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sanitize
from .errors import ExportError

DEFAULT_REVIEW_DIR = "_review"
FORMATS = ("script", "html")
CHECKPOINT_DIR = ".ipynb_checkpoints"
TEMP_SUFFIX = ".pyshim-tmp"

# Used when a notebook has no usable language_info.file_extension.
_EXTENSION_BY_LANGUAGE = {
    "python": ".py",
    "scala": ".scala",
    "r": ".r",
    "julia": ".jl",
    "java": ".java",
    "sql": ".sql",
    "bash": ".sh",
    "javascript": ".js",
}
_LINE_COMMENT_BY_EXTENSION = {
    ".scala": "//", ".sc": "//", ".java": "//", ".kt": "//", ".js": "//", ".ts": "//",
    ".go": "//", ".c": "//", ".cpp": "//", ".cs": "//", ".rs": "//", ".swift": "//",
    ".groovy": "//", ".sql": "--", ".lua": "--", ".hs": "--", ".m": "%",
}
_SAFE_EXTENSION = re.compile(r"^\.[A-Za-z0-9_+-]{1,16}$")


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


# ---------------------------------------------------------------- reading


def read_notebook(notebook: Path) -> Any:
    """The notebook as an nbformat v4 NotebookNode; ExportError when unreadable."""
    import nbformat

    try:
        with open(notebook, encoding="utf-8") as handle:
            return nbformat.read(handle, as_version=4)
    except FileNotFoundError:
        raise ExportError(notebook, "the notebook no longer exists (moved or deleted?)") from None
    except Exception as exc:  # nbformat raises several unrelated types for bad JSON
        raise ExportError(notebook, f"not a readable notebook: {exc}") from exc


def script_extension(nb: Any) -> str:
    """The notebook's script extension (".py", ".scala", ...) from its metadata."""
    metadata = nb.get("metadata", {})
    language_info = metadata.get("language_info") or {}
    extension = language_info.get("file_extension") or ""
    if _SAFE_EXTENSION.match(extension) and extension.lower() != ".html":
        return extension
    language = (
        language_info.get("name") or (metadata.get("kernelspec") or {}).get("language") or ""
    )
    return _EXTENSION_BY_LANGUAGE.get(language.lower(), ".txt")


# ---------------------------------------------------------------- script copy


def render_script(nb: Any, notebook: Path) -> tuple[str, str]:
    """(file name, text) of the script copy, in percent format.

    We write our own script instead of nbconvert's: its ``# In[3]:`` prompts
    change on every re-run and would flood reviews with noise. The percent
    format (``# %%`` cells, markdown as comments) is what VS Code, PyCharm,
    Spyder and jupytext read as cells. Code is kept verbatim (magics too),
    because the copy is for reading, not for running.
    """
    extension = script_extension(nb)
    comment = _LINE_COMMENT_BY_EXTENSION.get(extension.lower(), "#")
    blocks = [
        f"{comment} Review copy of {notebook.name}, written by pyshim_hooks. "
        "Edit the notebook, not this file."
    ]
    for cell in nb.get("cells", []):
        source = _cell_source(cell).rstrip()
        cell_type = cell.get("cell_type")
        if cell_type == "code":
            blocks.append(f"{comment} %%\n{source}" if source else f"{comment} %%")
        elif cell_type in ("markdown", "raw"):
            commented = "\n".join(
                f"{comment} {line}".rstrip() for line in source.splitlines()
            )
            header = f"{comment} %% [{cell_type}]"
            blocks.append(f"{header}\n{commented}" if commented else header)
    return notebook.stem + extension, "\n\n".join(blocks) + "\n"


def _cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


# ---------------------------------------------------------------- html copy

_local = threading.local()


def render_html(nb: Any, notebook: Path, strip_scripts: bool) -> tuple[str, str]:
    """(file name, text) of the standalone HTML copy with rendered outputs."""
    nb = sanitize.drop_active_outputs(nb) if strip_scripts else nb
    exporter = _html_exporter()
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
