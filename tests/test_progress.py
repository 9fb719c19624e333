"""Spark job progress per cell, and interrupts that cancel the cell's jobs only (issue 21).

The line's real Scala kernel (Toree on Spark 3.5, pyshim's own on Spark 4) runs Scala, %%sql
and %%python cells with jobs of 400 tasks of 25 ms; the test reads the IOPub messages as a
front end does: one display_data with a transient display_id, update_display_data with the
same id in place, the summary before the reply.
"""
from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
from kernel_driver import process_alive

pytestmark = pytest.mark.toree

PROGRESS_ID = "pyshim-progress-"
SUMMARY = re.compile(r"^(?:(cancelled|failed in stage \d+) · )?([\d,]+) jobs? · ([\d,]+)(?: of ([\d,]+))? tasks · [\d.]+ (?:s|min)")
# A %register_model's summary: its phases and their times (then its Spark jobs, if any).
REGISTER_SUMMARY = re.compile(r"^%register_model in [\d.]+ (?:s|min) · download [\d.]+ s · ")

SCALA_JOB = "sc.parallelize(1 to 400, 400).foreach(_ => Thread.sleep(25))"
# No row passes the filter: show() scans all 400 partitions (in several jobs of growing size).
SQL_JOB = "%%sql\nSELECT id FROM range(0, 400, 1, 400) WHERE nap(25) < 0"
# Started by the sidecar's thread through py4j (its tasks nap in the JVM: 400 Python tasks would
# add Python worker start-up to each, and the background-thread test below runs those).
PYTHON_JOB = "%%python\nspark.sql('SELECT id FROM range(0, 400, 1, 400) WHERE nap(25) < 0').collect()"


@pytest.fixture(scope="module")
def kernel(toree):
    """The session's shared kernel (two cores whatever the machine: conftest.TWO_CORES; a job's
    length, and so its number of frames, depends on it), with the SQL jobs' `nap`."""
    toree.run('spark.udf.register("nap", (ms: Int) => { Thread.sleep(ms); ms })').ok()
    return toree


class Messages:
    """IOPub messages of several cells, read as they come (also after a cell's reply)."""

    def __init__(self, driver):
        self.driver = driver
        self.by_parent: dict[str, list[dict]] = {}

    def execute(self, code: str) -> str:
        return self.driver.kc.execute(code)

    def read_until(self, done, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out; messages so far: {self.summary()}"
            msg = self.driver.kc.get_iopub_msg(timeout=remaining)
            self.by_parent.setdefault(msg["parent_header"].get("msg_id"), []).append(msg)

    def idle(self, msg_id: str) -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in self.by_parent.get(msg_id, []))

    def run(self, code: str, timeout: float = 300) -> str:
        msg_id = self.execute(code)
        self.read_until(lambda: self.idle(msg_id), timeout)
        return msg_id

    def of(self, msg_id: str) -> list[dict]:
        return self.by_parent.get(msg_id, [])

    def progress(self, msg_id: str) -> list[dict]:
        return [m for m in self.of(msg_id) if m["msg_type"] in ("display_data", "update_display_data")
                and m["content"].get("transient", {}).get("display_id", "").startswith(PROGRESS_ID)]

    def settled(self, msg_id: str) -> bool:
        frames = self.progress(msg_id)
        return bool(frames) and SUMMARY.match(frames[-1]["content"]["data"]["text/plain"]) is not None

    def summary(self) -> str:
        return "; ".join(f"{k}: {[m['msg_type'] for m in v]}" for k, v in self.by_parent.items())


