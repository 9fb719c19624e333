"""`pyshim export [--check | --prune] [PATH...]`: write or verify review copies on demand.

For CI and pre-commit: export every notebook given or found (recursing into
folders), whether or not its folder has the save marker, because asking is
explicit. With ``--check`` nothing is written; the exit code says whether the
copies on disk match what an export would write now, and that no review folder
holds orphan copies (of a notebook renamed or deleted outside Jupyter); ``--prune``
exports and removes those orphans.

Exit codes: 0 ok, 1 stale or orphan copies (with --check), 2 bad input (missing path,
not a notebook, unreadable notebook).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import ExportError
from .exporter import (
    CHECKPOINT_DIR,
    ExportOptions,
    export_notebook,
    orphan_copies,
    review_folder,
    stale_copies,
)

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
    folders = _review_folders(args.paths or [Path.cwd()], notebooks, options)
    if args.check:
        return _check(notebooks, folders, options)
    exit_code = _export(notebooks, options)
    if args.prune:
        _prune(folders, options)
    return exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyshim export",
        description=(
            "Write the review copies (script and .html, in the _review/ folder beside each "
            "notebook) of the given notebooks, or of every notebook under the given folders."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the copies that are missing, out of date or orphans",
    )
    mode.add_argument(
        "--prune",
        action="store_true",
        help="also remove orphan copies (of notebooks renamed or deleted outside Jupyter)",
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


def _review_folders(paths: list[Path], notebooks: list[Path], options: ExportOptions) -> list[Path]:
    """Review folders to check for orphans: below the folders given, beside the notebooks."""
    found = {review_folder(notebook, options) for notebook in notebooks}
    for path in paths:
        if path.is_dir():
            found.update(Path(root) / options.review_dir for root, _ in _walk(path, options))
    return sorted(folder for folder in found if folder.is_dir() and not folder.is_symlink())


def _find_notebooks(folder: Path, options: ExportOptions) -> Iterator[Path]:
    for root, files in _walk(folder, options):
        for name in files:
            if name.endswith(".ipynb"):
                yield Path(root, name)


def _walk(folder: Path, options: ExportOptions) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) below ``folder``, skipping what is nobody's review."""
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
        yield root, files


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


def _check(notebooks: list[Path], folders: list[Path], options: ExportOptions) -> int:
    stale: list[Path] = []
    exit_code = EXIT_OK
    for notebook in notebooks:
        try:
            stale += stale_copies(notebook, options)
        except ExportError as exc:
            print(f"pyshim export: cannot check {exc}", file=sys.stderr)
            exit_code = EXIT_BAD_INPUT
    orphans = [path for folder in folders for path in orphan_copies(folder, options)]
    for path in stale:
        print(f"stale: {_show(path)}")
    for path in orphans:
        print(f"orphan: {_show(path)} (no notebook {path.stem}.ipynb writes it)")
    if stale:
        print(
            f"{len(stale)} review cop{'y is' if len(stale) == 1 else 'ies are'} missing or out "
            "of date; run `pyshim export` on the notebooks above and commit the result"
        )
    if orphans:
        print(
            f"{len(orphans)} orphan review cop{'y' if len(orphans) == 1 else 'ies'}; "
            "run `pyshim export --prune` to remove them"
        )
    if stale or orphans:
        return EXIT_BAD_INPUT if exit_code == EXIT_BAD_INPUT else EXIT_STALE
    return exit_code


def _prune(folders: list[Path], options: ExportOptions) -> None:
    for folder in folders:
        for path in orphan_copies(folder, options):
            path.unlink()
            print(f"removed orphan copy {_show(path)}")
        try:
            folder.rmdir()  # only when nothing is left in it
        except OSError:
            pass


def _show(path: Path) -> str:
    """The path relative to the current folder when it is below it, for short lines."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
