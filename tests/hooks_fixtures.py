"""Helpers for the pyshim_hooks tests: notebooks, a real jupyter_server, polling.

Imported by tests/test_hooks_*.py (tests/conftest.py belongs to the lead).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import requests
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from pyshim_hooks.install import install

VENV_BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 60.0
COPY_TIMEOUT = 10.0

PYTHON_META = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"},
}
SCALA_META = {
    "kernelspec": {"name": "apache_toree_scala", "display_name": "Apache Toree - Scala",
                   "language": "scala"},
    "language_info": {"name": "scala", "file_extension": ".scala",
                      "mimetype": "text/x-scala", "codemirror_mode": "text/x-scala"},
}
SCRIPT_PAYLOAD = "<script>window.pyshimPwned = 1</script>"


def python_notebook(code: str = "print('hello')", output: str = "hello from output") -> dict:
    """A Python notebook (as the JSON dict JupyterLab sends) with one markdown and one code cell."""
    nb = new_notebook(metadata=PYTHON_META)
    nb.cells.append(new_markdown_cell("# A title\n\nSome words."))
    cell = new_code_cell(code, execution_count=1)
    cell.outputs.append(new_output("stream", name="stdout", text=output + "\n"))
    nb.cells.append(cell)
    return json.loads(nbformat.writes(nb))


def scala_notebook(code: str = 'val answer = 42\nprintln(s"answer=$answer")') -> dict:
    """A Toree Scala notebook, with the metadata Toree writes."""
    nb = new_notebook(metadata=SCALA_META)
    nb.cells.append(new_code_cell(code, execution_count=1))
    nb.cells[0].outputs.append(new_output("stream", name="stdout", text="answer=42\n"))
    return json.loads(nbformat.writes(nb))


def notebook_with_html_output(html: str) -> dict:
    nb = python_notebook()
    output = new_output("display_data", data={"text/html": html, "text/plain": "<fallback>"})
    nb["cells"][1]["outputs"].append(json.loads(json.dumps(output)))
    return nb


def notebook_with_missing_attachment() -> dict:
    """Valid for nbformat (saves fine) but nbconvert's HTML export raises on it."""
    nb = python_notebook()
    nb["cells"][0]["source"] = "![chart](attachment:nowhere.png)"
    return nb


