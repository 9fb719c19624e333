"""Toree's own magics, kernel.out/err and definitions show what Apache Toree shows.

On Spark 3.5 the test starts a stock Toree kernel (Toree's assembly jar through pyspark's
spark-submit, with only the Java 17 --add-opens), runs the cells of Toree's magic tutorial
that need no network, stops it, then runs the same cells in pyshim's kernel and compares each
cell's text. Stock Toree 0.5 runs a line magic twice (scalac copies its @Event onto a bridge
method), so there a line magic's text is compared with its first run. On both lines the
messages must be what Toree's magic-tutorial.ipynb shows in its saved outputs, each once.
pyshim's kernel starts first, so that it boots meanwhile. Either kernel must also send all of it before the cell's idle status (as nbclient reads a
notebook), in the order the cell wrote it.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from typing import NamedTuple

from conftest import TWO_CORES, start_toree
from kernel_driver import CellResult, KernelDriver, wait_gone
from test_progress import SCALA_JOB

from pyshim import paths

pytestmark = pytest.mark.toree
# Stock Toree 0.5 runs on Spark 3.5 only; pyshim's own Scala kernel is held to Toree's saved outputs.
STOCK_TOREE = paths.spark_line() == "3.5" and paths.scala_kernel() == "toree"


def needs_stock(test):
    """Compared with stock Toree itself: a Toree 0.5 kernel of its own (Spark 3.5 only)."""
    return pytest.mark.stock_toree(pytest.mark.skipif(not STOCK_TOREE, reason="stock Toree 0.5 cannot run on Spark 4")(test))

STOCK_KERNEL = "toree-stock-0.5"
JAR_NAME = "pyshim-addjar-probe.jar"

# Toree's etc/examples/notebooks/magic-tutorial.ipynb, without the cells that download.
TUTORIAL = [
    "%LsMagic",
    "// invoke the truncation magic to see if truncation is on or off\n%Truncation",
    "%Truncation off\n(1 to 200)",
    "%Truncation on\n(1 to 200)",
    "%ShowTypes",
    '"Hello types!"',
    '%ShowTypes on\n"Hello types!"',
    '(1, "Hello types!")',
    '%ShowTypes off\n"Hello types!"',
    "%AddJar",
    "%AddJar {jar_url}",  # a local jar: the download progress lines, no network
    "%AddDeps",
    "case class DFRecord(key: String, value: Int)\nval sqlc = spark\nimport sqlc.implicits._\n"
    "val df = sc.parallelize(1 to 10).map(x => DFRecord(x.toString, x)).toDF()",
    "%%dataframe\ndf",
    "%%dataframe --output=csv\ndf",
    "%%dataframe --limit=3\ndf",
    "%%html\n<p>\nHello, <strong>Magics</strong>!\n</p>",
    "df.createOrReplaceTempView(\"MYTABLE\")",
    "%%SQL\nSELECT * FROM MYTABLE WHERE value >= 6",
    "%%SQL\nSELECT * FROM MYTABLE WHERE value >= 4",
    'kernel.out.println("to kernel.out")\nkernel.err.println("to kernel.err")',
    "val answer = 42\ndef twice(x: Int) = 2 * x",
]
PYSHIM_LSMAGIC = "pyshim magics:\n%pyshim %register_model %load\n%%python\n"
RICH = ("display_data", "execute_result")


def _stock_spec(data_dir) -> None:
    """A kernel spec for Toree as released: its Main, its jar, Spark's launcher, nothing of pyshim."""
    spec = data_dir / "kernels" / STOCK_KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(paths.spark_home() / "bin" / "spark-submit"), "--name", "toree-stock",
            "--conf", "spark.ui.enabled=false", "--class", "org.apache.toree.Main", str(paths.toree_jar()),
            "--profile", "{connection_file}"]
    env = {"SPARK_HOME": str(paths.spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_SUBMIT_OPTS": "--add-opens=java.base/java.util.jar=ALL-UNNAMED"}
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Toree 0.5 (stock)",
                                                  "language": "scala", "env": env}))


