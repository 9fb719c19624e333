"""Run-time failures inside a model or a Python UDF, told in a few lines.

A model function's worker (worker.py) raises `ModelCallError` with one line:

    NAME (URI; RESOLVED) raised TYPE: MESSAGE | first failing row: a=1.0, b=-2.0

Spark carries that line inside its PythonException and SparkException texts (with the
worker's traceback and JVM frames around it). `short_failure` finds it again, or for any
other Python UDF the last frame and exception of the traceback, and gives the few lines a
notebook should show. scala/src/pyshim/Failures.scala reads the same line for Scala
cells; keep the two in step.

Public API: `ModelCallError`, `model_call_error(label, exc, row)`, `short_failure(text_or_exc, log=None)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_MODEL_LINE = re.compile(r"ModelCallError: (\w+) \((.*?); (.*?)\) raised ([\w.]+)(?:: (.*?))?"
                         r"(?: \| first failing row: (.*))?$", re.MULTILINE)
_FRAME = re.compile(r'^\s+File "(.*)", line \d+, in (.+)$')
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?:: (.*))?$")
_CLIP = 300


class ModelCallError(Exception):
    """A model raised while scoring rows; `str()` is the one line described above."""


def model_call_error(label: str, exc: BaseException, row: dict | None = None) -> ModelCallError:
    """label: `NAME (URI; RESOLVED)`; row: the input values of the first row that failed."""
    message = " ".join(str(exc).split()) or "(no message)"
    line = f"{label} raised {type(exc).__name__}: {_clip(message)}"
    if row is not None:
        line += " | first failing row: " + ", ".join(f"{k}={v!r}" for k, v in row.items())
    return ModelCallError(line)


@dataclass
class ShortFailure:
    ename: str
    evalue: str     # one line
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def short_failure(text_or_exc, log: str | None = None) -> ShortFailure | None:
    """The short form of a failure (an exception or its text), or None when no Python UDF or
    model failed in it. `log` names where the full text went, for the last line."""
    text = text_or_exc if isinstance(text_or_exc, str) else _full_text(text_or_exc)
    found = _model_failure(text) or _udf_failure(text)
    if found and log:
        found.lines.append(f"  full error: {log}")
    return found


def _model_failure(text: str) -> ShortFailure | None:
    matches = list(_MODEL_LINE.finditer(text))
    if not matches:
        return None
    name, uri, resolved, etype, message, row = matches[-1].groups()
    first = f"{name} failed: {etype}: {message}" if message else f"{name} failed: {etype}"
    lines = [first, f"  model: {uri} ({resolved})"]
    if row:
        lines.append(f"  first failing row: {_clip(row)}")
    return ShortFailure(etype, first, lines)


def _udf_failure(text: str) -> ShortFailure | None:
    at = text.rfind("Traceback (most recent call last):")
    if at < 0 or "PythonException" not in text:
        return None
    lines = []
    for line in text[at:].splitlines()[1:]:
        if line.startswith("\t") or line.startswith("Driver stacktrace"):
            break
        lines.append(line)
    frames = [m.group(2).strip() for m in map(_FRAME.match, lines) if m]
    exceptions = [ln for ln in lines if _EXCEPTION_LINE.match(ln) and not ln.startswith("Traceback")]
    if not exceptions:
        return None
    exc = exceptions[-1]
    first = f"Python function {frames[-1] if frames else '?'} failed: {_clip(exc)}"
    return ShortFailure(exc.split(":", 1)[0], first, [first])


def _full_text(exc: BaseException) -> str:
    """An exception's text with its causes, and a Java exception's own text (py4j)."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        java = getattr(exc, "java_exception", None)
        if java is not None:
            parts.append(str(java))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[:_CLIP - 3] + "..."
