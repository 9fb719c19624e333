"""Tab completion, Shift-Tab help and is-complete for `%%python` cells, in the sidecar.

The kernel's JVM sends the text of the cell after `%%python` and the cursor in code points
(Python's own string indices); the answers are ipykernel's: IPython's completer on the live
namespace (names, attributes, dict keys, imports, paths), `object_inspect_mime` for help.
The JVM asks only while no cell runs here (scala/src/pyshim/Assist.scala).
"""
from __future__ import annotations


def complete(shell, code: str, cursor_pos: int) -> dict:
    """The matches that replace code[cursor_start:cursor_pos], as ipykernel gives them."""
    from IPython.core.completer import provisionalcompleter, rectify_completions

    with provisionalcompleter():
        found = list(rectify_completions(code, shell.Completer.completions(code, cursor_pos)))
    # Toree's reply always ends at the cursor: a completion that also replaces text after it
    # (the cursor inside a word) keeps only what goes before the cursor, else it is dropped.
    matches, types, start = [], [], cursor_pos
    for comp in found:
        after = code[cursor_pos:comp.end]
        if comp.text.endswith(after):
            matches.append(comp.text[:len(comp.text) - len(after)])
            types.append(comp.type)
            start = comp.start
    if matches and code[start:start + 1] == "." and all(m.startswith(".") for m in matches):
        matches, start = [m[1:] for m in matches], start + 1  # `OrderedDict` after `collections.`, not `.OrderedDict`
    return {"status": "ok", "matches": matches, "cursor_start": start if matches else cursor_pos,
            "cursor_end": cursor_pos, "types": types}


def inspect(shell, code: str, cursor_pos: int, detail_level: int = 0) -> dict:
    """The inspect_reply content for the name at the cursor (IPython's `obj?` as a MIME bundle)."""
    from IPython.utils.tokenutil import token_at_cursor

    name = token_at_cursor(code, cursor_pos)
    reply = {"status": "ok", "found": False, "data": {}, "metadata": {}}
    if not name:
        return reply
    try:
        bundle = shell.object_inspect_mime(name, detail_level=detail_level)
    except KeyError:  # IPython's way of saying "no such object"
        return reply
    if not shell.enable_html_pager:
        bundle.pop("text/html", None)
    reply.update(found=True, data=bundle)
    return reply


def is_complete(shell, cell: str, body: str) -> dict:
    """IPython's rule for a cell magic (complete after a blank line), and the body must parse."""
    manager = shell.input_transformer_manager
    status, indent = manager.check_complete(cell)
    if status == "complete" and manager.check_complete(body.rstrip())[0] == "invalid":
        status = "invalid"
    return {"status": status, "indent": " " * (indent or 0) if status == "incomplete" else ""}