def _stock_outputs(driver: KernelDriver, cells: list[str]) -> list[list[tuple[str, dict]]]:
    """Each cell's outputs in stock Toree, also those it sends after the cell's idle (it
    relays a cell's value after the reply): messages are kept by parent, and one more cell
    runs at the end so that the late messages of the others have come before its idle."""
    outputs: dict[str, list] = {}
    ids = []
    for code in [*cells, "val stockDone = 1"]:
        ids.append(driver.kc.execute(code))
        _read_until_idle(driver, ids[-1], outputs)
    return [outputs.get(msg_id, []) for msg_id in ids[:-1]]


def _read_until_idle(driver: KernelDriver, msg_id: str, outputs: dict) -> None:
    while True:
        msg = driver.kc.get_iopub_msg(timeout=300)
        parent = msg["parent_header"].get("msg_id")
        if msg["msg_type"] in ("stream", *RICH, "error"):
            outputs.setdefault(parent, []).append((msg["msg_type"], msg["content"]))
        if parent == msg_id and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return


def _text(outputs: list[tuple[str, dict]]) -> dict:
    """What a cell shows: its text per stream, and its displays and value (without hashes)."""
    def clean(text: str) -> str:
        return re.sub(r"@[0-9a-f]{4,}\b", "@HASH", text)

    shown = {"stdout": "", "stderr": "", "rich": []}
    for kind, content in outputs:
        if kind == "stream":
            shown[content["name"]] += clean(content["text"])
        elif kind in RICH:
            shown["rich"].append((kind, {k: clean(v) for k, v in content["data"].items()}))
        else:
            shown["rich"].append((kind, content.get("ename"), content.get("evalue")))
    # Stock Toree relays a display and the value through two actors: their order varies there.
    shown["rich"].sort(key=repr)
    return shown


def _first_run(cell: str, stdout: str) -> str:
    """What the first of stock Toree's runs of a line magic printed: the text up to where its
    first line comes again, or for %AddJar the download without the "Using cached version of"."""
    if not re.match(r"(//.*\n)*%\w", cell):  # no line magic
        return stdout
    lines = stdout.splitlines(keepends=True)
    if cell.startswith("%AddJar "):
        return "".join(line for line in lines if not line.startswith("Using cached version of"))
    again = lines.index(lines[0], 1) if lines[0] in lines[1:] else len(lines)
    return "".join(lines[:again])


def test_stock_toree_runs_a_line_magic_twice_and_pyshim_once(stock, pyshim_run):
    """The doubled text that _first_run takes apart is stock Toree's, never pyshim's."""
    if stock is not None:
        assert _text(stock[1])["stdout"] == 2 * SAVED[1]["stdout"]
    assert pyshim_run.results[1].stdout == SAVED[1]["stdout"]
    assert pyshim_run.results[4].stdout == SAVED[4]["stdout"]
    assert "Using cached version" not in pyshim_run.results[10].stdout


@pytest.fixture(scope="module")
def tutorial_cells(tmp_path_factory) -> list[str]:
    jar = tmp_path_factory.mktemp("addjar") / JAR_NAME
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("pyshim/addjar-probe.txt", "a jar for %AddJar, with no classes\n")
    return [code.replace("{jar_url}", jar.as_uri()) for code in TUTORIAL]


@pytest.fixture(scope="module")
def magics_kernel(tmp_path_factory):
    """pyshim's kernel for the same cells, started first: it boots while stock Toree runs them.
    Without progress displays, which stock Toree has not (and PYSHIM_PROGRESS=0 is checked here)."""
    driver = start_toree(tmp_path_factory.mktemp("toree-magics"), name="magics", wait=False, PYSHIM_PROGRESS="0",
                         SPARK_OPTS=TWO_CORES)
    yield driver
    pid = driver.pid
    driver.shutdown()
    assert wait_gone(pid), f"pyshim's Toree kernel {pid} still running after shutdown"


