"""The benchmark code must not rot: a fast run of its pieces, without a Toree kernel.

The throughput, growth and cold-start aggregation runs against a fake kernel that answers
every timed cell with a made-up figure; the report is rendered and written from that; the
cell code sent to the kernel's sidecar is compiled; the save-hook benchmark runs for real
on a tiny notebook (two jupyter servers), the REST benchmark with a few calls to a real
`mlflow models serve`. No timing is asserted anywhere.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import coldstart  # noqa: E402
import growth  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
import rest  # noqa: E402
import spark_lines  # noqa: E402
import throughput  # noqa: E402

CALL = re.compile(r'(?:benchRun|bench_udf|_bench)\("([^"]+)", (\d+), "([^"]+)"')


class FakeKernel:
    """Answers cells as the Toree kernel would, with made-up seconds."""

    pid = -1

    def __init__(self):
        self.cells: list[str] = []
        self.calls = 0

    def run(self, code: str, timeout: float = 0):
        self.cells.append(code)
        return type("Result", (), {"stdout": "", "text": "", "status": "ok"})()

    def python(self, code: str, timeout: float = 0):
        return self.run("%%python\n" + code)

    def measure(self, code: str, python: bool = False, timeout: float = 0) -> list[dict]:
        self.cells.append(code)
        found = CALL.search(code)
        if not found:
            return [{"ui": "", "app": "", "fix_present": True}]
        self.calls += 1
        variant, parts, rep = found.group(1), int(found.group(2)), found.group(3)
        return [{"variant": variant, "partitions": parts, "rep": rep, "seconds": 0.5 + 0.01 * (self.calls % 7)}]


def fake_start(index: int) -> dict:
    phases = {"kernel_ready": 9.0 + index, "jvm_and_spark": 11.0 + index, "sidecar_attach": 2.0,
              "model_load": 3.0, "first_batch": 6.0, "same_query_warm": 0.4}
    phases["total"] = sum(phases[p] for p in coldstart.PHASES)
    cpu = {p: phases[p] / 2 for p in coldstart.PHASES}
    cpu["total"] = sum(cpu.values())
    return {**phases, "cpu_seconds": cpu, "load_average": [1.0, 1.0, 1.0], "result": "1.0",
            "jar_rebuilt_before": False}


@pytest.fixture(scope="module")
def results(tmp_path_factory, monkeypatch_module):
    kernel = FakeKernel()
    tp = throughput.run(kernel, "models:/bench_model/1", 1000, [2, 4], runs=2)
    tp["after_idle"] = throughput.after_idle(kernel, 2, samples=1, wait=0)
    gr = growth.run(kernel, [100, 200, 400], runs=2)
    starts = iter(range(10))
    monkeypatch_module.setattr(coldstart, "one_start", lambda *a, **k: fake_start(next(starts)))
    monkeypatch_module.setattr(coldstart, "probes", lambda *a, **k: {
        "worker_imports": {"mlflow.pyfunc": 2.0}, "sidecar_imports": {"mlflow (first %register_model)": 2.5}})
    cs = coldstart.run(tmp_path_factory.mktemp("cold"), "models:/bench_model/1", starts=2)
    targets = throughput.targets(tp) + growth.targets(gr) + coldstart.targets(cs)
    targets.append(harness.Target("made up, to see a miss", 2.0, 1.0))
    meta = {"started": "now", "finished": "later", "seconds": 1.0, "quick": True, "load_average_end": [1.0],
            "machine": harness.machine()}
    return {"meta": meta, "throughput": tp, "growth": gr, "coldstart": cs, "kernel_cells": kernel.cells,
            "targets": [t.as_dict() for t in targets], "notes": [], "errors": {}}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_throughput_aggregates_every_variant(results):
    tp = results["throughput"]
    for parts in ("2", "4"):
        block = tp["results"][parts]
        assert set(block) == {*throughput.VARIANTS, "predict_floor"}
        assert all(len(block[v]["runs"]) == 2 * throughput.SHORT_REPEATS for v in throughput.VARIANTS)
        assert len(block["predict_floor"]["runs"]) == 2
        assert block["spark_udf"]["vs_spark_udf"] == 1.0
    # Warm-up first, then interleaved rounds: every variant ran once per round and partition count.
    assert any('"warmup"' in c for c in results["kernel_cells"])


def test_report_renders_tables_and_verdicts(results, tmp_path):
    text = report.render(results)
    for heading in ("## Targets", "## 1. Model UDF throughput", "## 2. Cold start", "## 4. Growth", "## Notes"):
        assert heading in text
    assert "**MISS**" in text and "Missed: made up, to see a miss" in text
    assert "mlflow.pyfunc.spark_udf" in text and "seconds per million rows" in text
    assert "After a pause" in text

    md, js = report.write(results, tmp_path / "out")
    assert json.loads(js.read_text())["growth"]["sizes"][0]["rows"] == 100
    assert md.read_text() == text


def test_sidecar_cells_are_valid_python():
    compile(throughput.python_setup("models:/bench_model/1", 1000), "<setup>", "exec")
    for variant in ("spark_udf", "identity_udf", "identity_udf_fixed", "predict_floor"):
        compile(throughput.python_run(variant, 2, "run0"), "<run>", "exec")
    scala = throughput.scala_setup(1000, [2, 64])
    assert 'benchTable("abc_64", 1000L, 64)' in scala
    assert "bench_model(a, b, c)" in throughput.scala_run("scala_model", 64, "run0")


def test_pyspy_output_is_classified(tmp_path):
    raw = tmp_path / "raw.txt"
    worker = "<module> (daemon.py:218);manager (daemon.py:193);worker (daemon.py:74);main (worker.py:1194)"
    raw.write_text(f"{worker};invalidate_caches (<frozen importlib._bootstrap_external>:1403) 90\n"
                   f"{worker};dump_stream (pyspark/sql/pandas/serializers.py:470) 10\n"
                   "<module> (daemon.py:218);manager (daemon.py:204) 500\n")
    profile = harness.classify_pyspy(raw)
    assert profile["samples"] == 100
    assert list(profile["shares"].values()) == [0.9, 0.1]


def test_command_line():
    run = [sys.executable, str(BENCH / "run.py")]
    assert subprocess.run([*run, "--help"], capture_output=True).returncode == 0
    assert subprocess.run([*run, "--only", "nonsense"], capture_output=True).returncode == 2


@pytest.mark.server
def test_savehook_tiny_run(tmp_path):
    import savehook

    result = savehook.run(tmp_path / "savehook", saves=2, classic_saves=0, cells=8, warmup=1, classic=False)
    assert len(result["plain_save"]["runs"]) == 2 and len(result["copies_fresh"]["runs"]) == 2
    assert "## 3. Save hook" in report.render({"meta": {"started": "", "finished": "", "seconds": 0,
                                                        "machine": harness.machine()}, "savehook": result})


def test_rest_payloads_and_statistics():
    body = json.loads(rest.payload(100))["dataframe_split"]
    assert body["columns"] == ["a", "b", "c"] and len(body["data"]) == 100 and len(body["data"][0]) == 3
    assert rest.percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)
    assert rest.percentile([7.0], 95) == 7.0
    stats = rest.latency([0.010, 0.012, 0.011, 0.050])
    assert stats["median"] == 0.0115 and stats["worst"] == 0.05 and stats["calls"] == 4
    assert 0.012 < stats["p95"] < 0.05


def test_rest_tiny_run_against_the_real_server(tmp_path):
    """A few calls to `mlflow models serve` of the bench's model; the report shows them."""
    uri = harness.log_model(tmp_path / "artifacts")
    result = rest.run(tmp_path / "rest", uri, calls=3, warmup=1)
    assert {name: c["calls"] for name, c in result["calls"].items()} == {name: 3 for name in rest.CASES}
    assert all(len(c["runs"]) == 3 and c["best"] <= c["median"] <= c["worst"] for c in result["calls"].values())
    target = rest.targets(result)[0].as_dict()
    assert target["unit"] == "ms" and target["value"] == round(result["calls"]["1"]["median"] * 1000, 2)
    meta = {"started": "", "finished": "", "seconds": 0, "machine": harness.machine()}
    text = report.render({"meta": meta, "rest": result, "targets": [target]})
    assert "## 5. REST latency" in text and "| 1 row, keep-alive connection |" in text
    assert "| 100 rows, keep-alive connection |" in text and "| 1 row, a new connection per call (as curl) |" in text
    assert f"{meta['machine']['nproc']} cores" in text and "ms | <= 20 ms |" in text


