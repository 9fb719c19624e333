"""`make serve` (`python -m pyshim.tools.serve`): the model the notebooks score in batch, over REST.

MLflow's own scoring server (`mlflow models serve`, uvicorn) on 127.0.0.1, so the model the
Scala notebook scores with Spark also answers `POST /invocations`, with no re-engineering:

    make serve                                   # the demo's champion on http://127.0.0.1:5001
    MODEL=models:/wine_classifier/3 PYSHIM_SERVE_PORT=5002 make serve
    python -m pyshim.tools.serve --print         # the command it runs, and its environment

Settings: `MODEL` (default models:/wine_classifier@champion), `PYSHIM_SERVE_PORT` (default
5001), `MLFLOW_TRACKING_URI` (default the embedded store of pyshim/defaults.py). The server
finds the environment's own uvicorn whatever the user's PATH. Ctrl-C stops it and
everything it started.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import defaults, paths, settings
from ..errors import PyshimError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = int(settings.default("PYSHIM_SERVE_PORT"))
DEFAULT_MODEL = settings.default("MODEL")  # the demo's champion
READY_TIMEOUT = 300  # seconds: the CLI downloads the model, uvicorn imports mlflow and loads it


class ServeError(PyshimError):
    """The server cannot start: the message names the setting or the command that fixes it."""


# --- settings and command ----------------------------------------------------------------

def model_uri(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("MODEL") or DEFAULT_MODEL


def port(env: dict[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    text = env.get("PYSHIM_SERVE_PORT") or str(DEFAULT_PORT)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ServeError(f"PYSHIM_SERVE_PORT={text!r} is not a port; set it to a number from 1 to 65535")
    return int(text)


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the embedded defaults where unset, this environment's bin first on PATH."""
    return paths.with_environment_path(defaults.environment(base))


def command(model: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
            "--host", LOOPBACK, "--port", str(port)]


def printable(cmd: list[str], env: dict[str, str]) -> str:
    """The command as a shell line, with the settings it depends on."""
    settings = [f"{name}={shlex.quote(env[name])}" for name in ("MLFLOW_TRACKING_URI", "PATH")]
    return " ".join([*settings, *map(shlex.quote, cmd)])


# --- the model ---------------------------------------------------------------------------

def check_model(model: str, tracking_uri: str) -> str:
    """'wine_classifier version 3' (or the URI) when the store has the model, else ServeError.

    A missing local store is not created here: that would leave an empty database behind.
    """
    demo_hint = "run `make demo` first (it trains wine_classifier and gives it the alias champion)"
    db = defaults.sqlite_path(tracking_uri)
    if db is not None and not db.exists():
        if model == DEFAULT_MODEL:
            raise ServeError(f"the demo has not run yet (no MLflow store at {db}): {demo_hint}")
        raise ServeError(f"no MLflow store at {db}: set MLFLOW_TRACKING_URI to the store that has {model}")
    if not model.startswith("models:/"):
        return model
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    name, _, ref = model[len("models:/"):].partition("@")
    try:
        if ref:
            version = client.get_model_version_by_alias(name, ref).version
        elif "/" in name and not name.startswith("m-"):
            name, version = name.rsplit("/", 1)
            client.get_model_version(name, version)
        else:
            return model
    except Exception as err:  # RESOURCE_DOES_NOT_EXIST, or an unreachable tracking server
        if model == DEFAULT_MODEL:
            raise ServeError(f"the demo has not run yet ({model} is not in {tracking_uri}): {demo_hint}") from None
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ServeError(f"cannot serve {model} from {tracking_uri}: {reason}. Set MODEL=models:/<name>@<alias> "
                         "(or models:/<name>/<version>) to a registered model, and MLFLOW_TRACKING_URI "
                         "to its store") from None
    return f"{name} version {version}"


def example_request(model: str, url: str) -> str:
    """A curl command with one row of the model's input example (else its signature's columns)."""
    columns, row = _example_row(model)
    body = json.dumps({"dataframe_split": {"columns": columns, "data": [row]}})
    return f"curl -s {url}/invocations -H 'Content-Type: application/json' -d '{body}'"


def _example_row(model: str) -> tuple[list[str], list]:
    """The first row of the model's input example; else its signature's columns with zeros."""
    import mlflow
    from mlflow.models import get_model_info

    try:
        info = get_model_info(model)
    except Exception:  # an example is a courtesy: never a reason not to serve
        return ["x"], [0.0]
    example = info.saved_input_example_info or {}
    try:
        if example.get("type") == "dataframe" and example.get("artifact_path"):
            local = mlflow.artifacts.download_artifacts(f"{model.rstrip('/')}/{example['artifact_path']}")
            data = json.loads(Path(local).read_text())
            data = data.get("dataframe_split", data)
            if data.get("columns") and data.get("data"):
                return list(data["columns"]), list(data["data"][0])
    except Exception:  # e.g. models:/m-<id> URIs take no sub-path
        pass
    names = info.signature.inputs.input_names() if info.signature else ["x"]
    return names, [0.0] * len(names)


# --- running -----------------------------------------------------------------------------

def check_port(port: int) -> None:
    """A port already in use fails now, in one line: else uvicorn would fail after the model
    load, or another server on the port would answer our readiness check."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            raise ServeError(f"port {port} on {LOOPBACK} is in use (another `make serve`?); "
                             "stop that, or set PYSHIM_SERVE_PORT to a free port") from None


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:  # noqa: S310 - loopback URL we built
            return resp.status == 200
    except (OSError, ValueError):
        return False


def start(model: str, port: int, env: dict[str, str], **popen):
    """`mlflow models serve` in a process group of its own (its uvicorn included), so that
    stopping it ends everything it started; returns cluster.Daemon (`.stop()`)."""
    from .cluster import Daemon

    proc = subprocess.Popen(command(model, port), env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True, **popen)
    return Daemon("mlflow models serve", proc.pid, "", "mlflow", proc)


def wait_ready(url: str, server, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready(url):
        code = server.proc.poll()
        if code is not None:
            raise ServeError(f"`mlflow models serve` exited with code {code} before answering on {url} "
                             "(its output is above)")
        if time.monotonic() > deadline:
            raise ServeError(f"{url}/ping did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def serve(model: str, port: int, env: dict[str, str]) -> int:
    url = f"http://{LOOPBACK}:{port}"
    check_port(port)
    described = check_model(model, env["MLFLOW_TRACKING_URI"])
    print(f"pyshim serve: starting MLflow's scoring server for {model} ({described}) from "
          f"{env['MLFLOW_TRACKING_URI']}", flush=True)
    # Ctrl-C reaches only this process (the server has its own session), also when started
    # in the background with SIGINT ignored; `kill` acts the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = start(model, port, env)
    try:
        wait_ready(url, server)
        print(f"\npyshim serve: {model} answers at {url}/invocations (Ctrl-C stops it). Try:\n"
              f"  {example_request(model, url)}\n", flush=True)
        code = server.proc.wait()
        print(f"pyshim serve: the server stopped with exit code {code}", file=sys.stderr)
        return code or 1
    except KeyboardInterrupt:
        print("\npyshim serve: stopping", flush=True)
        return 0
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyshim.tools.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print", action="store_true", dest="show",
                        help="print the command and its settings instead of running it")
    args = parser.parse_args(argv)
    try:
        env = environment()
        model, number = model_uri(env), port(env)
        if args.show:
            print(printable(command(model, number), env))
            return 0
        return serve(model, number, env)
    except ServeError as err:
        print(f"pyshim serve: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the server started
        return 130


if __name__ == "__main__":
    sys.exit(main())
