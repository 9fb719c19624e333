"""Read any notebook Jupyter opens, as a valid nbformat v4 notebook, and tell its language.

Notebooks in the wild are v2/v3 (nbformat upgrades them), carry invalid metadata (a
kernelspec that is a string, a language_info that is not an object) or cells of a type
from a future nbformat. Jupyter opens all of them, so the review copies must too: we
upgrade, move unknown cells aside (see :func:`unknown_cells`), and let nbformat strip what
its schema rejects. The language is read before the repair, so a hint in invalid metadata
still counts; Python is the default when nothing says otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ExportError

KNOWN_CELL_TYPES = ("code", "markdown", "raw")
DEFAULT_LANGUAGE = "python"
UNKNOWN_TYPE_KEY = "pyshim_unknown_cell_type"  # cell metadata that remembers the original type

# Script extension when the notebook declares none we can use.
_EXTENSION_BY_LANGUAGE = {
    "python": ".py", "scala": ".scala", "r": ".R", "julia": ".jl", "java": ".java",
    "sql": ".sql", "bash": ".sh", "javascript": ".js", "typescript": ".ts",
}
_SAFE_EXTENSION = re.compile(r"^\.[A-Za-z0-9_+-]{1,16}$")
_SCALA_KERNEL = re.compile(r"scala|toree", re.IGNORECASE)


def read_notebook(notebook) -> Any:
    """The notebook at ``notebook`` as a schema-valid v4 NotebookNode; ExportError if unreadable.

    The language found before the repair is kept in ``metadata.pyshim_language``
    (never written back: the copies are rendered from this in-memory node).
    """
    try:
        text = notebook.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExportError(notebook, "the notebook no longer exists (moved or deleted?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(notebook, f"cannot read the file: {exc}") from None
    try:
        return parse_notebook(text)
    except Exception as exc:  # nbformat raises several unrelated types for bad JSON
        raise ExportError(notebook, f"not a readable notebook: {exc}") from exc


def parse_notebook(text: str) -> Any:
    """Notebook JSON (any nbformat version) -> a schema-valid v4 NotebookNode."""
    import nbformat
    from nbformat import reader, validator

    found = reader.reads(text)
    had_ids = (found.get("nbformat"), found.get("nbformat_minor", 0)) >= (4, 5)
    nb = nbformat.convert(found, 4)  # v2/v3 -> v4.5; no validation yet
    language = notebook_language(nb)
    extension = _declared_extension(nb)
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") not in KNOWN_CELL_TYPES:
            # The schema has no room for them: keep the text as a raw cell, remember the type.
            original, source, cell_id = str(cell.get("cell_type")), cell_source(cell), cell.get("id")
            cell.clear()
            cell.update(cell_type="raw", metadata={UNKNOWN_TYPE_KEY: original}, source=source)
            if cell_id:
                cell["id"] = cell_id
        if nb.get("nbformat_minor", 0) >= 5 and not (had_ids and cell.get("id")):
            # The upgrade gives random ids, and the HTML shows them: number them instead,
            # so the same notebook always gives the same bytes.
            cell["id"] = f"cell-{index}"
    # Strips metadata the schema rejects (a string kernelspec), adds missing cell ids.
    _, repaired = validator.normalize(
        nb, version=4, version_minor=nb.get("nbformat_minor", 5), strip_invalid_metadata=True
    )
    nb = nbformat.from_dict(repaired)
    nb.metadata["pyshim_language"] = language
    if extension:
        nb.metadata["pyshim_extension"] = extension
    return nb


def cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source or "")


def notebook_language(nb: Any) -> str:
    """The notebook's language, lower case ("python", "scala", ...), tolerating bad metadata."""
    if "pyshim_language" in nb.get("metadata", {}):
        return nb["metadata"]["pyshim_language"]
    metadata = _as_dict(nb.get("metadata"))
    language_info = _as_dict(metadata.get("language_info"))
    kernelspec = metadata.get("kernelspec")
    candidates = [language_info.get("name")]
    if isinstance(kernelspec, dict):
        candidates += [kernelspec.get("language"), _language_of_kernel(kernelspec.get("name"))]
    else:  # a bare string: the kernel's name
        candidates.append(_language_of_kernel(kernelspec))
    candidates.append(_as_dict(metadata.get("jupytext")).get("main_language"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().lower()
    return DEFAULT_LANGUAGE


def script_extension(nb: Any) -> str:
    """The script copy's extension (".py", ".scala", ...) from the notebook's metadata."""
    declared = nb.get("metadata", {}).get("pyshim_extension") or _declared_extension(nb)
    if declared:
        return declared
    return _EXTENSION_BY_LANGUAGE.get(notebook_language(nb), ".txt")


def _declared_extension(nb: Any) -> str | None:
    language_info = _as_dict(_as_dict(nb.get("metadata")).get("language_info"))
    extension = language_info.get("file_extension")
    if isinstance(extension, str) and _SAFE_EXTENSION.match(extension) and extension.lower() not in (
        ".html", ".ipynb",
    ):
        return extension
    return None


def _language_of_kernel(name: Any) -> str | None:
    if isinstance(name, str) and _SCALA_KERNEL.search(name):
        return "scala"
    if isinstance(name, str) and name.lower().startswith("python"):
        return "python"
    return None


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
