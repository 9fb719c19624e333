"""What registration decided for a model version, kept on disk for the next kernels.

A kernel restart registers the same model versions again (a notebook's first cells): with
the decision kept, that compiles nothing (orbital's import alone is a second or two) and
checks nothing against predict. A decision holds for what it was made from: the model
version (its MLmodel's model_uuid), the inputs and result type, whether the JVM JIT-compiles
huge methods, the versions of Spark, pyshim, orbital and scikit-learn, and this package's
source. A model without a model_uuid is never kept, nor a check that Spark failed to run
(it may run next time). One small JSON file per decision in PYSHIM_NATIVE_CACHE; a folder
that cannot be written only means the next kernel decides again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..settings import default

LIBRARIES = ("pyshim", "orbital", "scikit-learn")


def folder(env: dict[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    chosen = env.get("PYSHIM_NATIVE_CACHE", default("PYSHIM_NATIVE_CACHE"))
    if chosen == "0":
        return None
    if chosen:
        return Path(chosen)
    cache_home = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
    return Path(cache_home) / "pyshim" / "native"


class Stored:
    """The file of one decision: `read()` it (None when there is none), `write()` it."""

    def __init__(self, spark, model_uuid: str | None, key: tuple):
        where = folder()
        self.path = None
        if where is not None and model_uuid:
            made_with = {"spark": spark.version, "code": _code(), **{name: _version(name) for name in LIBRARIES}}
            text = json.dumps({"key": key, "made_with": made_with}, sort_keys=True, default=str)
            self.path = where / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"

    def read(self):
        from . import Decision

        if self.path is None or not self.path.is_file():
            return None
        try:
            return Decision(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):  # unreadable or of another layout: decide again
            return None

    def write(self, decision) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.partial")
            partial.write_text(json.dumps(dataclasses.asdict(decision)))
            partial.replace(self.path)  # whole or not at all, when two kernels write it at once
        except OSError:
            pass


def _code() -> str:
    """The compiler's and the check's own source (an editable install keeps its version)."""
    sources = sorted(Path(__file__).parent.glob("*.py"))
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"
