"""Benchmark 3: the save hook, through a real jupyter_server's contents API.

Three servers, each with its own HOME / config / data / runtime folders, bound to
127.0.0.1, the token in the environment (JUPYTER_TOKEN), never in argv:

  off      pyshim_hooks disabled: a plain save
  on       pyshim_hooks enabled, the folder has the `.ipynb_saveprocess` marker
  classic  the classic recipe from Jupyter's docs: a post_save_hook that runs
           `jupyter nbconvert --to script` and `--to html` as subprocesses

The notebook is a 100-cell Toree Scala notebook with outputs (text, HTML tables, images).
Every save changes one cell, so "fresh" means: both review copies equal what an export of
that very save writes (computed beforehand, in this process, by pyshim_hooks' exporter).
Saves to `off` and `on` alternate; after each `on` save we poll the copies until fresh.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path

from harness import BenchError, Target, log, ratio, summary

VENV_BIN = Path(sys.executable).parent
NAME = "analysis.ipynb"
MARKER = ".ipynb_saveprocess"
SCALA_META = {
    "kernelspec": {"name": "pyshim-scala", "display_name": "Scala 2.12 · Spark 3.5 (Toree + pyshim)",
                   "language": "scala"},
    "language_info": {"name": "scala", "file_extension": ".scala", "mimetype": "text/x-scala",
                      "codemirror_mode": "text/x-scala"},
}
CLASSIC_HOOK = textwrap.dedent('''
    """The classic recipe from the Jupyter docs: convert on every save, in subprocesses."""
    import os
    from subprocess import check_call


    def post_save(model, os_path, contents_manager, **kwargs):
        if model["type"] != "notebook":
            return
        folder, name = os.path.split(os_path)
        check_call(["jupyter", "nbconvert", "--to", "script", name], cwd=folder)
        check_call(["jupyter", "nbconvert", "--to", "html", name], cwd=folder)
''')


# ---------------------------------------------------------------- the notebook


def _png(width: int = 120, height: int = 80) -> str:
    """A small gradient PNG, base64 (as an image output carries it)."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 2 % 256, y * 3 % 256, (x + y) % 256))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def notebook(cells: int = 100, save: int = 0) -> dict:
    """A Toree Scala notebook as JupyterLab sends it: markdown, code, text/HTML/image outputs."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    nb = new_notebook(metadata=SCALA_META)
    image = _png()
    for i in range(cells):
        if i % 4 == 0:
            nb.cells.append(new_markdown_cell(f"## Step {i // 4}\n\nWhat this part does, in a few words: "
                                              f"load, join, score and check the data (part {i})."))
            continue
        source = "\n".join([f"// cell {i}" + (f", save {save}" if i == 1 else ""),
                            f'val df{i} = spark.sql("SELECT a, b, c, wine(a, b, c) AS score FROM abc")',
                            f'df{i}.groupBy("a").count().orderBy("count").show(10)',
                            f'println(s"rows: ${{df{i}.count()}}")'])
        cell = new_code_cell(source, execution_count=i)
        cell.outputs.append(new_output("stream", name="stdout",
                                       text="".join(f"| {i:4d} | {j:6d} | {i * j / 7:12.4f} |\n" for j in range(8))))
        if i % 10 == 3:
            table = "".join(f"<tr><td>{j}</td><td>{j * i}</td></tr>" for j in range(10))
            cell.outputs.append(new_output("display_data", data={
                "text/html": f"<table><tr><th>k</th><th>v</th></tr>{table}</table>", "text/plain": "table"}))
        if i % 25 == 7:
            cell.outputs.append(new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"}))
        nb.cells.append(cell)
    return json.loads(nbformat.writes(nb))


def expected_copies(nb: dict, scratch: Path) -> dict[str, str]:
    """{file name: text} of the review copies pyshim_hooks writes for this notebook."""
    from pyshim_hooks.exporter import ExportOptions, planned_copies

    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / NAME
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    copies, problems = planned_copies(path, ExportOptions())
    if problems:
        raise BenchError(f"the exporter failed on the benchmark notebook: {problems}")
    return {target.name: text for target, text in copies.items()}


# ---------------------------------------------------------------- a jupyter server


class Server:
    def __init__(self, base: Path, config: dict, extension: bool, extra_env: dict | None = None):
        self.base, self.config, self.extension = base, config, extension
        self.extra_env = extra_env or {}
        self.root = base / "root"
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.session = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(HOME=str(self.base / "home"), JUPYTER_CONFIG_DIR=str(self.base / "config"),
                   JUPYTER_DATA_DIR=str(self.base / "data"), JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
                   IPYTHONDIR=str(self.base / "ipython"),
                   JUPYTER_TOKEN=self.token,  # the environment, never argv (ps shows argv)
                   PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        if self.extension:
            env["JUPYTER_CONFIG_PATH"] = str(self.base / "prefix" / "etc" / "jupyter")
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120) -> "Server":
        import requests
        from pyshim_hooks.install import install

        for name in ("home", "config", "data", "runtime", "root", "ipython"):
            (self.base / name).mkdir(parents=True, exist_ok=True)
        if self.extension:
            install(self.base / "prefix", None)
        (self.base / "config" / "jupyter_server_config.json").write_text(json.dumps(self.config), encoding="utf-8")
        command = [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
                   "--ServerApp.open_browser=False", f"--ServerApp.root_dir={self.root}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        log_file = open(self.base / "server.log", "wb")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(command, env=self.env(), stdout=log_file, stderr=subprocess.STDOUT,
                                        cwd=self.base)
        log_file.close()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"
        deadline = time.monotonic() + timeout
        runtime = self.base / "runtime" / f"jpserver-{self.process.pid}.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"jupyter server exited early:\n{self.log()[-3000:]}")
            try:
                port = json.loads(runtime.read_text())["port"]
                self.url = f"http://127.0.0.1:{port}"
                if self.session.get(f"{self.url}/api/status", timeout=5).ok:
                    return self
            except (OSError, ValueError, KeyError, requests.ConnectionError):
                pass
            time.sleep(0.1)
        raise BenchError(f"jupyter server did not answer in {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def folder(self, name: str, marker: bool = True) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        if marker:
            (path / MARKER).touch()
        return path

    def save(self, relative: str, nb: dict) -> float:
        """PUT the notebook as JupyterLab does; returns the seconds the request took."""
        body = json.dumps({"type": "notebook", "format": "json", "content": nb})
        t0 = time.perf_counter()
        response = self.session.put(f"{self.url}/api/contents/{relative}", data=body,
                                    headers={"Content-Type": "application/json"}, timeout=120)
        seconds = time.perf_counter() - t0
        if response.status_code not in (200, 201):
            raise BenchError(f"save failed: {response.status_code} {response.text[:500]}")
        return seconds

    def stop(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# ---------------------------------------------------------------- measurements


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _stamp(path: Path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def wait_fresh(review: Path, expected: dict[str, str], since: float, timeout: float = 30) -> float | None:
    """Seconds from `since` until every copy equals the expected text; None on timeout.

    Polls with stat() every 10 ms and reads a copy only when it changed, so that the
    polling takes (almost) no CPU from the server it is waiting for."""
    deadline = since + timeout
    seen: dict[str, tuple] = {}
    fresh: dict[str, bool] = {name: False for name in expected}
    while time.perf_counter() < deadline:
        for name, text in expected.items():
            stamp = _stamp(review / name)
            if stamp is not None and stamp != seen.get(name):
                seen[name] = stamp
                fresh[name] = _read(review / name) == text
        if all(fresh.values()):
            return time.perf_counter() - since
        time.sleep(0.01)
    return None


def classic_subprocesses(folder: Path, runs: int) -> list[float]:
    """The classic recipe alone: both `jupyter nbconvert` subprocesses, on the saved notebook."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for to in ("script", "html"):
            subprocess.run([str(VENV_BIN / "jupyter"), "nbconvert", "--to", to, NAME], cwd=folder, env=env,
                           check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def in_process_export(path: Path, runs: int) -> list[float]:
    """pyshim_hooks' export (script + HTML) of the same notebook, in this process."""
    from pyshim_hooks.exporter import ExportOptions, planned_copies

    planned_copies(path, ExportOptions())  # builds the HTML exporter once, as the hook's thread does
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        planned_copies(path, ExportOptions())
        times.append(time.perf_counter() - t0)
    return times


def run(workdir: Path, saves: int, classic_saves: int, cells: int = 100, warmup: int = 2,
        classic: bool = True) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=workdir))
    servers = {
        "off": Server(workdir / "server-off", {"ServerApp": {"jpserver_extensions": {"pyshim_hooks": False}}}, False),
        "on": Server(workdir / "server-on", {}, True),
    }
    if classic:
        hook_dir = workdir / "classic-hook"
        hook_dir.mkdir(parents=True, exist_ok=True)
        (hook_dir / "classic_save_hook.py").write_text(CLASSIC_HOOK, encoding="utf-8")
        servers["classic"] = Server(workdir / "server-classic", {
            "ServerApp": {"jpserver_extensions": {"pyshim_hooks": False}},
            "ContentsManager": {"post_save_hook": "classic_save_hook.post_save"}}, False,
            extra_env={"PYTHONPATH": str(hook_dir)})
    try:
        log(f"savehook: starting {len(servers)} jupyter servers")
        for server in servers.values():
            server.start()
        folders = {name: server.folder("nb") for name, server in servers.items()}
        relative = f"nb/{NAME}"
        review = folders["on"] / "_review"

        def expected_for(save: int) -> tuple[dict, dict[str, str]]:
            nb = notebook(cells, save)
            return nb, expected_copies(nb, scratch / str(save))

        plain, hooked, fresh = [], [], []
        total = warmup + saves
        log(f"savehook: {warmup} warm-up + {saves} saves to 'off' and 'on' ({cells} cells)")
        for i in range(total):
            nb, expected = expected_for(i)
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            for name in order:
                if name == "off":
                    seconds = servers["off"].save(relative, nb)
                    if i >= warmup:
                        plain.append(seconds)
                    continue
                t0 = time.perf_counter()
                seconds = servers["on"].save(relative, nb)
                ready = wait_fresh(review, expected, t0)
                if ready is None:
                    raise BenchError(f"review copies not fresh 30 s after save {i}; server log:\n"
                                     f"{servers['on'].log()[-3000:]}")
                if i >= warmup:
                    hooked.append(seconds)
                    fresh.append(ready)
            time.sleep(0.1)
        if (folders["off"] / "_review").exists():
            raise BenchError("the 'off' server wrote review copies: the extension was not disabled")

        result = {"cells": cells, "notebook_bytes": len(json.dumps(notebook(cells, 0), indent=1)),
                  "saves": saves, "plain_save": summary(plain), "hook_save": summary(hooked),
                  "copies_fresh": summary(fresh)}
        result["hook_vs_plain"] = ratio(result["hook_save"]["median"], result["plain_save"]["median"])
        result["hook_vs_plain_best"] = ratio(result["hook_save"]["best"], result["plain_save"]["best"])
        result["in_process_export"] = summary(in_process_export(scratch / "0" / NAME, max(3, min(saves, 10))))

        if classic:
            log(f"savehook: classic recipe, {classic_saves} saves (nbconvert subprocesses in the save)")
            classic_times = []
            for i in range(1 + classic_saves):
                nb = notebook(cells, 1000 + i)
                seconds = servers["classic"].save(relative, nb)
                script = _read(folders["classic"] / "analysis.scala") or ""
                if f"save {1000 + i}" not in script or not (folders["classic"] / "analysis.html").exists():
                    raise BenchError(f"the classic hook did not write fresh copies:\n{servers['classic'].log()[-3000:]}")
                if i > 0:
                    classic_times.append(seconds)
            result["classic_save"] = summary(classic_times)
            result["classic_vs_plain"] = ratio(result["classic_save"]["median"], result["plain_save"]["median"])
            result["classic_subprocesses"] = summary(classic_subprocesses(folders["classic"], max(1, classic_saves)))
        return result
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def targets(result: dict) -> list[Target]:
    return [
        Target("save hook: save latency, hook on / plain save", result["hook_vs_plain"], 1.2),
        Target("save hook: review copies fresh after a save", result["copies_fresh"]["median"], 2.0, "s"),
    ]