def reply_of(driver, msg_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        reply = driver.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def text(frame: dict) -> str:
    return frame["content"]["data"]["text/plain"]


def sent_at(msg: dict) -> float:
    date = msg["header"]["date"]
    return (date if isinstance(date, datetime) else datetime.fromisoformat(str(date))).timestamp()


def check_one_display_of_400_tasks(messages: Messages, msg_id: str) -> None:
    frames = messages.progress(msg_id)
    assert frames, f"no progress display: {[m['msg_type'] for m in messages.of(msg_id)]}"
    assert [f["msg_type"] for f in frames].count("display_data") == 1
    assert frames[0]["msg_type"] == "display_data"
    ids = {f["content"]["transient"]["display_id"] for f in frames}
    assert len(ids) == 1, ids
    running = [f for f in frames[1:-1] if f["msg_type"] == "update_display_data"]
    assert len(running) >= 2, [text(f) for f in frames]
    assert all("<progress" in f["content"]["data"]["text/html"] for f in frames[:-1])
    assert all(re.search(r"tasks [\d,]+/[\d,]+", text(f)) for f in frames[:-1])
    # Polled twice a second at most (one more for the summary right after the last poll).
    span = sent_at(frames[-1]) - sent_at(frames[0])
    assert len(frames) - 1 <= 2 * span + 2, (len(frames), span)
    last = SUMMARY.match(text(frames[-1]))
    assert last is not None, text(frames[-1])
    assert last.group(1) is None and last.group(3) == "400", text(frames[-1])
    # The summary goes out before the cell's idle status (nbclient stops reading there).
    kinds = [m["msg_type"] for m in messages.of(msg_id)]
    assert kinds.index("status", kinds.index("display_data")) > max(
        i for i, m in enumerate(messages.of(msg_id)) if m in frames)


@pytest.mark.parametrize("code", [SCALA_JOB, SQL_JOB, PYTHON_JOB], ids=["scala", "sql", "python"])
def test_a_cell_shows_one_display_updated_in_place_and_its_summary(kernel, code):
    messages = Messages(kernel)
    msg_id = messages.run(code)
    assert reply_of(kernel, msg_id)["content"]["status"] == "ok"
    check_one_display_of_400_tasks(messages, msg_id)


def test_a_short_cell_shows_no_display(kernel):
    messages = Messages(kernel)
    msg_id = messages.run("sc.parallelize(1 to 4, 2).count")
    assert reply_of(kernel, msg_id)["content"]["status"] == "ok"
    assert messages.progress(msg_id) == []


def test_a_background_thread_of_a_python_cell_shows_its_job_in_that_cell_only(kernel):
    messages = Messages(kernel)
    background = messages.run(
        "%%python\nimport threading, time\n"
        "def work():\n"
        "    time.sleep(1.5)\n"
        "    sc.setJobDescription('from the background thread')\n"
        "    sc.parallelize(range(200), 200).foreach(lambda _: time.sleep(0.025))\n"
        "threading.Thread(target=work).start()\n"
        "print('started')")
    assert reply_of(kernel, background)["content"]["status"] == "ok"
    foreground = messages.run('sc.setJobDescription("from the scala cell")\n'
                              f"try {SCALA_JOB} finally sc.setJobDescription(null)")
    assert reply_of(kernel, foreground)["content"]["status"] == "ok"
    messages.read_until(lambda: messages.settled(background), timeout=120)

    mine, theirs = messages.progress(foreground), messages.progress(background)
    assert all("from the background thread" not in text(f) for f in mine)
    assert any("from the scala cell" in text(f) for f in mine)
    assert all("from the scala cell" not in text(f) for f in theirs)
    assert any("from the background thread" in text(f) for f in theirs)
    assert [f["msg_type"] for f in theirs].count("display_data") == 1
    assert SUMMARY.match(text(mine[-1])).group(3) == "400"
    background_summary = SUMMARY.match(text(theirs[-1]))
    assert background_summary.group(1) is None and background_summary.group(3) == "200"


@pytest.mark.parametrize("kind", ["scala", "sql", "python"])
def test_interrupt_cancels_the_cells_jobs_only_and_a_second_one_keeps_the_kernel(kernel, kind):
    long_job = {
        "scala": "sc.parallelize(1 to 400, 400).foreach(_ => Thread.sleep(250))",
        "sql": "%%sql\nSELECT id FROM range(0, 400, 1, 400) WHERE nap(250) < 0",
        "python": "%%python\nimport time\nsc.parallelize(range(400), 400).foreach(lambda _: time.sleep(0.25))",
    }[kind]
    messages = Messages(kernel)
    # The other cell's job lasts 2.5 s or more, however the cores are shared: it shows a display.
    other = messages.run(
        "%%python\nimport threading, time\n"
        "def work():\n"
        "    time.sleep(0.5)\n"
        "    sc.parallelize(range(100), 100).foreach(lambda i: time.sleep(2.5 if i == 99 else 0.05))\n"
        "threading.Thread(target=work).start()")
    assert reply_of(kernel, other)["content"]["status"] == "ok"
    cell = messages.execute(long_job)
    messages.read_until(lambda: len(messages.progress(cell)) >= 2)
    kernel.interrupt()
    interrupted = time.monotonic()
    messages.read_until(lambda: messages.idle(cell), timeout=60)
    stopped = time.monotonic() - interrupted
    time.sleep(max(0.0, 1.0 - stopped))
    kernel.interrupt()  # a second press, within Toree's 3 s "shut down" window
    assert reply_of(kernel, cell)["content"]["status"] == "error"
    summary = SUMMARY.match(text(messages.progress(cell)[-1]))
    assert summary is not None and summary.group(1) == "cancelled", text(messages.progress(cell)[-1])
    assert int(summary.group(3).replace(",", "")) < 400
    print(f"{kind}: the cell ended {stopped:.2f} s after the interrupt")

    assert process_alive(kernel.pid)
    assert kernel.run("1 + 1").ok().text == "2"
    messages.read_until(lambda: messages.settled(other), timeout=120)
    other_summary = SUMMARY.match(text(messages.progress(other)[-1]))
    assert other_summary.group(1) is None and other_summary.group(3) == "100", "another cell's job was cancelled"


def test_a_long_model_registration_shows_its_phases_then_their_times(kernel):
    from model_zoo import log_slow_to_load

    # Long in any kernel (a first registration is long anyway, one in a kernel that already
    # loaded MLflow not): its model takes two seconds to load.
    messages = Messages(kernel)
    msg_id = messages.run(f"%register_model phased {log_slow_to_load()}")
    assert reply_of(kernel, msg_id)["content"]["status"] == "ok"
    frames = messages.progress(msg_id)
    assert [f["msg_type"] for f in frames].count("display_data") == 1
    assert any(text(f).startswith("%register_model: ") for f in frames[:-1]), [text(f) for f in frames]
    assert REGISTER_SUMMARY.match(text(frames[-1])) and " · load " in text(frames[-1]), text(frames[-1])
    stdout = "".join(m["content"]["text"] for m in messages.of(msg_id) if m["msg_type"] == "stream")
    assert "phased" in stdout  # the usual summary, as text


def test_the_kernel_log_has_no_dropped_listener_events(kernel):
    before = len(kernel.log_text())  # the shared kernel's log: what this job adds to it
    kernel.run(SCALA_JOB.replace("400", "4000").replace("25", "1")).ok()
    assert "Dropping event from queue" not in kernel.log_text()[before:]


# --- saved notebooks: one final summary per cell that ran a job -------------------------

def progress_outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if 'class="pyshim-progress"' in str(o.get("data", {}).get("text/html", ""))]


