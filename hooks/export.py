"""`pyshim export [--check] [PATH...]`: write or verify review copies on demand.

For CI and pre-commit: export every notebook given or found (recursing into
folders), whether or not its folder has the save marker, because asking is
explicit. With ``--check`` nothing is written; the exit code says whether the
copies on disk match what an export would write now.

Exit codes: 0 ok, 1 stale copies (with --check), 2 bad input (missing path,
not a notebook, unreadable notebook).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import ExportError
from .exporter import CHECKPOINT_DIR, ExportOptions, export_notebook, stale_copies

EXIT_OK, EXIT_STALE, EXIT_BAD_INPUT = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run `pyshim export`; return the exit code."""
    args = _parser().parse_args(argv)
    from .config import settings_from_config

    try:
        options = settings_from_config().export_options()
    except Exception as exc:  # a broken jupyter_server_config.py, a bad SaveExport value
        print(
            f"pyshim export: cannot read the SaveExport settings from the Jupyter config "
            f"(jupyter_server_config.py/.json, see `jupyter --paths`): {exc}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        notebooks = list(_notebooks_to_export(args.paths or [Path.cwd()], options))
    except ValueError as exc:
        print(f"pyshim export: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.check:
        return _check(notebooks, options)
    return _export(notebooks, options)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyshim export",
        description=(
            "Write the review copies (script and .html, in the _review/ folder beside each "
            "notebook) of the given notebooks, or of every notebook under the given folders."
        ),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the copies that are missing or out of date",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="notebook files or folders (recursed); default: the current folder",
    )
    return parser


def _notebooks_to_export(paths: list[Path], options: ExportOptions) -> Iterator[Path]:
    """Every notebook named or found below the folders; ValueError on a bad path."""
    for path in paths:
        if path.is_dir():
            yield from sorted(_find_notebooks(path, options))
        elif not path.exists():
            raise ValueError(f"no such file or folder: {path}")
        elif path.suffix != ".ipynb":
            raise ValueError(f"not a notebook (.ipynb): {path}")
        else:
            yield path


def _find_notebooks(folder: Path, options: ExportOptions) -> Iterator[Path]:
    # _executed: notebooks run by `make demo`, with outputs that change every run.
    skipped = {CHECKPOINT_DIR, options.review_dir, "_executed"}
    for root, dirs, files in os.walk(folder):
        # Skip copies, checkpoints, hidden folders (.git, .venv) and virtualenvs:
        # notebooks shipped inside installed packages are nobody's review.
        dirs[:] = sorted(
            name
            for name in dirs
            if name not in skipped
            and not name.startswith(".")
            and not (Path(root, name) / "pyvenv.cfg").exists()
        )
        for name in files:
            if name.endswith(".ipynb"):
                yield Path(root, name)


def _export(notebooks: list[Path], options: ExportOptions) -> int:
    exit_code = EXIT_OK
    for notebook in notebooks:
        try:
            written = export_notebook(notebook, options)
        except ExportError as exc:
            print(f"pyshim export: cannot export {exc}", file=sys.stderr)
            exit_code = EXIT_BAD_INPUT
            written = exc.written
            if not written:
                continue
        if written:
            print(f"{_show(notebook)} -> {', '.join(_show(path) for path in written)}")
        else:
            print(f"{_show(notebook)}: review copies already up to date")
    return exit_code


def _check(notebooks: list[Path], options: ExportOptions) -> int:
    stale: list[Path] = []
    exit_code = EXIT_OK
    for notebook in notebooks:
        try:
            stale += stale_copies(notebook, options)
        except ExportError as exc:
            print(f"pyshim export: cannot check {exc}", file=sys.stderr)
            exit_code = EXIT_BAD_INPUT
    for path in stale:
        print(f"stale: {_show(path)}")
    if stale:
        print(
            f"{len(stale)} review cop{'y is' if len(stale) == 1 else 'ies are'} missing or out "
            "of date; run `pyshim export` on the notebooks above and commit the result"
        )
        return EXIT_BAD_INPUT if exit_code == EXIT_BAD_INPUT else EXIT_STALE
    return exit_code


def _show(path: Path) -> str:
    """The path relative to the current folder when it is below it, for short lines."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
