"""The HTML copy's safety and honesty: strip scripts, and show what could not be shown.

:func:`prepare_for_html` readies the notebook for nbconvert (placeholders for removed or
unrenderable outputs, marked broken images for missing attachments, unknown cells as
text); :func:`strip_scripts_from_cells` cleans the rendered page, so it is safe to email.

Notebook outputs are written by code the reader did not review: a text/html
output can carry <script>, event handlers or javascript: links. JupyterLab
sanitizes such outputs unless the notebook is trusted; the HTML copy is opened
in a browser with no notion of trust, so we strip them by default.

Only the cells (the <main> element of nbconvert's lab template) are cleaned:
the page's own head scripts (MathJax, require.js, Mermaid) are nbconvert's,
not the notebook's. Everything else in the outputs (tables, styles, images,
headings) stays, unlike nbconvert's ``sanitize_html`` which escapes most tags.
"""

from __future__ import annotations

import base64
import copy
import html
import re
from typing import Any

from .reading import UNKNOWN_TYPE_KEY, cell_source
from .script import UNKNOWN_NOTE

# Elements that run code or load active documents.
_ACTIVE_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta")
# Active elements that take room on the page (a script, a meta tag takes none).
_VISIBLE_TAGS = ("iframe", "frame", "frameset", "object", "embed", "applet")
# Output types whose only purpose is running JavaScript in the page.
_ACTIVE_MIMETYPES = (
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
)
_SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
# Browsers ignore control characters and whitespace inside a URL scheme ("java\tscript:").
_IGNORED_IN_URL = re.compile(r"[\x00-\x20]")


PLACEHOLDER_CLASS = "pyshim-placeholder"
REMOVED = "interactive output removed: {what}"
MISSING_ATTACHMENT = "missing attachment: {name}"
_ATTACHMENT_LINK = re.compile(r"attachment:([^)\s\"'>]+)")


def prepare_for_html(nb: Any, strip_scripts: bool, renderable: tuple[str, ...]) -> Any:
    """A copy of ``nb`` that nbconvert renders in full, with every loss made visible.

    * With ``strip_scripts``, JavaScript and widget outputs (and widget state) go.
    * Output types nbconvert cannot render (``renderable`` is its display priority:
      plotly, vega, bokeh JSON...) go too.
    Either way a placeholder output names the MIME type, where the output was. Dropping
    the type (rather than emptying it) lets nbconvert fall back to the output's
    text/plain form, so the reader still sees what the kernel printed.
    * A link to a missing attachment shows a marked broken image instead of failing.
    * A cell of an unknown type shows as text, with a note.
    """
    nb = copy.deepcopy(nb)
    if strip_scripts:
        nb.get("metadata", {}).pop("widgets", None)
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("metadata", {}).get(UNKNOWN_TYPE_KEY):
            nb.cells[index] = _unknown_cell_as_markdown(cell)
        elif cell.get("cell_type") == "markdown":
            _mark_missing_attachments(cell)
        elif cell.get("cell_type") == "code":
            cell["outputs"] = _outputs_with_placeholders(cell.get("outputs", []), strip_scripts, renderable)
    return nb


def _outputs_with_placeholders(outputs: list, strip_scripts: bool, renderable: tuple[str, ...]) -> list:
    kept = []
    for output in outputs:
        data = output.get("data")
        if not data:
            kept.append(output)
            continue
        removed = [m for m in data if strip_scripts and m in _ACTIVE_MIMETYPES]
        unrendered = [m for m in data if m not in renderable and m not in removed]
        for mimetype in removed + unrendered:
            data.pop(mimetype)
        if data:
            kept.append(output)
        if removed or unrendered:
            kept.append(_placeholder(REMOVED.format(what=", ".join(removed + unrendered))))
    return kept


def _placeholder(text: str) -> Any:
    from nbformat.v4 import new_output

    shown = f'<p class="{PLACEHOLDER_CLASS}"><em>[{html.escape(text)}]</em></p>'
    return new_output("display_data", data={"text/html": shown, "text/plain": f"[{text}]"})


def _mark_missing_attachments(cell: Any) -> None:
    attachments = cell.setdefault("attachments", {})
    for name in _ATTACHMENT_LINK.findall(cell_source(cell)):
        if name not in attachments:
            attachments[name] = {"image/svg+xml": _broken_image(MISSING_ATTACHMENT.format(name=name))}


def _broken_image(text: str) -> str:
    """A visibly broken image (red dashed box with the reason), base64 as attachments are."""
    width = 16 + 7 * len(text)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="28" role="img">'
        f"<title>{html.escape(text)}</title>"
        f'<rect x="1" y="1" width="{width - 2}" height="26" fill="#fff4f4" stroke="#c00" '
        'stroke-dasharray="4 3"/>'
        f'<text x="8" y="18" font-family="sans-serif" font-size="12" fill="#c00">'
        f"{html.escape(text)}</text></svg>"
    )
    return base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _unknown_cell_as_markdown(cell: Any) -> Any:
    from nbformat.v4 import new_markdown_cell

    note = UNKNOWN_NOTE.format(kind=cell["metadata"][UNKNOWN_TYPE_KEY])
    fence = "````"
    shown = new_markdown_cell(f"*{note}*\n\n{fence}text\n{cell_source(cell)}\n{fence}")
    if "id" in cell:
        shown["id"] = cell["id"]  # not a random one: the same notebook gives the same bytes
    return shown


def strip_scripts_from_cells(html: str) -> str:
    """``html`` with active content removed from inside its <main> element."""
    body = html.find("<body")
    start = html.find("<main>", body if body >= 0 else 0)
    end = html.rfind("</main>")
    if start < 0 or end < start:
        # Not the lab template layout: clean the whole page rather than nothing.
        return _clean_fragment(html)
    start += len("<main>")
    return html[:start] + _clean_fragment(html[start:end]) + html[end:]


def _clean_fragment(fragment: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, features="html.parser")
    for tag in soup.find_all(_ACTIVE_TAGS):
        if tag.name in _VISIBLE_TAGS:
            # The reader sees where something was, and what: never an empty output area.
            mark = soup.new_tag("em", attrs={"class": PLACEHOLDER_CLASS})
            mark.string = f"[{REMOVED.format(what=f'<{tag.name}> in text/html')}]"
            tag.replace_with(mark)
        else:
            tag.decompose()
    for tag in soup.find_all(True):
        for name in list(tag.attrs):
            if _is_active_attribute(name, tag.attrs[name]):
                del tag.attrs[name]
    return str(soup)


def _is_active_attribute(name: str, value: Any) -> bool:
    if name.lower().startswith("on"):
        return True
    text = " ".join(value) if isinstance(value, list) else str(value)
    return bool(_SCRIPT_URL.match(_IGNORED_IN_URL.sub("", text)))
