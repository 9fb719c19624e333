"""The running cell's Spark job tag on the sidecar's Python threads.

The kernel tags each cell's Spark jobs (scala/src/pyshim/Progress.scala) so that they show in
that cell's progress display and its interrupt cancels them. The sidecar talks to the JVM in
PySpark's pinned-thread mode (py4j's ClientServer): each Python thread has a JVM thread of its
own, whose local properties carry the tag. The sidecar's main thread takes the tag of the
request it runs; a thread started while a tagged thread runs takes the same tag, as
pyspark.InheritableThread copies local properties, so a %%python cell's background jobs show in
that cell, even after it ended, and never in another cell.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

_state = threading.local()
_sc = None
_original_start = threading.Thread.start


def current() -> str:
    """The tag of the cell this thread works for ("" for none)."""
    return getattr(_state, "tag", "")


@contextmanager
def cell(tag: str):
    """Run a request of the cell tagged `tag` on this thread (the sidecar's main thread)."""
    if not tag or _sc is None:
        yield
        return
    jvm_context = _sc._jsc.sc()
    _state.tag = tag
    jvm_context.addJobTag(tag)
    try:
        yield
    finally:
        _state.tag = ""
        jvm_context.removeJobTag(tag)


def _start(thread: threading.Thread) -> None:
    tag = current()
    if tag:
        run = thread.run

        def run_tagged():
            _state.tag = tag
            # On this thread's own JVM thread (pinned mode): its Spark jobs are the cell's.
            _sc._jsc.sc().addJobTag(tag)
            run()

        thread.run = run_tagged
    _original_start(thread)


def install(sc) -> None:
    """Tag the threads that a tagged thread starts; `sc` is the sidecar's SparkContext."""
    global _sc
    _sc = sc
    threading.Thread.start = _start
