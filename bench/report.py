"""Write the results: results.json (everything) and results.md (the tables and the notes).

`render(results)` is pure (the smoke test feeds it a made-up result); `write(results, out)`
writes both files. The docs' benchmarks page includes results.md as it is (docs/benchmarks.md).
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def _s(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if value >= 100:
        return f"{value:.0f} s"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value / 1e3:.0f} k"


def _runs(summary: dict, unit: str = "s") -> str:
    if unit == "ms":
        return ", ".join(f"{v * 1000:.0f}" for v in summary.get("runs", []))
    return ", ".join(f"{v:.2f}" for v in summary.get("runs", []))


def _verdict(target: dict) -> str:
    if target["passed"] is None:
        return "not measured"
    return "**pass**" if target["passed"] else "**MISS**"


def _value(target: dict) -> str:
    if target["value"] is None:
        return "n/a"
    return f"{target['value']:.2f} {target['unit']}" if target["unit"] in ("s", "ms") else f"{target['value']:.2f}x"


def _limit(target: dict) -> str:
    return f"<= {target['limit']:g} {target['unit']}" if target["unit"] in ("s", "ms") else f"<= {target['limit']:g}x"


# ---------------------------------------------------------------- sections


def _header(results: dict) -> list[str]:
    meta = results["meta"]
    m = meta["machine"]
    v = m["versions"]
    mode = "quick smoke run (`--quick`): small sizes, not for comparison" if meta.get("quick") else "full run"
    return [
        "# pyshim benchmarks",
        "",
        f"{meta['finished']}, {mode}, git {m['git']}, {meta['seconds']:.0f} s in all.",
        "",
        f"**Machine:** {m['nproc']} cores ({m['cpu_model']}), {m['memory']} RAM, {m['os']}; "
        f"{m['java']}; Python {m['python']}; pyspark {v.get('pyspark')}, mlflow {v.get('mlflow')}, "
        f"pandas {v.get('pandas')}, pyarrow {v.get('pyarrow')}, scikit-learn {v.get('scikit-learn')}, "
        f"Toree {v.get('toree')}, jupyter_server {v.get('jupyter_server')}, nbconvert {v.get('nbconvert')}. "
        f"Load average at start {_load(m.get('load_average_start'))}, at end {_load(meta.get('load_average_end'))}: "
        "the machine is shared, so compare the ratios (measured in the same run), not absolute times.",
        "",
    ]


def _load(values) -> str:
    return " / ".join(f"{v:.1f}" for v in values) if values else "n/a"


def _targets(results: dict) -> list[str]:
    rows = results.get("targets", [])
    if not rows:
        return []
    out = ["## Targets", "", "| target | measured | goal | result |", "|---|---|---|---|"]
    out += [f"| {t['name']} | {_value(t)} | {_limit(t)} | {_verdict(t)} |" for t in rows]
    return out + [""]


def _throughput(t: dict) -> list[str]:
    parts = t["partitions"]
    variants = [*t["variants"], "predict_floor"]
    names = {**t["variants"], "predict_floor": "model.predict on one pandas DataFrame (compute floor)"}
    out = [f"## 1. Model UDF throughput: {t['rows']:,} rows x 3 doubles, cached",
           "",
           f"Median of {t['runs']} interleaved runs after a warm-up (three times as many with "
           f"{min(t['partitions'])} partitions, whose runs are short); `sum(f(a, b, c))` over a "
           "`repartition(N).cache()` table in one Toree kernel (same JVM, same Spark config, same data). "
           "x spark_udf: time relative to mlflow's spark_udf in the same run (lower is faster).",
           "",
           "| variant | " + " | ".join(f"{n} partitions: time | rows/s | x spark_udf" for n in parts) + " |",
           "|---|" + "---|---|---|" * len(parts)]
    for variant in variants:
        cells = []
        for n in parts:
            row = t["results"][str(n)].get(variant)
            if row is None:
                cells += ["n/a"] * 3
            else:
                cells += [_s(row["median"]), _rate(row["rows_per_s"]), _x(row.get("vs_spark_udf"))]
        label = f"`{variant}`: {names[variant]}"
        if variant == "predict_floor":
            label += " (independent of partitions)"
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out += ["Every run (seconds):", ""]
    for n in parts:
        out.append(f"- {n} partitions: " + "; ".join(
            f"{v} {_runs(t['results'][str(n)][v])}" for v in variants if v in t["results"][str(n)]))
    out.append("")
    metrics_rows = []
    for n in parts:
        for variant in t["variants"]:
            m = t["results"][str(n)][variant].get("spark_metrics")
            if m:
                metrics_rows.append(f"| {variant} | {n} | {m['tasks_per_run']:g} | {m['task_run_ms_mean']:.1f} | "
                                    f"{m['task_jvm_cpu_ms_mean']:.1f} | {m['gc_ms_per_run']:.0f} |")
    if metrics_rows:
        out += ["Spark's task metrics (REST API of the kernel's Spark UI), per measured run. A task's run time "
                "includes waiting for its Python worker; its JVM CPU time does not.",
                "",
                "| variant | partitions | tasks | mean task run time, ms | mean task JVM CPU, ms | GC ms per run |",
                "|---|---|---|---|---|---|", *metrics_rows, ""]
    for n, profile in (t.get("profile") or {}).items():
        if not isinstance(profile, dict) or "error" in profile:
            continue
        out += [f"py-spy on the Python workers during one more run with {n} partitions "
                "(share of the workers' busy samples):", "",
                "| variant | run time | samples | where the workers' time went |", "|---|---|---|---|"]
        for variant, p in profile.items():
            if "error" in p:
                out.append(f"| {variant} | n/a | n/a | {p['error']} |")
                continue
            shares = "; ".join(f"{k} {v:.0%}" for k, v in p["shares"].items())
            out.append(f"| {variant} | {_s(p['seconds'])} | {p['samples']} | {shares} |")
        out.append("")
    idle = t.get("after_idle")
    if idle:
        out += [f"After a pause: Spark closes a pool's Python workers after one minute without a task, so the "
                f"first query after a pause of {idle['pause_seconds']:.0f} s starts new workers (imports, model "
                f"load) for both paths ({idle['partitions']} partitions, median of {len(idle['scala_model']['runs'])}):",
                "", "| variant | time | every run | x spark_udf |", "|---|---|---|---|",
                f"| scala_model | {_s(idle['scala_model']['median'])} | {_runs(idle['scala_model'])} | "
                f"{_x(idle['scala_vs_spark_udf'])} |",
                f"| spark_udf | {_s(idle['spark_udf']['median'])} | {_runs(idle['spark_udf'])} | 1.00x |", ""]
    if t.get("worker_fix_present") is False:
        out += ["Note: this tree's pyshim/bridge/worker.py has no `keep_zip_indexes`; "
                "`identity_udf_fixed` ran without the fix.", ""]
    return out


def _coldstart(c: dict) -> list[str]:
    med, summ = c["median"], c["summary"]
    labels = {"kernel_ready": "of which: the kernel answers (launcher, JVM, Toree)",
              "jvm_and_spark": "JVM and Spark (kernel start, Toree, SparkSession)",
              "sidecar_attach": "sidecar attach (`%%python 1`)",
              "model_load": "model load (`%register_model`: resolve, download, ship)",
              "first_batch": "first batch (first query: Python workers start, import, load the model, score)",
              "total": "**kernel start to first model result**",
              "same_query_warm": "the same query again, warm (for reference)"}
    cpu = c.get("cpu_median") or {}
    out = [f"## 2. Cold start: a new Toree kernel to the first model result ({c['starts']} starts, median)", "",
           "Cells run back to back, as a notebook runs them. pyshim's warm start brings up the SparkSession, "
           "the sidecar and Spark's Python workers (forked from `pyshim.bridge.daemon`, model libraries preloaded) "
           "in the background while Toree's interpreter starts, and the JVM maps the class archive written "
           "by `pyshim install`: each phase is what its cell still waits for. "
           "CPU: seconds of CPU used by the kernel's processes (JVM, sidecar, Python workers) in the phase; "
           "on a busy machine the wall time stretches, the CPU time much less.", "",
           "| phase | median wall time | every start | median CPU time |", "|---|---|---|---|"]
    for key in ("jvm_and_spark", "kernel_ready", "sidecar_attach", "model_load", "first_batch", "total",
                "same_query_warm"):
        out.append(f"| {labels[key]} | {_s(med[key])} | {_runs(summ[key])} | "
                   f"{_s(cpu[key]) if key in cpu else ''} |")
    loads = [s.get("load_average", [None])[0] for s in c.get("samples", []) if s.get("load_average")]
    if loads:
        out += ["", "1-minute load average at the end of each start: " + ", ".join(f"{v:.1f}" for v in loads) +
                f" (on {c.get('nproc', 'these')} cores)."]
    out.append("")
    prof = c.get("profile") or {}
    if prof:
        out += ["What the warm start takes off the first cells: the same imports timed one by one in a fresh "
                "process (median), as a new Spark Python worker forked from PySpark's own daemon "
                "(PYTHONPATH = pyspark.zip, py4j, spark-core) and as the sidecar do them:",
                "", "| step | seconds |", "|---|---|"]
        for group in ("worker_imports", "sidecar_imports"):
            who = "worker" if group == "worker_imports" else "sidecar"
            for step, seconds in prof.get(group, {}).items():
                out.append(f"| {who}: {step} | {seconds:.2f} |")
        out.append("")
    return out


def _savehook(h: dict) -> list[str]:
    out = [f"## 3. Save hook: {h['cells']}-cell notebook ({h['notebook_bytes'] / 1024:.0f} KiB), "
           f"PUT /api/contents, median of {h['saves']} saves", "",
           "| measure | median | best | worst | x plain save |", "|---|---|---|---|---|"]

    def row(label, s, vs=None, unit="ms"):
        out.append(f"| {label} | {_s(s['median'], unit)} | {_s(s['best'], unit)} | {_s(s['worst'], unit)} | "
                   f"{_x(vs) if vs is not None else ''} |")

    row("plain save (hook off)", h["plain_save"], 1.0)
    row("save with the hook on (copies are made after the reply)", h["hook_save"], h["hook_vs_plain"])
    if h.get("hook_vs_plain_best") is not None:
        out.append(f"| hook on / plain, best against best (the least noisy figure on a busy machine) | | | | "
                   f"{_x(h['hook_vs_plain_best'])} |")
    row("hook on: from the save until both review copies are fresh", h["copies_fresh"], None, "s")
    row("pyshim export in one process (script + HTML), for reference", h["in_process_export"], None, "s")
    if "classic_save" in h:
        row("classic recipe: save with an nbconvert post_save_hook (script + HTML)", h["classic_save"],
            h["classic_vs_plain"], "s")
        row("classic recipe: the two `jupyter nbconvert` subprocesses alone", h["classic_subprocesses"], None, "s")
    return out + [""]


def _growth(g: dict) -> list[str]:
    out = [f"## 4. Growth: the Scala model path by data size ({g['partitions']} partitions, "
           f"median of {g['runs']} after a warm-up)", "",
           "| rows | median time | seconds per million rows | every run |", "|---|---|---|---|"]
    for r in g["sizes"]:
        out.append(f"| {r['rows']:,} | {_s(r['median'])} | {r['seconds_per_million']:.3f} | {_runs(r)} |")
    out += ["", f"Per-million cost, largest size / smallest: {_x(g['largest_vs_smallest'])}; "
                f"max / min over all sizes: {_x(g['spread'])}.", ""]
    return out


def _progress(p: dict) -> list[str]:
    load = f"{_load(p.get('load_average_start'))} → {_load(p.get('load_average_end'))}"
    out = [f"## 7. Progress display: a job of {p['tasks']:,} short tasks, on and off "
           f"(median of {p['runs']}, interleaved, after a warm-up)", "",
           "| progress display | median | every run |", "|---|---|---|",
           f"| on (default) | {_s(p['on']['median'])} | {_runs(p['on'])} |",
           f"| off (`PYSHIM_PROGRESS=0`) | {_s(p['off']['median'])} | {_runs(p['off'])} |", "",
           f"On minus off: {p['slower_seconds']:.2f} s (allowed {p['allowed_seconds']:.2f} s). "
           f"\"Dropping event from queue\" in the kernel logs: {sum(p['dropped_events'].values())}. "
           f"Load average (1, 5, 15 min) start → end: {load}.", ""]
    return out


def _lineage(g: dict) -> list[str]:
    out = [f"## 9. Lineage listener: on and off in one kernel ({g['partitions']} partitions, "
           f"median of {g['runs']} alternating runs after a warm-up)", "",
           "| query | listener on | listener off | on / off | every run (on; off) |", "|---|---|---|---|---|"]
    labels = {"query": "throughput's `sum(model(a, b, c))`", "write": "the scored table to Parquet, until its record is written"}
    for kind, label in labels.items():
        on, off = g[f"{kind}_on"], g[f"{kind}_off"]
        out.append(f"| {label} | {_s(on['median'])} | {_s(off['median'])} | {_x(g[f'{kind}_on_vs_off'])} | "
                   f"{_runs(on)}; {_runs(off)} |")
    return out + [""]


def _rest(r: dict, machine: dict) -> list[str]:
    cases = r["calls"]
    calls = max(c["calls"] for c in cases.values())
    where = f"{machine['nproc']} cores ({machine['cpu_model']})"
    load = f"{_load(r.get('load_average_start'))} → {_load(r.get('load_average_end'))}"
    out = [f"## 5. REST latency: the same model behind `make serve` ({calls} calls of each kind)", "",
           f"`{r['model']}` served by {r['server']} (ready {r['ready_seconds']:.1f} s after the start); "
           f"{r['client']}; `dataframe_split` payloads; the kinds of call interleaved after {r['warmup']} "
           "warm-up calls of each; a call is timed from the request to the parsed JSON answer.", "",
           "| call | median | p95 | mean | best | worst | machine | load average (1, 5, 15 min) start → end |",
           "|---|---|---|---|---|---|---|---|"]
    for c in cases.values():
        label = ("1 row" if c["rows"] == 1 else f"{c['rows']} rows") + \
            (", a new connection per call (as curl)" if c["new_connection"] else ", keep-alive connection")
        out.append(f"| {label} | {_s(c['median'], 'ms')} | {_s(c['p95'], 'ms')} | {_s(c['mean'], 'ms')} | "
                   f"{_s(c['best'], 'ms')} | {_s(c['worst'], 'ms')} | {where} | {load} |")
    return out + [""]


def _native(n: dict, number: str = "6") -> list[str]:
    line = (n.get("line") or {}).get("label")
    on = f" on {line}" if line else ""
    out = [f"## {number}. Native model functions{on}: {n['rows']:,} rows x 3 doubles, cached", "",
           "The ElasticNet compiled to one Spark SQL expression (`%register_model`, native), beside the same "
           "model written by hand in SQL, on the Python path (`--native off`), mlflow's spark_udf and the "
           f"JVM-only sum; median of {n['runs']} interleaved runs (three times as many with 2 partitions).", "",
           "| variant | " + " | ".join(f"{p} partitions: time | rows/s | x spark_udf" for p in n["partitions"]) + " |",
           "|---|" + "---|---|---|" * len(n["partitions"])]
    for variant, label in n["variants"].items():
        cells = []
        for p in n["partitions"]:
            b = n["results"][str(p)][variant]
            cells.append(f"{_s(b['median'])} | {_rate(b['rows_per_s'])} | {_x(b['vs_spark_udf'])}")
        out.append(f"| `{variant}`: {label} | " + " | ".join(cells) + " |")
    out += ["", "Native against spark_udf (how many times faster) and against the hand-written SQL: " + "; ".join(
        f"{p} partitions {n['results'][str(p)]['spark_udf_vs_native']}x faster than spark_udf, "
        f"{_x(n['results'][str(p)]['native_vs_hand_sql'])} the hand-written SQL's time" for p in n["partitions"]) + ".", ""]
    if n.get("kinds"):
        out += ["One row per model kind (the preprocessing front of tests/native_zoo.py: StandardScaler, MinMaxScaler, "
                "SimpleImputer, OneHotEncoder; 1M cached rows, 2 partitions, `count(f(a, b, c, color))`):", "",
                "| kind | auto picks | native rows/s | Python path rows/s | native speed-up | compile + check | SQL size |",
                "|---|---|---|---|---|---|---|"]
        for k in n["kinds"]:
            native_rate = 1e6 / k["native_s"] if k.get("native_s") else None
            python_rate = 1e6 / k["python_s"] if k.get("python_s") else None
            speedup = f"{k['python_s'] / k['native_s']:.1f}x" if k.get("native_s") else "-"
            picked = "native" if k.get("auto_native", k["native"]) else "Python (" + k["runs"].split(": ", 1)[-1].split(",")[0] + ")"
            out.append(f"| {k['kind']} | {picked} | {_rate(native_rate)} | "
                       f"{_rate(python_rate)} | {speedup} | {_s(k.get('compile_check_s'))} | "
                       f"{(k.get('sql_chars') or 0) / 1000:.1f} KB |")
        out.append("")
    if n.get("forests"):
        out += ["Random forests of growing size (where the compiled expression stops paying off):", "",
                "| trees | depth | SQL size | compile | native time | Python path time | native speed-up |",
                "|---|---|---|---|---|---|---|"]
        for f in n["forests"]:
            out.append(f"| {f['trees']} | {f['depth']} | {f['sql_chars'] / 1000:.0f} KB | {_s(f['compile_s'])} | "
                       f"{_s(f['native_s'])} | {_s(f['python_s'])} | {f['python_s'] / f['native_s']:.1f}x |")
        out.append("")
    return out


def _completion(c: dict) -> list[str]:
    out = ["## 8. Tab completion on a warm kernel, per cell language", "",
           f"A `complete_request` timed from the request to its reply (jupyter_client, loopback); the kinds "
           f"interleaved, {c['runs']} of each after {c['warmup']} warm-up requests.", "",
           "| cell | code completed | median | best | worst |", "|---|---|---|---|---|"]
    for kind, case in c["cases"].items():
        code = case["code"].replace("\n", " ⏎ ")
        out.append(f"| {kind} | `{code}` | {_s(case['median'], 'ms')} | {_s(case['best'], 'ms')} | {_s(case['worst'], 'ms')} |")
    return out + [""]


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def _lines(r: dict) -> list[str]:
    lines = r["lines"]
    names = list(lines)
    starts = f"{r['starts']} start{'s' if r['starts'] != 1 else ''} of each, median"
    out = [f"## 10. Spark lines: the Spark 4 kernel beside the Toree kernel ({starts})", "",
           "Each start is a new kernel driven as a notebook runs its cells: the kernel answers, `spark.version`, "
           "`%register_model` of the bench model (pyshim picks the path), the first query with it. The lines take "
           "turns, the order rotating each start, after a warm-up start of each; each kernel runs from its own "
           "environment. The warm-up start registers the model version for the first time (compiled and checked "
           "against predict); the measured starts register it again, as a notebook does after a kernel restart, and "
           f"take the decision kept on disk. Memory: every process of the kernel (the kernel process and its descendants), after "
           f"{r['idle_seconds']:g} s idle following the first result; RSS counts shared pages in each process, "
           "PSS splits them.", ""]
    if not lines:
        return out + ["Not measured: " + "; ".join(r.get("skipped", {}).values()), ""]
    out += ["| | " + " | ".join(lines[n]["label"] for n in names) + " | Spark 4 / Spark 3.5 | goal |",
            "|---|" + "---|" * len(names) + "---|---|"]
    ratios, goals = r.get("ratios") or {}, r.get("goals") or {}

    def row(label, cells, key=None):
        ratio = _x(ratios.get(key)) if key and ratios else ""
        goal = f"<= {goals[key]:g}x ({'met' if ratios.get(key) is not None and ratios[key] <= goals[key] else 'not met'})" \
            if key in goals and ratios.get(key) is not None else ""
        out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} | {goal} |")

    row("Spark", [str(lines[n].get("spark_version") or "n/a") for n in names])
    row("kernel start to: the kernel answers", [_s(lines[n]["to"]["kernel_ready"]["median"]) for n in names])
    row("kernel start to: **`spark.version`**", [_s(lines[n]["to"]["spark_version"]["median"]) for n in names],
        "spark_version")
    row("`%register_model` picked", [lines[n].get("model_path", "?") for n in names])
    row("kernel start to: `%register_model` done", [_s(lines[n]["to"]["model_load"]["median"]) for n in names])
    row("kernel start to: **the first model result**", [_s(lines[n]["to"]["first_result"]["median"]) for n in names],
        "first_result")
    row("every start, to the first result", [_runs(lines[n]["to"]["first_result"]) for n in names])
    firsts = [lines[n].get("first_registration") for n in names]
    if all(firsts):
        row("the warm-up start (the version's first registration: compile, check), to the first result",
            [_s(f["to"]["first_result"]) for f in firsts])
    row("CPU time of the kernel's processes to the first result",
        [_s(lines[n]["cpu_seconds"]["first_result"]) for n in names])
    row("**RSS of all the kernel's processes**, idle", [_mib(lines[n]["rss_mib"]["median"]) for n in names], "rss_mib")
    row("PSS of all the kernel's processes, idle", [_mib(lines[n]["pss_mib"]["median"]) for n in names], "pss_mib")
    row("processes", [str(len(lines[n]["processes"])) for n in names])
    out += ["", "The kernel's processes (the start with the median RSS):", ""]
    for n in names:
        procs = "; ".join(f"{p['kind']} {_mib(p['rss_mib'])} RSS, {_mib(p['pss_mib'])} PSS" for p in lines[n]["processes"])
        out.append(f"- {lines[n]['label']}: {procs}.")
    for name, why in (r.get("skipped") or {}).items():
        out.append(f"- Spark {name}: not measured: {why}.")
    return out + [""]


def _notes(results: dict) -> list[str]:
    notes = list(results.get("notes", []))
    for t in results.get("targets", []):
        if t["passed"] is False:
            notes.append(f"Missed: {t['name']}: {_value(t)} against {_limit(t)}." + (f" {t['note']}" if t["note"] else ""))
    for name, err in (results.get("errors") or {}).items():
        notes.append(f"`{name}` did not complete: {err.splitlines()[0] if err else 'error'}")
    if not notes:
        return []
    return ["## Notes", "", *[f"- {n}" for n in notes], ""]


def render(results: dict) -> str:
    out = _header(results) + _targets(results)
    sections = {"throughput": _throughput, "coldstart": _coldstart, "savehook": _savehook, "growth": _growth}
    for name, fn in sections.items():
        if results.get(name):
            out += fn(results[name])
    if results.get("rest"):
        out += _rest(results["rest"], results["meta"]["machine"])
    if results.get("native"):
        out += _native(results["native"])
    for i, native in enumerate((results.get("native_lines") or {}).values()):
        out += _native(native, f"6{'bcdefgh'[i]}")
    if results.get("progress"):
        out += _progress(results["progress"])
    if results.get("completion"):
        out += _completion(results["completion"])
    if results.get("lineage"):
        out += _lineage(results["lineage"])
    if results.get("lines"):
        out += _lines(results["lines"])
    out += _notes(results)
    return "\n".join(out).rstrip() + "\n"


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "results.md", out_dir / "results.json"
    for path, text in ((js, json.dumps(results, indent=2, default=str) + "\n"), (md, render(results))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return md, js
