"""`python -m pyshim.scala_kernel -f CONNECTION_FILE [--resource-dir DIR]`: start the kernel."""
from __future__ import annotations

import os
import sys

from .. import paths


def main() -> None:
    argv = sys.argv[1:]
    if "--resource-dir" in argv:  # the kernel spec's folder (its log4j2.properties), for jvm.py
        at = argv.index("--resource-dir")
        os.environ["PYSHIM_KERNEL_RESOURCES"] = argv[at + 1]
        del argv[at:at + 2]
    os.environ.setdefault("PYSPARK_PYTHON", paths.environment_python())
    os.environ.setdefault("SPARK_HOME", str(paths.spark_home()))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: Spark's ports on loopback
    os.environ.setdefault("PYTHONHASHSEED", "0")  # Spark needs it fixed across Python workers
    os.environ.setdefault("PYSHIM_SNIPPETS", str(paths.SNIPPETS_DIR))
    from .. import defaults

    os.environ["MLFLOW_TRACKING_URI"] = defaults.tracking_uri(os.environ)
    defaults.quiet_missing_widgets()
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import ScalaKernel

    sys.argv = [sys.argv[0], *argv]
    IPKernelApp.launch_instance(kernel_class=ScalaKernel)


if __name__ == "__main__":
    main()
