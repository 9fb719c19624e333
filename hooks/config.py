"""Settings of the save hook, as traitlets so they live in jupyter_server config.

Users set them in ``jupyter_server_config.py`` (or ``.json``), for example::

    c.SaveExport.everywhere = True
    c.SaveExport.review_dir = "_review"

The ``jupyter_server_config.d/*.json`` drop-in files are only read by
jupyter_server for ``jpserver_extensions``, so settings go in the main
``jupyter_server_config`` file of any Jupyter config folder.
"""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Float, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable

from .exporter import DEFAULT_REVIEW_DIR, FORMATS, ExportOptions, check_review_dir_name

# Marker files that switch the hook on for the folder that holds them.
# The misspelling is accepted because it circulates in copies of the classic recipe.
MARKER_NAMES = (".ipynb_saveprocess", ".ipynb_saveprocress")


class SaveExport(Configurable):
    """Review copies of notebooks (.py/.scala script and .html) written after each save."""

    review_dir = Unicode(
        DEFAULT_REVIEW_DIR,
        help=(
            "Name of the folder, beside each notebook, that receives its review copies: "
            "<review_dir>/<notebook>.py (or .scala, ...) and <review_dir>/<notebook>.html. "
            "A plain folder name: no slashes, not '.' or '..'."
        ),
    ).tag(config=True)

    everywhere = Bool(
        False,
        help=(
            "Export on every notebook save. When False (the default), only notebooks in a "
            "folder that holds an empty marker file named .ipynb_saveprocess are exported."
        ),
    ).tag(config=True)

    strip_scripts = Bool(
        True,
        help=(
            "Remove scripts from the rendered cells of the .html copy (<script>, on* event "
            "handlers, javascript: links, iframes, JavaScript and widget outputs) so the copy "
            "is safe to email. Set False to keep interactive outputs of notebooks you trust."
        ),
    ).tag(config=True)

    formats = List(
        Unicode(),
        default_value=list(FORMATS),
        help=(
            "Which review copies to write: 'script' (the code in the notebook's own "
            "language, from language_info.file_extension) and/or 'html' (rendered outputs)."
        ),
    ).tag(config=True)

    debounce_seconds = Float(
        0.2,
        help=(
            "Seconds to wait after a save before exporting, so a burst of saves of one "
            "notebook becomes one export of its latest content."
        ),
    ).tag(config=True)

    @validate("review_dir")
    def _check_review_dir(self, proposal):
        try:
            return check_review_dir_name(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"SaveExport.review_dir: {exc}") from None

    @validate("formats")
    def _check_formats(self, proposal):
        unknown = [name for name in proposal["value"] if name not in FORMATS]
        if unknown:
            raise TraitError(
                f"SaveExport.formats: unknown format(s) {unknown}; choose from {list(FORMATS)}"
            )
        return proposal["value"]

    @validate("debounce_seconds")
    def _check_debounce(self, proposal):
        if proposal["value"] < 0:
            raise TraitError("SaveExport.debounce_seconds must be 0 or more")
        return proposal["value"]

    def export_options(self) -> ExportOptions:
        """The plain, thread-safe snapshot of these settings that the exporter uses."""
        return ExportOptions(
            review_dir=self.review_dir,
            formats=tuple(self.formats),
            strip_scripts=self.strip_scripts,
        )

    def applies_to_folder(self, folder: Path) -> bool:
        """Whether saves of notebooks in ``folder`` should be exported."""
        if self.everywhere:
            return True
        return any((folder / name).exists() for name in MARKER_NAMES)


def load_server_config() -> Config:
    """The jupyter_server config as the server would read it, for the CLI.

    `pyshim export` must write the same copies as the save hook (same folder
    name, same script stripping), so it reads the same ``jupyter_server_config``
    files from the Jupyter config path.
    """
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import (
        ConfigFileNotFound,
        JSONFileConfigLoader,
        PyFileConfigLoader,
    )

    merged = Config()
    # The path lists folders in descending priority: load backwards so that
    # higher-priority files are merged last and win.
    for folder in reversed(jupyter_config_path()):
        for loader_class, filename in (
            (PyFileConfigLoader, "jupyter_server_config.py"),
            (JSONFileConfigLoader, "jupyter_server_config.json"),
        ):
            try:
                merged.merge(loader_class(filename, path=folder).load_config())
            except ConfigFileNotFound:
                continue
    return merged


def settings_from_config(config: Config | None = None) -> SaveExport:
    """A SaveExport built from ``config`` (default: the jupyter_server config files)."""
    return SaveExport(config=load_server_config() if config is None else config)
