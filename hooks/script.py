"""The script copy: jupytext's percent format, valid in the notebook's own language.

jupytext writes percent scripts for 30+ languages, comments magics (``# %run x.py``,
``// %AddDeps ...``) and reads its own output back (`jupytext --to ipynb`). We add:

* the header line (who wrote the file, edit the notebook instead);
* no notebook or cell metadata (no ``In[ ]`` counts, no kernel versions), so a re-run
  notebook gives the same bytes;
* cells in another language (``%%python``/``%%sql`` in Scala, ``%%bash``/``%%html``/
  ``%%R``/``%%writefile`` in Python) commented whole: jupytext does that for the
  languages it knows; other cell magics are named in ``custom_cell_magics``, which also
  goes into the file's jupytext header so that `jupytext --to ipynb` restores them;
* cells of an unknown type as commented raw text with a note;
* a Markdown copy when jupytext has no script format for the language;
* in Scala and Java copies, comments that the compiler's unicode-escape pass would break
  (``C:\\users`` in a markdown cell, ``"\\u000a"`` in a Python cell) get one more
  backslash: those compilers read ``\\uXXXX`` even inside comments.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .reading import UNKNOWN_TYPE_KEY, cell_source, notebook_language, script_extension

HEADER = "Review copy of {name}, written by pyshim_hooks. Edit the notebook, not this file."
UNKNOWN_NOTE = "pyshim: a cell of type {kind!r}, which this Jupyter does not know, kept as raw text:"
# Cell magics whose body is code in the notebook's own language (IPython's and Toree's).
# Any other cell magic's body is another language, or data: commented whole.
HOST_CODE_MAGICS = {
    "python": {"time", "timeit", "capture", "prun", "debug", "pypy", "px", "autopx"},
    "scala": {"dataframe", "truncation", "showtypes", "showoutput"},
}
_MAGIC_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
# Languages whose compilers turn \uXXXX into a character before reading comments.
_UNICODE_ESCAPING = {".scala", ".java"}
_BACKSLASH_U = re.compile(r"(\\+)(u+)([0-9A-Fa-f]{0,4})")
_NO_METADATA = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}


def render_script(nb: Any, notebook) -> tuple[str, str]:
    """(file name, text) of the script copy of ``nb`` (read from ``notebook``)."""
    import jupytext

    language = notebook_language(nb)
    light = _cells_for_script(nb, language)
    extension = _script_format(nb, language)
    if extension == ".md":
        # No script format for this language: Markdown keeps code in fences, readable in review.
        text = jupytext.writes(light, fmt={"extension": ".md", "format_name": "markdown"})
        return notebook.stem + ".md", f"<!-- {HEADER.format(name=notebook.name)} -->\n\n{text}"
    fmt = {"extension": extension, "format_name": "percent"}
    magics = light.metadata["jupytext"].get("custom_cell_magics")
    if magics:
        fmt["custom_cell_magics"] = magics
    text = _keep_own_language_magics(jupytext.writes(light, fmt=fmt), _comment(extension), language)
    if extension in _UNICODE_ESCAPING:
        text = _defuse_unicode_escapes(text, _comment(extension))
    return notebook.stem + extension, _with_header(text, _comment(extension), notebook.name)


def script_name(nb: Any, notebook) -> str:
    """The file name :func:`render_script` gives the copy, without rendering it."""
    return notebook.stem + _script_format(nb, notebook_language(nb))


def foreign_cell_magics(sources: list[str], language: str) -> list[str]:
    """Cell magics opening these code cells whose body is not ``language`` code and that
    jupytext does not know as a language; sorted, so the same notebook gives the same bytes."""
    from jupytext.languages import _JUPYTER_LANGUAGES  # the cell magics jupytext comments itself

    host = HOST_CODE_MAGICS.get(language, set()) | {language}
    found = set()
    for source in sources:
        if not source.startswith("%%"):
            continue
        name = source.splitlines()[0][2:].split(" ", 1)[0]
        if _MAGIC_NAME.match(name) and name.lower() not in host and name not in _JUPYTER_LANGUAGES:
            found.add(name)
    return sorted(found)


def _cells_for_script(nb: Any, language: str) -> Any:
    """A light copy of ``nb`` for jupytext: sources only, no outputs or metadata."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    cells = []
    for cell in nb.get("cells", []):
        source = cell_source(cell)
        kind = cell.get("metadata", {}).get(UNKNOWN_TYPE_KEY)
        if kind:
            cells.append(new_raw_cell(UNKNOWN_NOTE.format(kind=kind) + "\n" + source))
        elif cell.get("cell_type") == "code":
            cells.append(new_code_cell(source))
        elif cell.get("cell_type") == "markdown":
            cells.append(new_markdown_cell(source))
        else:
            cells.append(new_raw_cell(source))
    light = new_notebook(cells=cells, metadata={"jupytext": dict(_NO_METADATA)})
    # jupytext takes the main language from the kernelspec, else from the extension.
    light.metadata["kernelspec"] = {"language": language, "name": language, "display_name": language}
    magics = foreign_cell_magics([c.source for c in cells if c.cell_type == "code"], language)
    if magics:
        # Also written into the file's header, so that reading the copy restores the magics.
        light.metadata["jupytext"].update(
            custom_cell_magics=",".join(magics),
            notebook_metadata_filter="jupytext.custom_cell_magics,-all",
        )
    return light


