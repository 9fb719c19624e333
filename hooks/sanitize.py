"""Strip scripts from the rendered cells of an HTML copy, so it is safe to email.

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

import copy
import re
from typing import Any

# Elements that run code or load active documents.
_ACTIVE_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta")
# Output types whose only purpose is running JavaScript in the page.
_ACTIVE_MIMETYPES = (
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
)
_SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
# Browsers ignore control characters and whitespace inside a URL scheme ("java\tscript:").
_IGNORED_IN_URL = re.compile(r"[\x00-\x20]")


def drop_active_outputs(nb: Any) -> Any:
    """A copy of ``nb`` without JavaScript/widget outputs and widget state.

    Dropping the mimetype (rather than emptying it later) lets nbconvert fall
    back to the output's text/plain form, so the reader still sees something.
    """
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data")
            if data:
                for mimetype in _ACTIVE_MIMETYPES:
                    data.pop(mimetype, None)
    return nb


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
