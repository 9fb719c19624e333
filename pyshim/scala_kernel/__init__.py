"""pyshim's own Scala kernel: the Jupyter protocol in Python (ipykernel), Scala in the JVM.

Toree 0.5 is built for Scala 2.12 and cannot start on Spark 4 (Scala 2.13). This kernel is
the ipykernel way instead: the kernel process is Python and owns the Jupyter protocol;
pyspark starts the Spark driver JVM, where Scala's own REPL (IMain, which ships in pyspark's
jars) runs the Scala cells (scala/src/repl, ReplKernel). `%%python` cells run in the kernel's
own IPython shell, on the same SparkSession, with no second Python process.

Modules: `jvm` starts Spark and the REPL; `cells` splits a cell into its language and magics;
`magics` runs the magics; `kernel` is the ipykernel Kernel class; `__main__` launches it.
"""
