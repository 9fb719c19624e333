"""pyshim_hooks: review copies of notebooks on every save, and `pyshim export`.

After each save in JupyterLab 4 / Notebook 7, notebooks in a folder holding a
``.ipynb_saveprocess`` marker get a script copy (.py, .scala, ...) and a
standalone .html copy in the ``_review/`` folder beside them, written by a
background thread so saves stay instant.

Importing this package is cheap: no Spark, MLflow, nbconvert or server imports
happen until a hook is loaded or a notebook is exported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server extension entry: this module is the extension."""
    return [{"module": "pyshim_hooks"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by jupyter_server when ``jpserver_extensions`` enables pyshim_hooks."""
    from .extension import load

    load(serverapp)
