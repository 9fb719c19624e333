"""A cell of the Scala kernel, split as Toree splits it.

A cell that starts with `%%name` is that cell magic's, with the rest of the cell (the text
after the name, the same line included) as its input. Otherwise each line that starts with
`%name` is a line magic, run in order with the Scala code around it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_CELL_MAGIC = re.compile(r"\A\s*%%(\w+)(.*)\Z", re.S)
_LINE_MAGIC = re.compile(r"^\s*%(\w+)(.*)$")


@dataclass(frozen=True)
class Part:
    kind: str       # "cell" (a cell magic), "line" (a line magic) or "scala"
    name: str       # the magic's name as written ("" for Scala)
    text: str       # the magic's input, or the Scala code

    @property
    def key(self) -> str:
        """Magic names are case-insensitive, as in Toree (%LsMagic is %lsmagic)."""
        return self.name.lower()


def split(code: str) -> list[Part]:
    cell = _CELL_MAGIC.match(code)
    if cell:
        return [Part("cell", cell.group(1), cell.group(2))]
    parts: list[Part] = []
    scala: list[str] = []

    def flush() -> None:
        # Only comments before a magic (`// check truncation` then `%Truncation`) are no code.
        if any(line.strip() and not line.strip().startswith("//") for line in scala):
            parts.append(Part("scala", "", "\n".join(scala)))
        scala.clear()

    for line in code.split("\n"):
        magic = _LINE_MAGIC.match(line)
        if magic:
            flush()
            parts.append(Part("line", magic.group(1), magic.group(2).strip()))
        else:
            scala.append(line)
    flush()
    return parts


def language(code: str) -> tuple[str, int]:
    """The language of the text at the cursor and where that text starts: ("python", n) in a
    `%%python` cell, ("sql", n) in `%%sql`, else ("scala", 0)."""
    cell = _CELL_MAGIC.match(code)
    if cell and cell.group(1).lower() in ("python", "sql"):
        return cell.group(1).lower(), cell.start(2)
    return "scala", 0