def fake_line(root: Path, name: str, installed: bool = True) -> harness.Line:
    """A Spark line whose environment is a folder with a kernel spec (or nothing)."""
    line = harness.Line(name, root / f"venv-{name}", f"kernel {name}")
    if installed:
        spec = line.kernels / "pyshim-scala"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": ["python", "-m", "pyshim.scala_kernel", "-f", "{connection_file}", "--resource-dir", "{resource_dir}"],
            "display_name": name, "language": "scala"}))
        line.python.parent.mkdir(parents=True)
        line.python.write_text("")
    return line


def fake_line_start(line, workdir, uri, name, idle_seconds) -> dict:
    slower = {"3.5": 2.0, "4": 1.0}[line.name]
    to = {p: round(slower * (i + 1) * 5.0, 3) for i, p in enumerate(spark_lines.PHASES)}
    processes = [{"pid": 1, "kind": "JVM (Spark driver)", "rss_mib": 900.0 * slower, "pss_mib": 850.0 * slower},
                 {"pid": 2, "kind": "Python worker daemon", "rss_mib": 100.0, "pss_mib": 60.0}]
    return {"to": to, "phases": dict(to), "cpu_seconds": dict(to), "spark_version": {"3.5": "3.5.8", "4": "4.3.0"}[line.name],
            "memory": {"rss_mib": sum(p["rss_mib"] for p in processes), "pss_mib": sum(p["pss_mib"] for p in processes),
                       "processes": processes},
            "result": "1.0", "register_output": "runs: native", "path": "native", "load_average": [1.0], "jar_rebuilt_before": False}


