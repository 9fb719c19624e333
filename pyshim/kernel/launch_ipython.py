"""Start the IPython kernel with Spark's Python workers pinned to this environment.

PySpark defaults PYSPARK_PYTHON to `python3` on PATH, which may lack pandas, pyarrow and
mlflow; the kernel spec cannot hold an absolute path, so it is set here.
"""
from __future__ import annotations

import os
import sys

from .. import paths


def main() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", paths.environment_python())
    os.environ.setdefault("SPARK_HOME", str(paths.spark_home()))
    from .. import defaults

    defaults.quiet_missing_widgets()
    from ipykernel import kernelapp

    sys.argv[0] = "ipykernel_launcher"
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
