"""`pyshim install [--uninstall]`: everything the environment needs, idempotently.

Install: build the Toree extension jar when a source changed, copy the kernel specs into
the environment's prefix, copy the prebuilt JupyterLab extension that highlights each cell
in its language (pyshim/kernel/labextension.py) into the prefix, enable the save hook
(server config in the prefix) and nbdime's git drivers for the repository, and write the
JVM class archive that speeds up Toree's start (pyshim/kernel/jvm_cache.py). Nothing goes to ~/.jupyter, ~/.local or the system Python.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import paths
from . import jvm_cache, labextension, scala_build
from . import specs as kernels


def _repo(repo: Path | None) -> Path | None:
    return repo if repo is not None and (repo / ".git").exists() else None


def install(prefix: Path = Path(sys.prefix), repo: Path | None = None) -> list[str]:
    from pyshim_hooks import install as hooks_install

    done = []
    if scala_build.build():
        done.append(f"built the Scala extension {paths.EXTENSION_JAR}")
    done += kernels.install(prefix)
    done += labextension.install(prefix)
    done += hooks_install.install(prefix, _repo(repo))
    if prefix.resolve() == Path(sys.prefix).resolve():
        # Kernels launched from this environment read the archive from here; another
        # prefix (a test's) would never use one. It is of the installed Scala kernel's classes.
        done += jvm_cache.ensure(prefix)
    return done


def uninstall(prefix: Path = Path(sys.prefix), repo: Path | None = None) -> list[str]:
    from pyshim_hooks import install as hooks_install

    return (kernels.uninstall(prefix) + labextension.uninstall(prefix)
            + hooks_install.uninstall(prefix, _repo(repo)) + jvm_cache.remove(prefix))
