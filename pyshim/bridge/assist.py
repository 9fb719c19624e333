"""Tab completion, Shift-Tab help and is-complete for `%%python` cells, in both kernels.

The Toree kernel's JVM sends its sidecar the text of the cell after `%%python` and the cursor
in code points (Python's own string indices), and asks only while no cell runs there
(scala/src/pyshim/Assist.scala); pyshim's own Scala kernel asks its IPython directly
(pyshim/scala_kernel/assist.py). The answers are ipykernel's: IPython's completer on the
live namespace (names, attributes, dict keys, imports, paths), then jedi's reading of the
cell for what it imports or defines but has not run yet; `object_inspect_mime` for help.
"""
from __future__ import annotations

# What warm_up() completes: a module the cell imports, under a name no cell binds (so jedi,
# not the live namespace, answers), and a method of a builtin type (jedi's builtins stubs).
_WARM_UP = "import collections as _pyshim_warm_up\n_pyshim_warm_up.OrderedDict().ke"


def complete(shell, code: str, cursor_pos: int) -> dict:
    """The matches that replace code[cursor_start:cursor_pos], as ipykernel gives them."""
    matches, types, start = _from_namespace(shell, code, cursor_pos)
    if not matches:  # a name the cell binds but has not run yet (`import x as y` then `y.`)
        matches, types, start = _from_source(shell, code, cursor_pos)
    return {"status": "ok", "matches": matches, "cursor_start": start if matches else cursor_pos,
            "cursor_end": cursor_pos, "types": types}


def _from_namespace(shell, code: str, cursor_pos: int) -> tuple[list[str], list[str], int]:
    """IPython's completer without jedi (IPCompleter.use_jedi off): the live objects, in milliseconds."""
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
    return matches, types, start


def _from_source(shell, code: str, cursor_pos: int) -> tuple[list[str], list[str], int]:
    """jedi's static reading of the cell, beside the live namespace (as ipykernel's Tab does
    with IPCompleter.use_jedi). Private names only once the user typed the `_`, as IPython."""
    import jedi

    before = code[:cursor_pos]
    line = before.count("\n") + 1
    column = cursor_pos - (before.rfind("\n") + 1)
    found = jedi.Interpreter(code, [shell.user_ns]).complete(line, column)
    if not found:
        return [], [], cursor_pos
    typed = found[0].get_completion_prefix_length()
    private = typed > 0 and code[cursor_pos - typed] == "_"
    shown = [c for c in found if private or not c.name.startswith("_")]
    return [c.name for c in shown], [c.type for c in shown], cursor_pos - typed


def warm_up(shell) -> None:
    """Make the completers' first uses now, not on the user's first Tab: IPython's lists the
    importable modules, jedi reads the stubs of the builtins (a second or more, cold)."""
    complete(shell, "import o", len("import o"))
    complete(shell, _WARM_UP, len(_WARM_UP))


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
