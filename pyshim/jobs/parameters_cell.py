"""A notebook's cell tagged `parameters`, read without a kernel: each name, its default, its help.

Python cells are read with the standard library's parser (`ast`, after IPython's own rewrite
of magics): exact for values over several lines, for `f(a=1)` and for `#` inside strings,
where papermill's line-based `inspect_notebook` skips or cuts the line. Scala cells are read
by a small scanner of `val`/`var NAME[: Type] = ...` definitions: a string, number, boolean or
`null` is a literal; anything else (`s"$outputDir/x.parquet"`, `Seq(1, 2)`) is an expression,
kept as its source text because only the kernel could evaluate it. In both languages the
comment after a definition is its help.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

TAG = "parameters"


@dataclass(frozen=True)
class Parameter:
    name: str
    source: str          # the default as written in the cell
    value: object        # the default's value when it is a literal, else None
    literal: bool
    type: str = ""       # the declared type (`: Long`, `: int`), if any
    help: str = ""       # the comment after the definition


def find(nb):
    """The notebook's first cell tagged `parameters` (papermill injects after it), or None."""
    return next((c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])), None)


def language(nb) -> str:
    spec = nb.metadata.get("kernelspec") or {}
    return spec.get("language") or (nb.metadata.get("language_info") or {}).get("name", "") or "python"


def read(nb) -> list[Parameter] | None:
    """The parameters the notebook's `parameters` cell defines, in order; None when it has none.

    A name defined twice keeps its first place and its last default (what the cell runs with).
    """
    cell = find(nb)
    if cell is None:
        return None
    reader = {"python": python, "scala": scala}.get(language(nb).lower())
    if reader is None:
        raise CellError(f"is {language(nb)} code; pyshim reads the parameters of Python and Scala notebooks")
    return list({p.name: p for p in reader(cell.source)}.values())


class CellError(ValueError):
    """The parameters cell cannot be read: the message says why and what to do."""


# --- Python -----------------------------------------------------------------------------------


def python(source: str) -> list[Parameter]:
    """Top-level `name = value` and `name: type = value` statements of a Python cell."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)  # `%magic` lines become calls, lines stay put
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise CellError(f"is not valid Python (line {err.lineno}: {err.msg}); fix it in JupyterLab") from None
    lines = code.splitlines()
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, annotation = node.targets, ""
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, annotation = [node.target], ast.unparse(node.annotation)
        else:
            continue
        text = ast.get_source_segment(code, node.value)
        try:
            value, literal = ast.literal_eval(node.value), True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value, literal = None, False
        rest = lines[node.end_lineno - 1][node.end_col_offset:].strip()
        note = rest[1:].strip() if rest.startswith("#") else ""
        found += [Parameter(t.id, text, value, literal, annotation, note)
                  for t in targets if isinstance(t, ast.Name)]
    return found


# --- Scala ------------------------------------------------------------------------------------

# `val name = `, `var name: Type = ` at the start of a line (a type may hold `=>`, never `=`)
_SCALA_DEFINITION = re.compile(
    r"^[ \t]*(?:val|var)[ \t]+([A-Za-z_]\w*)[ \t]*(?::[ \t]*((?:[^=\n]|=>)+?))?[ \t]*=(?![=>])", re.MULTILINE)
_SCALA_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"\Z')
_SCALA_RAW_STRING = re.compile(r'"""(.*)"""\Z', re.DOTALL)
_SCALA_INT = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+)[lL]?\Z")
_SCALA_FLOAT = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?[fFdD]?\Z")
_SCALA_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_SCALA_WORDS = {"true": True, "false": False, "null": None}


def scala(source: str) -> list[Parameter]:
    """`val`/`var` definitions of a Scala cell, each with its literal value or expression text."""
    found, at = [], 0
    while match := _SCALA_DEFINITION.search(source, at):
        # go on after the expression: a `val` inside its string defines nothing
        text, note, at = _scala_expression(source, match.end())
        literal, value = scala_literal(text)
        found.append(Parameter(match[1], text, value, literal, (match[2] or "").strip(), note))
    return found


def scala_literal(text: str) -> tuple[bool, object]:
    """(True, value) for a Scala string, number, boolean or null literal; else (False, None)."""
    if text in _SCALA_WORDS:
        return True, _SCALA_WORDS[text]
    if _SCALA_STRING.match(text):
        return True, re.sub(r"\\(u[0-9a-fA-F]{4}|.)", _scala_escape, text[1:-1])
    raw = _SCALA_RAW_STRING.match(text)
    if raw:
        return True, raw[1]
    if _SCALA_INT.match(text):
        digits = text.rstrip("lL")
        return True, int(digits, 16 if digits.lstrip("-")[:2].lower() == "0x" else 10)
    if _SCALA_FLOAT.match(text):
        return True, float(text.rstrip("fFdD"))
    return False, None


def _scala_escape(match: re.Match) -> str:
    code = match[1]
    return chr(int(code[1:], 16)) if len(code) == 5 else _SCALA_ESCAPES.get(code, code)


def _scala_expression(source: str, start: int) -> tuple[str, str, int]:
    """The expression after `=` (to the end of its line, or of its brackets), its `//` comment
    and where it ends.

    Strings are skipped whole, so `//` or a bracket inside one counts for nothing.
    """
    code, note, depth, i, end = [], "", 0, start, len(source)
    while i < end:
        if source.startswith('"""', i):
            j = source.find('"""', i + 3)
            j = end if j < 0 else j + 3
            while j < end and source[j] == '"':  # """ends with a quote""""
                j += 1
        elif source[i] == '"':
            j = i + 1
            while j < end and source[j] not in '"\n':
                j += 2 if source[j] == "\\" else 1
            j = min(j + 1, end)
        elif source.startswith("//", i):
            j = source.find("\n", i)
            j = end if j < 0 else j
            if depth <= 0:
                note = source[i + 2:j].strip()
            i = j
            continue
        elif source.startswith("/*", i):
            j = source.find("*/", i + 2)
            i = end if j < 0 else j + 2
            continue
        else:
            char = source[i]
            if char in "\n;" and depth <= 0:
                break
            depth += (char in "([{") - (char in ")]}")
            j = i + 1
        code.append(source[i:j])
        i = j
    return "".join(code).strip(), note, i

