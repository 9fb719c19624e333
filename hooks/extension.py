"""The jupyter_server 2 extension: registers the post-save hook.

JupyterLab 4 and Notebook 7 both save through jupyter_server's contents API,
which calls post-save hooks synchronously inside the HTTP request and turns an
exception from a hook into an HTTP 500 (after the notebook is already written).
So the hook does only cheap checks, hands the path to the background worker and
never raises.

Renames and deletes through the contents API reach us as jupyter_server's contents
events (no hook exists for them); the worker then finds the old path gone and removes
its copies (:func:`~pyshim_hooks.exporter.sync_copies`).
"""

from __future__ import annotations

import atexit
import functools
from pathlib import Path
from typing import Any

from .config import SaveExport
from .exporter import is_exportable_notebook, sync_copies
from .worker import ExportWorker

# Seconds a stopping server waits for exports that are still queued.
SHUTDOWN_FLUSH_SECONDS = 5.0
CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


class SaveHook:
    """The post-save hook: decides cheaply whether to export, then queues it."""

    def __init__(self, settings: SaveExport, log: Any):
        self.settings = settings
        self.log = log
        self.options = settings.export_options()
        self.worker = ExportWorker(
            functools.partial(sync_copies, options=self.options),
            log=log,
            debounce_seconds=settings.debounce_seconds,
        )

    def on_save(self, model: dict | None = None, os_path: str | None = None, **_: Any) -> None:
        """Post-save hook (jupyter_server calls it as hook(model=, os_path=, contents_manager=))."""
        if os_path and (model or {}).get("type") == "notebook":
            self._queue(os_path)

    def on_contents_event(self, root_dir: str, data: dict) -> None:
        """A rename or delete through the contents API: the old name's copies go, the new
        name gets its own. Paths in events are relative to the server's root folder."""
        try:
            if data.get("action") not in ("rename", "delete"):
                return
            # The new name first: its copies are there before the old ones go.
            for relative in (data.get("path"), data.get("source_path")):
                if isinstance(relative, str) and relative.endswith(".ipynb"):
                    self._queue(str(Path(root_dir, relative.strip("/"))))
        except Exception as exc:  # never fail the user's rename or delete
            self.log.error("pyshim_hooks: could not follow %s: %s: %s", data, type(exc).__name__, exc)

    def _queue(self, os_path: str) -> None:
        try:
            path = Path(os_path)
            if is_exportable_notebook(path, self.options) and self.settings.applies_to_folder(
                path.parent
            ):
                self.worker.submit(path)
        except Exception as exc:  # a hook must never turn a good save into an HTTP 500
            self.log.error(
                "pyshim_hooks: could not queue the review copies of %s: %s: %s",
                os_path, type(exc).__name__, exc,
            )


# Hooks loaded in this process, so in-process benchmarks can flush them.
active_hooks: list[SaveHook] = []


def load(serverapp: Any) -> SaveHook:
    """Create the hook from the server's config and register it.

    ``register_post_save_hook`` adds to the list of hooks; assigning
    ``contents_manager.post_save_hook`` would replace another extension's hook.
    """
    settings = SaveExport(parent=serverapp)
    hook = SaveHook(settings, serverapp.log)
    contents = serverapp.contents_manager
    contents.register_post_save_hook(hook.on_save)
    root_dir = getattr(contents, "root_dir", None)
    if root_dir:  # a contents manager on the local disk: follow its renames and deletes

        async def on_contents_event(logger: Any, schema_id: str, data: dict) -> None:
            # jupyter_events calls listeners by keyword; their errors would fail the save.
            hook.on_contents_event(root_dir, data)

        serverapp.event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=on_contents_event)
    active_hooks.append(hook)
    # Module-style extensions get no unload call; flush queued copies at exit
    # so the last save before Ctrl-C still gets its copies.
    atexit.register(hook.worker.stop, SHUTDOWN_FLUSH_SECONDS)
    where = "every folder" if settings.everywhere else "folders with a .ipynb_saveprocess marker"
    serverapp.log.info(
        "pyshim_hooks: review copies (%s) into %s/ beside notebooks saved in %s",
        ", ".join(settings.formats), settings.review_dir, where,
    )
    return hook


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until every hook loaded in this process has no export queued or running.

    For in-process benchmarks; tests should poll the copies on disk as a user would.
    """
    return all(hook.worker.wait_idle(timeout) for hook in list(active_hooks))
