"""The sidecar's lifecycle and the gateway's security, on a kernel of this module's own
(with the warm start off, so the sidecar starts on first use), and the warm start. The tests
that need a fresh kernel start their own; each also checks how its kernel's end takes the
sidecar along (a shutdown, a SIGKILL)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import TOREE_LINE_ONLY, start_toree
from kernel_driver import process_alive, wait_gone

pytestmark = [pytest.mark.toree, TOREE_LINE_ONLY]


@pytest.fixture(scope="module")
def kernel(isolated_home, mlflow_models):
    driver = start_toree(isolated_home / "toree-sidecar", name="sidecar", PYSHIM_WARM_START="0")
    yield driver
    driver.shutdown()


def _sidecar_pid(kernel) -> int:
    res = kernel.run("pyshim.Sidecar.pid").ok()
    assert res.text, res
    return int(res.text)


def _secret_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"PYSHIM_GATEWAY_SECRET=")]
    assert found, "the sidecar got no secret"
    return found[0]


def test_without_warm_start_a_scala_only_session_starts_no_python(kernel):
    kernel.run("spark.range(3).count").ok()
    assert kernel.run("pyshim.Sidecar.isAlive").ok().text == "false"
    assert "not started" in kernel.run("%pyshim").ok().stdout


def test_first_python_cell_starts_it_and_the_secret_stays_out_of_argv_and_logs(kernel):
    kernel.run("%%python\nprint(spark.version)").ok()
    pid = _sidecar_pid(kernel)
    assert process_alive(pid)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert [a.decode() for a in argv if a][1:] == ["-m", "pyshim.bridge.sidecar"]
    secret = _secret_of(pid)
    assert len(secret) >= 32
    assert secret not in kernel.log_text()
    assert secret not in kernel.run("println(pyshim.Sidecar.logTail(1000))").ok().stdout
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            assert secret.encode() not in (proc / "cmdline").read_bytes()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            pass
    assert kernel.run("%%python\nimport os\n'PYSHIM_GATEWAY_SECRET' in os.environ").ok().text == "False"


def test_the_gateway_listens_on_loopback_and_refuses_a_client_without_the_secret(kernel):
    from py4j.java_gateway import GatewayParameters, JavaGateway
    from py4j.protocol import Py4JError

    kernel.run("%%python\n1").ok()
    port = int(kernel.run("pyshim.Sidecar.gatewayPort").ok().text)
    listening = Path("/proc/net/tcp").read_text().lower()
    assert f"0100007f:{port:04x}" in listening, "the gateway must bind 127.0.0.1 only"
    for token in (None, "wrong-secret"):
        gateway = JavaGateway(gateway_parameters=GatewayParameters(port=port, auth_token=token))
        try:
            with pytest.raises(Py4JError):
                gateway.jvm.java.lang.System.getProperty("java.version")
        finally:
            gateway.close()
    kernel.run("%%python\nprint('still fine')").ok()


def test_a_killed_sidecar_is_restarted_by_the_next_model_call_with_its_models(kernel, mlflow_models):
    kernel.run(f"%register_model reg {mlflow_models.regressor_uri} --native off").ok()
    # Several rounds: a killed sidecar's last `take` could once steal its successor's
    # first request (the replayed registration) and the cell then waited forever.
    for _ in range(4):
        pid = _sidecar_pid(kernel)
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        result = kernel.run('spark.sql("SELECT reg(1.0, 0.0, 0.0)").first.getDouble(0) > 1.5', timeout=120).ok()
        assert "the Python sidecar had stopped (exit code 137); restarted it and re-registered reg." in result.stdout
        assert result.text == "true"
        assert _sidecar_pid(kernel) != pid


def test_a_killed_sidecar_is_restarted_by_the_next_python_cell(kernel):
    kernel.run("%%python\nremembered = 1").ok()
    pid = _sidecar_pid(kernel)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    result = kernel.run("%%python\nprint('back')").ok()
    assert result.stdout.splitlines()[0].startswith("pyshim: the Python sidecar had stopped")
    assert result.stdout.splitlines()[-1] == "back"


def test_warm_start_brings_up_the_sidecar_and_none_survives_the_kernel(isolated_home):
    """A fresh kernel with the warm start on (the default): the sidecar is up before any Python
    cell (Spark's Python workers are not: test_python_workers.py); when the kernel shuts down,
    its sidecar ends with it."""
    warm = start_toree(isolated_home / "toree-warm", name="warm")
    try:
        # Only Scala cells so far, and the sidecar is already up.
        assert warm.run("pyshim.Sidecar.isAlive").ok().text == "true"
        assert "running (pid" in warm.run("%pyshim").ok().stdout
        warm.run("%%python\n1").ok()
        sidecar = int(warm.run("pyshim.Sidecar.pid").ok().text)
    finally:
        pid = warm.pid
        warm.shutdown()
    assert wait_gone(pid)
    assert wait_gone(sidecar), "the sidecar outlived a kernel shutdown"


def test_ctrl_c_reaches_a_python_cell_when_the_server_ignores_sigint_and_a_killed_kernel_takes_its_sidecar(
        isolated_home):
    """A Jupyter server started in the background (`&`, CI) passes SIGINT on as ignored; the
    kernel's JVM would then install no handler and interrupts would do nothing. Then the
    kernel is killed (SIGKILL, no shutdown): its sidecar must not outlive it."""
    import threading

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what the kernel process inherits
    try:
        driver = start_toree(isolated_home / "toree-sigign", name="sigign")
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        ignored = [line.split()[1] for line in Path(f"/proc/{driver.pid}/status").read_text().splitlines()
                   if line.startswith("SigIgn:")][0]
        assert not int(ignored, 16) & (1 << (signal.SIGINT - 1)), "the kernel's JVM ignores SIGINT"
        driver.run("%%python\nprint('up')").ok()
        timer = threading.Timer(4.0, driver.interrupt)
        timer.start()
        started = time.monotonic()
        result = driver.run("%%python\nimport time\nfor i in range(120):\n    time.sleep(0.5)\nprint('finished')", timeout=120)
        timer.cancel()
        assert time.monotonic() - started < 30 and "finished" not in result.stdout
        assert "KeyboardInterrupt" in result.error_text, result.error_text

        sidecar = int(driver.run("pyshim.Sidecar.pid").ok().text)
        assert process_alive(sidecar)
        os.kill(driver.pid, signal.SIGKILL)
        assert wait_gone(sidecar, timeout=15), "the sidecar outlived a killed kernel"
    finally:
        pid = driver.pid
        driver.shutdown()
    assert wait_gone(pid)
