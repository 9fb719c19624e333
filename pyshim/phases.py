"""The phase a long operation is in (a %register_model: download, compile, check), told to
whoever shows it: in the kernel's sidecar, the cell's progress display (scala/src/pyshim/Progress.scala)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

_listener: Callable[[str], None] | None = None


def report(phase: str) -> None:
    if _listener is not None:
        _listener(phase)


@contextmanager
def reporting(listener: Callable[[str], None]):
    global _listener
    _listener = listener
    try:
        yield
    finally:
        _listener = None
