"""One JupyterLab server with one Toree kernel, for the browser tests that only run cells.

conftest's session fixture `lab` starts it in the background when the session starts (the
kernel boots while other tests run). A test writes its own notebook and opens it in a Lab
session of that kernel (`LabKernel.open`), as a user reopening a notebook whose kernel still
runs; tests that restart or stop a kernel start a server of their own (hooks_fixtures.running_server).

    def test_in_lab(lab, browser_page):
        lab.open(browser_page, notebook, "my_test.ipynb")  # a name no other test uses
"""
from __future__ import annotations

from pathlib import Path

from hooks_fixtures import JupyterServer, wait_for

SCALA_KERNEL = "pyshim-scala"
KERNEL_START_TIMEOUT = 300  # a bound for a Toree start on a busy 2-core machine, not a speed target


def kernels_idle(server: JupyterServer) -> bool:
    """Every kernel of SERVER (at least one) has said it is idle."""
    kernels = server.session.get(f"{server.url}/api/kernels", timeout=10).json()
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def scala_notebook(*cells: str):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": SCALA_KERNEL, "language": "scala",
                                                           "display_name": "Scala (Toree + pyshim)"}})
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    return nb


class LabKernel:
    def __init__(self, base: Path, env: dict | None = None):
        """A server in BASE started from ENV (default: os.environ; a caller starting it in a
        thread passes a copy of its own, not whichever test's runs meanwhile)."""
        self.server = JupyterServer(base, base_env=env)
        self.server.start()
        try:
            reply = self.server.session.post(f"{self.server.url}/api/kernels", json={"name": SCALA_KERNEL},
                                             timeout=KERNEL_START_TIMEOUT)
            reply.raise_for_status()
            self.kernel_id = reply.json()["id"]
        except BaseException:
            self.server.stop()
            raise

    @property
    def url(self) -> str:
        return self.server.url

    @staticmethod
    def run_all(page):
        """Run > Run All Cells, as a user does; the notebook's output areas, to wait on."""
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        return page.locator(".jp-Notebook .jp-OutputArea-output")

    def open(self, page, nb, name: str) -> None:
        """Write NB as NAME, give it a session of the shared kernel, open it in Lab and wait until
        the kernel has started (JupyterLab loses a run asked for before a new kernel is idle)."""
        import nbformat

        nbformat.write(nb, self.server.root / name)
        session = {"path": name, "name": name, "type": "notebook", "kernel": {"id": self.kernel_id}}
        self.server.session.post(f"{self.url}/api/sessions", json=session, timeout=60).raise_for_status()
        # A workspace of its own: Lab would otherwise restore the notebooks that earlier tests
        # opened, behind this one (and `.jp-Notebook .jp-Cell` would find theirs first).
        workspace = Path(name).stem
        page.goto(f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.server.token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=KERNEL_START_TIMEOUT * 1000)
        # Lab keeps what it is asked to run until its connection to the kernel is up; the
        # kernel itself must have started (its status stays "Unknown" in Lab's status bar
        # until a cell runs: Toree reports no status for the kernel_info of a new connection).
        wait_for(lambda: kernels_idle(self.server), KERNEL_START_TIMEOUT, "the shared Toree kernel of JupyterLab")

    def close(self) -> None:
        try:
            self.server.session.delete(f"{self.url}/api/kernels/{self.kernel_id}", timeout=60)
        finally:
            self.server.stop()