@pytest.fixture(scope="module")
def stock(magics_kernel, tutorial_cells, isolated_home, tmp_path_factory):
    """The tutorial's outputs in stock Toree 0.5; its kernel is stopped once they are read."""
    if not STOCK_TOREE:
        return None
    _stock_spec(Path(os.environ["JUPYTER_DATA_DIR"]))
    workdir = tmp_path_factory.mktemp("toree-stock")
    driver = KernelDriver(STOCK_KERNEL, cwd=workdir, log=workdir / "stock.log")
    pid = driver.pid
    try:
        outputs = _stock_outputs(driver, tutorial_cells)
    finally:
        driver.shutdown()
    assert wait_gone(pid), f"stock Toree kernel {pid} still running after shutdown"
    return outputs


class PyshimRun(NamedTuple):
    results: list[CellResult]  # the tutorial's cells
    ordered: CellResult  # kernel.out / println / Console.err / kernel.err in one cell
    long_job: CellResult  # a job of seconds, with PYSHIM_PROGRESS=0


@pytest.fixture(scope="module")
def pyshim_run(stock, magics_kernel, tutorial_cells):
    """The same cells in pyshim's kernel, read as nbclient does: up to each cell's idle."""
    driver = magics_kernel.wait_ready()
    results = [driver.run(code) for code in tutorial_cells]
    ordered = driver.run('kernel.out.println("one")\nprintln("two")\nkernel.out.println("three")\n'
                         'Console.err.println("four")\nkernel.err.println("five")')
    long_job = driver.run(SCALA_JOB)  # 400 tasks of 25 ms: seconds on two cores
    return PyshimRun(results, ordered, long_job)


@needs_stock
@pytest.mark.parametrize("index", range(len(TUTORIAL)), ids=[f"{i}-{c.splitlines()[-1][:30]}" for i, c in enumerate(TUTORIAL)])
def test_cell_shows_what_stock_toree_shows(stock, pyshim_run, index):
    results = pyshim_run.results
    result = results[index]
    assert result.status == "ok", result.error_text
    expected, got = _text(stock[index]), _text(result.outputs)
    expected["stdout"] = _first_run(TUTORIAL[index], expected["stdout"])
    if TUTORIAL[index] == "%LsMagic":  # pyshim adds its own magics after Toree's list
        assert got["stdout"].endswith(PYSHIM_LSMAGIC)
        got["stdout"] = got["stdout"][: -len(PYSHIM_LSMAGIC)]
    assert got == expected
    if "createOrReplaceTempView" not in TUTORIAL[index]:  # the one cell that shows nothing
        assert expected["stdout"] or expected["stderr"] or expected["rich"], "stock Toree showed nothing: wrong cell?"


def test_magic_text_comes_before_the_cells_value(pyshim_run):
    results = pyshim_run.results
    for result in results:
        kinds = [kind for kind, _ in result.outputs]
        if "stream" in kinds and "execute_result" in kinds:
            assert max(i for i, k in enumerate(kinds) if k == "stream") < kinds.index("execute_result"), kinds
        if "display_data" in kinds and "execute_result" in kinds:
            assert kinds.index("display_data") < kinds.index("execute_result"), (result.outputs, kinds)


@needs_stock
def test_lsmagic_lists_every_stock_magic_and_pyshims(stock, pyshim_run):
    stock_magics = set(re.findall(r"%%?\w+", _text(stock[0])["stdout"])) - {"%<magic_name>"}
    listed = set(re.findall(r"%%?\w+", pyshim_run.results[0].stdout))
    assert {"%truncation", "%showtypes", "%addjar", "%adddeps", "%%sql", "%%html", "%%dataframe"} <= stock_magics
    assert stock_magics <= listed
    assert {"%pyshim", "%register_model", "%load", "%%python"} <= listed


def test_kernel_out_and_err_keep_their_order_with_println(pyshim_run):
    ordered = pyshim_run.ordered
    assert ordered.ok().stdout == "one\ntwo\nthree\nfour\n"  # Toree's REPL writes Console.err to stdout
    assert ordered.stderr == "five\n"


def test_progress_off_shows_no_progress_display(pyshim_run):
    """PYSHIM_PROGRESS=0 in the kernel's environment: a job of seconds shows nothing of its own."""
    long_job = pyshim_run.long_job
    assert long_job.status == "ok", long_job.error_text
    assert long_job.outputs == []


