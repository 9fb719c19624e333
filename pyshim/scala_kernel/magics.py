"""The Scala kernel's magics: all but `%%python` run in the JVM on a cell thread
(scala/src/repl/Magics.scala: pyshim's and Toree's), followed like a Scala cell."""
from __future__ import annotations

from .cells import Part


class MagicError(Exception):
    """A magic could not run; the message is for the notebook."""


class Magics:
    def __init__(self, kernel):
        self.kernel = kernel

    def run(self, part: Part, silent: bool, count: int) -> dict | None:
        repl = self.kernel.jvm.repl
        cell = repl.executeMagic(part.key, part.text, silent)
        return self.kernel.follow(cell, silent, count)
