"""Spark's Python worker daemon with the model libraries imported before it forks.

Spark forks every Python worker from one daemon process (`spark.python.daemon.module`,
set to this module by pyshim's Toree launcher). PySpark's own daemon has imported little
more than pyspark, so each new worker imports pandas, pyarrow and mlflow and then the
model's flavor (scikit-learn and skops take about 3 s of the 5 s a worker needs before it
scores a first batch). Imported here once, they are shared by every forked worker.

PYSHIM_WORKER_PRELOAD lists the flavor libraries (comma-separated; empty for none);
the default covers scikit-learn, MLflow's most common flavor. A library that is not
installed is skipped: the daemon must start whatever the environment holds.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys

from .. import settings

# Needed by every model function (Arrow batches, the model cache, mlflow.pyfunc).
ALWAYS = ("pandas", "pyarrow", "mlflow.pyfunc", "pyshim.bridge.worker")
# Flavor libraries whose import dominates a model's first load.
DEFAULT_FLAVORS = settings.default("PYSHIM_WORKER_PRELOAD")


def preload_names(env: dict[str, str]) -> list[str]:
    flavors = env.get("PYSHIM_WORKER_PRELOAD", DEFAULT_FLAVORS)
    return [*ALWAYS, *(name.strip() for name in flavors.split(",") if name.strip())]


def preload(names: list[str]) -> list[str]:
    """Import what can be imported; return the names that failed (reported on stderr)."""
    failed = []
    # The daemon tells the JVM its port on stdout: nothing else may be written there.
    with contextlib.redirect_stdout(sys.stderr):
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as err:  # a missing or broken library: workers import it themselves
                failed.append(name)
                if not isinstance(err, ModuleNotFoundError):
                    print(f"pyshim daemon: could not preload {name}: {err}", file=sys.stderr)
    return failed


def main() -> None:
    # A process group of its own before the slow imports, as PySpark's manager() makes later:
    # Jupyter's interrupt signals the kernel's group, and a daemon still importing would die
    # of that Ctrl-C, failing the Python tasks of every cell, not only the interrupted one's.
    os.setpgid(0, 0)
    preload(preload_names(dict(os.environ)))
    from pyshim.bridge import worker as _worker

    _worker.keep_zip_indexes()  # inherited by every forked worker
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main()