def write_notebook(path: Path, nb: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def wait_for(condition: Callable[[], Any], timeout: float = COPY_TIMEOUT, what: str = "") -> Any:
    """Poll ``condition`` until truthy (bounded), as a user watching the folder would."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.05)


def read_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def files_below(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


class JupyterServer:
    """A real `jupyter server` subprocess with isolated config/data/runtime dirs."""

    def __init__(
        self, base: Path, server_config: dict | None = None, extra_env: dict | None = None,
        base_env: dict | None = None,
    ):
        self.base = base
        self._base_env = base_env  # the environment to start from (default: os.environ when started)
        self._extra_env = extra_env or {}
        self.root = base / "root"
        self.log_path = base / "server.log"
        self.token = secrets.token_hex(16)
        self.url = ""
        self.process: subprocess.Popen | None = None
        self._server_config = server_config or {}
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    def env(self) -> dict[str, str]:
        base = self.base
        env = {key: value for key, value in (self._base_env or os.environ).items() if not key.startswith("JUPYTER")}
        env.update(
            HOME=str(base / "home"),
            JUPYTER_CONFIG_DIR=str(base / "config"),
            JUPYTER_DATA_DIR=str(base / "data"),
            JUPYTER_RUNTIME_DIR=str(base / "runtime"),
            # Where install(prefix=base/prefix) put the extension's drop-in file.
            JUPYTER_CONFIG_PATH=str(base / "prefix" / "etc" / "jupyter"),
            IPYTHONDIR=str(base / "ipython"),
            # The secret goes through the environment, never argv (visible in ps).
            JUPYTER_TOKEN=self.token,
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        env.update(self._extra_env)
        return env

    def start(self) -> None:
        for name in ("home", "config", "data", "runtime", "root"):
            (self.base / name).mkdir(parents=True, exist_ok=True)
        install(prefix=self.base / "prefix", repo=None)
        if self._server_config:
            (self.base / "config" / "jupyter_server_config.json").write_text(
                json.dumps(self._server_config), encoding="utf-8"
            )
        command = [
            sys.executable, "-m", "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port=0",  # the OS picks a free port; we read it back below
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.root}",
            "--allow-root",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed by the process's exit
        self.process = subprocess.Popen(
            command, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.base
        )
        log.close()
        self.url = wait_for(self._read_url, SERVER_START_TIMEOUT, "jupyter server runtime file")
        wait_for(self._status_ok, SERVER_START_TIMEOUT, "GET /api/status")

    def _read_url(self) -> str:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"jupyter server exited early:\n{self.log()}")
        runtime = self.base / "runtime" / f"jpserver-{self.process.pid}.json"
        try:
            info = json.loads(runtime.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        return f"http://127.0.0.1:{info['port']}"

    def _status_ok(self) -> bool:
        try:
            return self.session.get(f"{self.url}/api/status", timeout=2).ok
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.session.close()

    def log(self) -> str:
        return read_or_empty(self.log_path)

    def save(self, relative: str, nb: dict) -> requests.Response:
        """Save a notebook as JupyterLab does: PUT /api/contents/<path>."""
        body = {"type": "notebook", "format": "json", "content": nb}
        return self.session.put(f"{self.url}/api/contents/{relative}", json=body, timeout=30)

    def mkdir(self, relative: str, marker: str | None = ".ipynb_saveprocess") -> Path:
        folder = self.root / relative
        folder.mkdir(parents=True, exist_ok=True)
        if marker:
            (folder / marker).touch()
        return folder


@contextmanager
def running_server(
    base: Path, server_config: dict | None = None, extra_env: dict | None = None
) -> Iterator[JupyterServer]:
    server = JupyterServer(base, server_config, extra_env)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- notebooks as found in the wild
# Each is JSON as it sits on disk; the review copies must come out of every one of them.


def v3_notebook() -> dict:
    """An nbformat v3 Python notebook (worksheets, prompt numbers), as IPython 2 wrote it."""
    return {
        "nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
        "worksheets": [{"metadata": {}, "cells": [
            {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Old notebook"]},
            {"cell_type": "code", "language": "python", "collapsed": False, "metadata": {},
             "input": ["%matplotlib inline\n", "total = sum(range(10))\n", "print(total)"],
             "prompt_number": 3,
             "outputs": [{"output_type": "stream", "stream": "stdout", "text": ["45\n"]}]},
        ]}],
    }


def v2_notebook() -> dict:
    """An nbformat v2 notebook (IPython 0.12)."""
    return {
        "nbformat": 2, "metadata": {"name": "older"},
        "worksheets": [{"cells": [
            {"cell_type": "code", "language": "python", "collapsed": False,
             "input": "squares = [n * n for n in range(4)]\nsquares", "prompt_number": 1,
             "outputs": [{"output_type": "pyout", "prompt_number": 1, "text": "[0, 1, 4, 9]"}]},
        ]}],
    }


def invalid_metadata_notebook() -> dict:
    """Schema-invalid metadata that Jupyter still opens: a string kernelspec and language_info."""
    nb = python_notebook("values = [1, 2, 3]\nprint(len(values))")
    nb["metadata"] = {"kernelspec": "python3", "language_info": "python"}
    return nb


def no_language_notebook() -> dict:
    """No kernelspec, no language_info: Python is assumed."""
    nb = python_notebook("import os\nprint(os.sep)")
    nb["metadata"] = {}
    return nb


def unknown_cell_type_notebook() -> dict:
    """A cell of a type a future nbformat might bring."""
    nb = python_notebook("x = 1")
    nb["cells"].insert(1, {"cell_type": "hologram", "id": "future-1", "metadata": {},
                           "source": "a cell from the future\nwith two lines"})
    return nb


def toree_notebook() -> dict:
    """A Toree Scala notebook with line magics and cells in SQL and Python."""
    nb = new_notebook(metadata=SCALA_META)
    nb.cells += [
        # A Windows path: Scala 2.12 reads "\\u" as a unicode escape, even in a comment.
        new_markdown_cell("# Scoring\nModels from *MLflow*, called from Scala. "
                          "Data in `C:\\users\\spark`."),
        new_code_cell("%AddDeps org.apache.commons commons-math3 3.6.1 --transitive\n"
                      "%load setup\nimport org.apache.spark.sql.functions._", execution_count=1),
        new_code_cell('val df = spark.range(10).toDF("n")\ndf.createOrReplaceTempView("numbers")',
                      execution_count=2),
        new_code_cell("%%sql\nSELECT n, n * n AS square -- the /* is not a comment here\n"
                      "FROM numbers WHERE n > 3", execution_count=3),
        new_code_cell('%%python\nimport json\n\ndef double(x):\n    """Twice x."""\n'
                      '    return {"x": x * 2}  # } ) braces that Scala would choke on\n'
                      "print(json.dumps(double(21)))", execution_count=4),
        new_code_cell("%%PySpark\nrows = spark.sql('SELECT 1').collect()\nprint(rows)",
                      execution_count=5),
        new_code_cell('%%SQL --limit 2\nSELECT "quoted", \'single\' FROM numbers', execution_count=6),
        new_code_cell('%%dataframe\ndf.filter($"n" > 5)', execution_count=7),
        new_code_cell('case class Point(x: Int, y: Int)\nval p = Point(1, 2)\nprintln(s"p=$p")',
                      execution_count=8),
    ]
    nb.cells[2].outputs.append(new_output("stream", name="stdout", text="df: DataFrame\n"))
    return json.loads(nbformat.writes(nb))


def toree_notebook_old_kernel() -> dict:
    """A Toree notebook as older Toree releases wrote it: kernelspec only, cells with %%html."""
    nb = toree_notebook()
    nb["metadata"] = {"kernelspec": {"name": "apache_toree_scala", "display_name": "Toree"}}
    nb["cells"].append(json.loads(json.dumps(new_code_cell('%%html\n<b>bold</b> "quote" \\u00e9'))))
    return nb


def python_magics_notebook() -> dict:
    """A Python notebook with %run, shell escapes and cells in other languages."""
    nb = new_notebook(metadata=PYTHON_META)
    nb.cells += [
        new_code_cell("%run -i snippets/setup.py\n%matplotlib inline\nimport pandas as pd"),
        new_code_cell("!pip list | grep pandas\nfiles = !ls\nprint(files)"),
        new_code_cell("%%bash\nfor f in *.csv; do\n  wc -l \"$f\"\ndone"),
        new_code_cell("%%html\n<div class='note'>Hello <i>HTML</i></div>"),
        new_code_cell("%%R\nx <- c(1, 2, 3)\nsummary(x)"),
        new_code_cell("%%writefile snippets/extra.py\ndef broken(:\n    pass"),
        new_code_cell("%%time\ntotal = sum(range(1000))"),
        new_code_cell("pd.DataFrame?\ndf = pd.DataFrame({'a': [1]})\ndf"),
    ]
    return json.loads(nbformat.writes(nb))


def interactive_outputs_notebook() -> dict:
    """Outputs that a static page cannot show: plotly, a widget, an iframe, vega."""
    nb = python_notebook("fig.show()")
    outputs = nb["cells"][1]["outputs"]
    outputs += [
        {"output_type": "display_data", "metadata": {},
         "data": {"application/vnd.plotly.v1+json": {"data": [], "layout": {}},
                  "text/html": "<div id='plot'></div><script>Plotly.newPlot('plot')</script>"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/vnd.jupyter.widget-view+json":
                  {"model_id": "abc", "version_major": 2, "version_minor": 0},
                  "text/plain": "IntSlider(value=3)"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": "<iframe src='https://example.invalid/map'></iframe>"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/vnd.vegalite.v5+json": {"mark": "bar"}}},
    ]
    return nb


# name -> (notebook JSON, the script copy's extension)
WILD_NOTEBOOKS: dict[str, tuple[Callable[[], dict], str]] = {
    "v3": (v3_notebook, ".py"),
    "v2": (v2_notebook, ".py"),
    "invalid_metadata": (invalid_metadata_notebook, ".py"),
    "no_language": (no_language_notebook, ".py"),
    "missing_attachment": (notebook_with_missing_attachment, ".py"),
    "unknown_cell_type": (unknown_cell_type_notebook, ".py"),
    "toree": (toree_notebook, ".scala"),
    "toree_old_kernel": (toree_notebook_old_kernel, ".scala"),
    "python_magics": (python_magics_notebook, ".py"),
    "interactive_outputs": (interactive_outputs_notebook, ".py"),
}