def test_spark_lines_take_turns_and_report_the_goals(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(spark_lines, "one_start", lambda line, *a, **k: started.append(line.name) or fake_line_start(line, *a, **k))
    monkeypatch.setattr(harness.Line, "versions", lambda self: {"pyspark": self.name})
    lines = (fake_line(tmp_path, "3.5"), fake_line(tmp_path, "4"))
    result = spark_lines.run(tmp_path / "lines", "models:/m/1", starts=3, idle_seconds=0, lines=lines)
    assert started == ["3.5", "4", "3.5", "4", "4", "3.5", "3.5", "4"]  # a warm-up of each, then rotating turns
    assert result["ratios"]["first_result"] == 0.5 and result["ratios"]["rss_mib"] == pytest.approx(1000 / 1900, abs=1e-3)
    found = {t.name: t for t in spark_lines.targets(result)}
    assert [t.passed for t in found.values()] == [True, True, True]
    text = report.render({"meta": {"started": "", "finished": "", "seconds": 0, "machine": harness.machine()},
                          "lines": result, "targets": [t.as_dict() for t in found.values()]})
    assert "## 10. Spark lines" in text and "| 3.5.8 | 4.3.0 |" in text
    assert "<= 0.7x (met)" in text and "<= 0.8x (met)" in text
    assert "JVM (Spark driver) 1,800 MiB RSS" in text
    assert "| the warm-up start (the version's first registration: compile, check), to the first result |" in text


def test_spark_lines_missing_environment_is_skipped_with_the_command(tmp_path, monkeypatch):
    monkeypatch.setattr(spark_lines, "one_start", fake_line_start)
    monkeypatch.setattr(harness.Line, "versions", lambda self: {})
    lines = (fake_line(tmp_path, "3.5"), fake_line(tmp_path, "4", installed=False))
    result = spark_lines.run(tmp_path / "lines", "models:/m/1", starts=1, warmup=False, idle_seconds=0, lines=lines)
    assert list(result["lines"]) == ["3.5"] and "`make setup SPARK=4`" in result["skipped"]["4"]
    assert all(t.value is None and t.passed is None for t in spark_lines.targets(result))
    text = report.render({"meta": {"started": "", "finished": "", "seconds": 0, "machine": harness.machine()},
                          "lines": result, "targets": [t.as_dict() for t in spark_lines.targets(result)]})
    assert "not measured" in text and "make setup SPARK=4" in text


def test_another_lines_kernel_runs_with_that_lines_python(tmp_path):
    line = fake_line(tmp_path, "4")
    manager = line.kernel_manager()
    assert manager.kernel_spec.display_name == "4"
    assert manager.format_kernel_cmd()[:3] == [str(line.python), "-m", "pyshim.scala_kernel"]
    env = line.kernel_env({"PATH": f"{Path(sys.prefix) / 'bin'}{':'}/usr/bin", "SPARK_HOME": "/x", "HOME": "/h"})
    assert env["PATH"] == f"{line.venv / 'bin'}:/usr/bin" and "SPARK_HOME" not in env and env["HOME"] == "/h"
