"""No lost output: every line a cell prints is in the executed notebook, also on a busy machine.

nbclient (as `make demo` runs notebooks) stops reading a cell's output at its idle status;
Toree relayed text on a timer that the reply could overtake, and sends a cell's value
after its reply. With both cores busy, the shared kernel runs 30 Scala cells and 30
%%python cells of 2,000 numbered lines each, and 30 cells that end with a value.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from pyshim import paths

pytestmark = pytest.mark.toree

CELLS, LINES = 30, 2000


@pytest.fixture
def cpu_burner():
    """A busy loop per core, always stopped."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()


def _run_through_nbclient(toree, sources: list[str]):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return toree.execute_notebook(nb)


def _missing_lines(nb, tag: str) -> dict[int, int]:
    missing = {}
    for c, cell in enumerate(nb.cells):
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        got = set(text.splitlines())
        lost = sum(1 for i in range(1, LINES + 1) if f"{tag}{c} line {i}" not in got)
        if lost:
            missing[c] = (lost, [o.get("output_type") for o in cell.outputs], text[-200:])
    return missing


def test_every_line_of_scala_cells_arrives_under_load(toree, cpu_burner):
    sources = [f'for (i <- 1 to {LINES}) println(s"s{c} line $i")' for c in range(CELLS)]
    nb = _run_through_nbclient(toree, sources)
    assert _missing_lines(nb, "s") == {}


def test_every_line_of_python_cells_arrives_under_load(toree, cpu_burner):
    sources = [f'%%python\nfor i in range(1, {LINES + 1}):\n    print(f"p{c} line {{i}}")' for c in range(CELLS)]
    nb = _run_through_nbclient(toree, sources)
    assert _missing_lines(nb, "p") == {}


def test_every_cell_value_arrives_before_idle_with_the_cells_count(toree, cpu_burner):
    # Toree sends a cell's value after its reply, through an actor that races the idle
    # status's; pyshim's interpreter sends it before the reply instead.
    sources = []
    for c in range(CELLS):
        sources.append(f'println("s{c}")\n{c} * 1000 + 7' if c % 2 == 0 else f'%%python\nprint("p{c}")\n{c} * 1000 + 7')
    nb = _run_through_nbclient(toree, sources)
    if paths.scala_kernel() == "toree":  # every message went straight to the IOPub socket (signed), none through Toree's relay
        assert toree.run("org.apache.toree.kernel.api.pyshim.IOPub.isDirect").ok().text == "true"
    first = None
    for c, cell in enumerate(nb.cells):
        results = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
        assert [r["data"].get("text/plain") for r in results] == [str(c * 1000 + 7)], (c, cell.outputs)
        # Toree numbers a client session's cells from 1 (as nbclient numbers the notebook's);
        # ipykernel (pyshim's own Scala kernel) numbers the kernel's cells, one more per cell.
        first = results[0]["execution_count"] - c if first is None else first
        expected = cell.execution_count if paths.scala_kernel() == "toree" else first + c
        assert results[0]["execution_count"] == expected, (c, cell.outputs)
        streams = [o for o in cell.outputs if o.get("output_type") == "stream"]
        assert cell.outputs.index(streams[0]) < cell.outputs.index(results[0]), "the value came before the text"