# What Toree's own magic-tutorial.ipynb shows for the tutorial's cells (its saved outputs),
# each message once; Scala 2.13 renders a Range as `Range 1 to 200`.
SAVED = {
    1: {"stdout": "Truncation is currently on \n"},
    2: {"stdout": "Output will NOT be truncated\n", "value": "Range 1 to 200"},
    3: {"stdout": "Output WILL be truncated.\n", "value": "Range 1 to 200"},
    4: {"stdout": "ShowTypes is currently off \n"},
    5: {"value": "Hello types!"},
    6: {"stdout": "Types will be printed.\n", "value": "String = Hello types!"},
    7: {"value": "(Int, String) = (1,Hello types!)"},
    8: {"stdout": "Types will not be printed\n", "value": "Hello types!"},
    13: {"html": "<table><tr><th>key</th><th>value</th></tr>" + "".join(
        f"<tr><td>{i}</td><td>{i}</td></tr>" for i in range(1, 11)) + "</table>"},
    14: {"value": "key,value\n" + "\n".join(f"{i},{i}" for i in range(1, 11))},
    15: {"html": "<table><tr><th>key</th><th>value</th></tr>" + "".join(
        f"<tr><td>{i}</td><td>{i}</td></tr>" for i in range(1, 4)) + "</table>"},
    16: {"html": "<p>\nHello, <strong>Magics</strong>!\n</p>"},
    18: {"value": "+---+-----+\n|key|value|\n+---+-----+\n" + "".join(f"|{i:>3}|{i:>5}|\n" for i in range(6, 11))
         + "+---+-----+\n\n"},
    19: {"value": "+---+-----+\n|key|value|\n+---+-----+\n" + "".join(f"|{i:>3}|{i:>5}|\n" for i in range(4, 11))
         + "+---+-----+\n\n"},
    20: {"stdout": "to kernel.out\n", "stderr": "to kernel.err\n"},
}


@pytest.mark.parametrize("index", sorted(SAVED), ids=[f"{i}-{TUTORIAL[i].splitlines()[-1][:30]}" for i in sorted(SAVED)])
def test_cell_shows_what_torees_saved_tutorial_shows(pyshim_run, index):
    result = pyshim_run.results[index]
    assert result.status == "ok", result.error_text
    expected = SAVED[index]
    assert result.stdout == expected.get("stdout", "")
    assert result.stderr == expected.get("stderr", "")
    if "value" in expected:
        # Toree 0.5 ends a typed value (%ShowTypes on) with a newline, which a notebook does not show.
        value = (result.result_data or {}).get("text/plain", "")
        assert (value if expected["value"].endswith("\n") else value.removesuffix("\n")) == expected["value"]
    if "html" in expected:
        assert (result.result_data or {}).get("text/html") == expected["html"]


def test_usage_addjar_adddeps_lsmagic_and_definitions_as_toree_shows_them(pyshim_run, tutorial_cells):
    results = pyshim_run.results
    assert results[0].stdout.startswith("Available line magics:\n") and results[0].stdout.count("Available line magics") == 1
    assert {"%adddeps", "%addjar", "%lsmagic", "%truncation", "%showtypes"} <= set(results[0].stdout.split("\n")[1].split())
    assert results[0].stdout.endswith(PYSHIM_LSMAGIC)
    assert results[9].stdout.startswith("Usage: %AddJar <jar_url>\n")
    jar_url = tutorial_cells[10].split()[-1]
    assert results[10].ok().stdout == f"Starting download from {jar_url}\nFinished download of {JAR_NAME}\n"
    assert results[11].stdout.startswith("Usage: %AddDeps my.company artifact-id version\n")
    def displayed(result):
        return "".join(c["data"].get("text/plain", "") for kind, c in result.ok().outputs if kind == "display_data")

    assert "defined class DFRecord\n" in displayed(results[12]) and "df = [key: string, value: int]\n" in displayed(results[12])
    assert displayed(results[21]).startswith("answer = 42\n")