def _script_format(nb: Any, language: str) -> str:
    """The declared extension, else the language's, if jupytext writes scripts of it; else .md."""
    from jupytext.languages import _SCRIPT_EXTENSIONS  # the script types jupytext writes

    from_language = script_extension({"metadata": {"pyshim_language": language}})
    for extension in (script_extension(nb), from_language):
        if extension in _SCRIPT_EXTENSIONS:
            return extension
    return ".md"


def _comment(extension: str) -> str:
    from jupytext.languages import _SCRIPT_EXTENSIONS  # the comment marker of each script type

    return _SCRIPT_EXTENSIONS.get(extension, {}).get("comment", "#")


def _keep_own_language_magics(text: str, comment: str, language: str) -> str:
    """A ``%%scala`` cell in a Scala notebook (``%%python`` in Python) as a commented magic.

    jupytext marks it ``// %% language="scala"`` and, reading the file back, drops the
    magic because it names the notebook's own language; written as a plain marker and a
    commented magic line, it comes back whole.
    """
    marker = re.compile(
        rf'^{re.escape(comment)} %%(?: magic_args=(?P<args>"(?:[^"\\]|\\.)*"))? '
        rf'language="{re.escape(language)}"$', re.MULTILINE)

    def as_magic(match: re.Match) -> str:
        args = f" {json.loads(match['args'])}" if match["args"] else ""
        return f"{comment} %%\n{comment} %%{language}{args}"

    return marker.sub(as_magic, text)


def _defuse_unicode_escapes(text: str, comment: str) -> str:
    """Comment lines without the escapes that would break the file: a malformed one
    (``\\users``) is an error, and ``\\u000a``/``\\u000d`` end the comment early. An odd
    run of backslashes starts an escape; one more backslash makes it plain text. Code
    lines stay as written: the kernel's compiler reads them the same way."""

    def defuse(match: re.Match) -> str:
        backslashes, _, digits = match.groups()
        if len(backslashes) % 2 and (len(digits) < 4 or digits.lower() in ("000a", "000d")):
            return "\\" + match.group(0)
        return match.group(0)

    return "".join(
        _BACKSLASH_U.sub(defuse, line) if line.lstrip().startswith(comment) else line
        for line in text.splitlines(keepends=True)
    )


def _with_header(text: str, comment: str, name: str) -> str:
    """Our header line first, or right after jupytext's own header (which must come first)."""
    line = f"{comment} {HEADER.format(name=name)}\n"
    end_of_yaml = f"{comment} ---\n"
    if text.startswith(end_of_yaml):
        close = text.index(end_of_yaml, len(end_of_yaml)) + len(end_of_yaml)
        return text[:close] + "\n" + line + text[close:]
    return line + "\n" + text if text else line