def check_saved_cell(cell) -> None:
    """No empty output, and at most one progress output, which is a summary (no running frame)."""
    for output in cell.get("outputs", []):
        if output["output_type"] in ("display_data", "execute_result"):
            assert output.get("data"), f"an empty output in {cell.source[:60]!r}"
    found = progress_outputs(cell)
    assert len(found) <= 1, cell.source
    for output in found:
        line = output["data"]["text/plain"]
        assert SUMMARY.match(line) or REGISTER_SUMMARY.match(line), line
        assert "<progress" not in output["data"]["text/html"]


# %%python cells are checked in the executed demo notebooks (below): notebook 2 has two; those
# ran in kernels of their own through `make demo`'s runner, this one in the shared kernel.
def test_a_notebook_run_by_nbclient_keeps_one_summary_per_job_cell_and_so_does_its_html_copy(kernel, tmp_path):
    import nbformat

    from hooks.exporter import ExportOptions, planned_copies

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "pyshim-scala", "language": "scala",
                                                           "display_name": "Scala (Toree + pyshim)"}})
    nb.cells = [nbformat.v4.new_code_cell(code) for code in (
        'spark.udf.register("nap", (ms: Int) => { Thread.sleep(ms); ms })\nprintln("registered")',
        SCALA_JOB, SQL_JOB, "sc.parallelize(1 to 4, 2).count")]
    executed = kernel.execute_notebook(nb)
    saved = tmp_path / "progress.ipynb"
    nbformat.write(executed, saved)

    for cell in executed.cells:
        check_saved_cell(cell)
    summaries = [progress_outputs(cell) for cell in executed.cells]
    assert [len(s) for s in summaries] == [0, 1, 1, 0]
    lines = [s[0]["data"]["text/plain"] for s in summaries if s]
    assert all(SUMMARY.match(line).group(3) == "400" for line in lines), lines

    copies, problems = planned_copies(saved, ExportOptions(formats=("html",)))
    assert not problems
    html = next(iter(copies.values()))
    assert html.count('class="pyshim-progress"') == 2
    assert "<progress" not in html
    for line in lines:
        assert html.count(line) == 1, line


