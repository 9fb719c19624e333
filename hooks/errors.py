"""Errors raised by pyshim_hooks. Each message names the thing that failed and the fix."""

from __future__ import annotations

from pathlib import Path


class HooksError(Exception):
    """Base class of every error pyshim_hooks raises on purpose."""


class ExportError(HooksError):
    """A notebook's review copies could not be (fully) written.

    ``written`` lists the copies that were written before the failure, so a
    caller can report partial success: one failing format (say, HTML) does not
    stop the others.
    """

    def __init__(self, notebook: Path, reason: str, written: list[Path] | None = None):
        self.notebook = Path(notebook)
        self.reason = reason
        self.written = list(written or [])
        super().__init__(f"{self.notebook}: {reason}")


class InstallError(HooksError):
    """`pyshim install` / `uninstall` could not change a file or git setting."""
