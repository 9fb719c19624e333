"""pyshim.bridge.failures on the texts Spark and PySpark give (no Spark needed)."""
from __future__ import annotations

from pyshim.bridge.failures import ModelCallError, model_call_error, short_failure

_JVM_TAIL = "\n\n\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)\n"


def _spark_text(traceback_tail: str) -> str:
    return ("org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times, "
            "most recent failure: Lost task 0.0 in stage 3.0 (TID 3) (127.0.0.1 executor driver): "
            "org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
            '  File "/site-packages/pyspark/worker.py", line 1247, in main\n    process()\n'
            + traceback_tail + _JVM_TAIL + "\nDriver stacktrace:\n\tat org.apache.spark.scheduler.DAGScheduler.x(DAGScheduler.scala:1)\n")


def test_a_model_failure_names_function_model_message_and_row():
    err = model_call_error("wine (models:/wine/3; version 3, run ab12)", ValueError("bad\n  input"), {"a": -1.0, "b": 2})
    assert isinstance(err, ModelCallError) and "\n" not in str(err)
    short = short_failure(_spark_text(f"pyshim.bridge.failures.ModelCallError: {err}\n"), log="/tmp/x.log")
    assert short.ename == "ValueError"
    assert short.lines == ["wine failed: ValueError: bad input", "  model: models:/wine/3 (version 3, run ab12)",
                           "  first failing row: a=-1.0, b=2", "  full error: /tmp/x.log"]


def test_a_python_udf_failure_names_the_function_and_exception():
    tail = '  File "<ipython-input-3-abc>", line 3, in halve\n    raise ValueError("no")\nValueError: no negatives, got -2.0\n'
    short = short_failure(_spark_text(tail))
    assert short.lines == ["Python function halve failed: ValueError: no negatives, got -2.0"]


def test_other_failures_are_left_alone():
    assert short_failure("org.apache.spark.sql.AnalysisException: [UNRESOLVED_COLUMN] x") is None
    assert short_failure(KeyError("k")) is None


def test_an_exception_and_its_cause_are_read_too():
    try:
        try:
            raise RuntimeError(_spark_text("pyshim.bridge.failures.ModelCallError: m (u; local model) raised KeyError: 'x'\n"))
        except RuntimeError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        short = short_failure(outer)
    assert short.evalue == "m failed: KeyError: 'x'"