@pytest.mark.parametrize("fixture", ["trained", "scored_in_scala", "pyspark_pipeline"])
def test_the_executed_demo_notebooks_hold_only_final_summaries(request, fixture):
    _run, executed = request.getfixturevalue(fixture)
    for cell in executed.cells:
        check_saved_cell(cell)


# --- the user's view: JupyterLab in chromium ------------------------------------------------

# A folder (notebooks/images): the browser test saves its running cell there, as the picture
# of this line's kernel that the README and the docs show.
SCREENSHOT_DIR = "PYSHIM_SCREENSHOT_DIR"
SCREENSHOTS = {"3.5": "progress.png", "4": "progress-spark4.png"}


def save_cell_under_kernel_name(page, path) -> None:
    """The notebook's toolbar, which names its kernel, and its first cell: a picture that says
    which line's kernel ran the cell."""
    toolbar = page.locator(".jp-NotebookPanel-toolbar").bounding_box()
    cell = page.locator(".jp-Notebook .jp-Cell").first.bounding_box()
    left = min(toolbar["x"], cell["x"])
    right = max(toolbar["x"] + toolbar["width"], cell["x"] + cell["width"])
    page.screenshot(path=path, clip={"x": left, "y": toolbar["y"], "width": right - left,
                                     "height": cell["y"] + cell["height"] - toolbar["y"]})


def test_in_jupyterlab_a_running_cell_shows_a_progress_bar_then_its_summary(browser_page, lab):
    import os
    from pathlib import Path

    from lab import scala_notebook

    from pyshim import paths

    nb = scala_notebook("val scored = sc.parallelize(1 to 200, 200).map { i => Thread.sleep(150); i }.count")
    lab.open(browser_page, nb, "progress.ipynb")
    outputs = lab.run_all(browser_page)
    bar = outputs.locator("progress").first
    bar.wait_for(timeout=120_000)
    assert int(bar.get_attribute("max")) == 200
    assert "Spark UI" in outputs.first.inner_text()
    if os.environ.get(SCREENSHOT_DIR):
        browser_page.wait_for_timeout(1500)  # a few tasks done: a bar that has moved
        save_cell_under_kernel_name(browser_page, Path(os.environ[SCREENSHOT_DIR]) / SCREENSHOTS[paths.spark_line()])
    summary = outputs.get_by_text(re.compile(r"1 job · 200 tasks · [\d.]+ s"))
    summary.wait_for(timeout=120_000)
    assert outputs.locator("progress").count() == 0
