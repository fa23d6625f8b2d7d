#!/usr/bin/env python
"""Paired alternation: ragc, LangGraph and the baseline take turns run by run, in one process.

The main protocol (``bench_common.py``) runs each (runtime, case) in its own subprocess, one after
the other, so two runtimes see the machine a few seconds apart. That is fine for CPU-bound cases
but not for the SQLite cases on a shared disk, whose fsync latency jumps between ~0.3 ms and
~5 ms within seconds when another tenant writes. Here the three implementations of a case are
built in one process and their timed runs alternate (rag, langgraph, baseline, rag, ...), so
each round sees the same disk; the per-round ratio ragc / LangGraph is then a paired measurement.
Peak RSS is not measured (all runtimes share the process).

Usage (from bench/):
    .venv/bin/python paired.py --only saver=sqlite --rounds 15 --out results-paired.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc  # noqa: E402

RUNTIMES = ("rag", "langgraph", "baseline")


def run_case(case: bc.Case, rounds: int) -> list[dict]:
    """Build, validate and warm the case on every runtime, then ``rounds`` alternating timed runs.

    Returns one record per runtime with its samples and, for ragc, the per-round ratios to LangGraph.
    """
    impls = {rt: importlib.import_module(bc.IMPLS[rt]) for rt in RUNTIMES}
    runs = {rt: impls[rt].build(case) for rt in RUNTIMES}
    runner = asyncio.Runner()

    def call(cr: bc.CaseRun, fn):
        return runner.run(fn()) if cr.is_async else fn()

    try:
        load_start = os.getloadavg()[0]
        for rt, cr in runs.items():
            val = call(cr, cr.validate)
            if not val.get("ok"):
                raise RuntimeError(f"{rt} {case.key}: validation failed: {val}")
        samples: dict[str, list[dict]] = {rt: [] for rt in RUNTIMES}
        for _ in range(rounds):
            for rt, cr in runs.items():
                gc.collect()
                samples[rt].append(call(cr, cr.run_once))
    finally:
        runner.close()
    load = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    out = []
    for rt in RUNTIMES:
        rec = {"runtime": impls[rt].RUNTIME, "runtime_version": impls[rt].VERSION, "key": case.key,
               "workload": case.name, "variant": case.v, "protocol": "paired", "rounds": rounds, "loadavg_1m": load}
        for metric in ("wall_s", "per_step_ms", "resume_latency_s"):
            vals = [s[metric] for s in samples[rt] if s.get(metric) is not None]
            if vals:
                rec[metric] = statistics.median(vals)
                rec[metric + "_min"] = min(vals)
                rec[metric + "_samples"] = [round(x, 6) for x in vals]
        if rt == "rag":
            for metric in ("wall_s", "resume_latency_s"):
                pairs = [(g.get(metric), lg.get(metric)) for g, lg in zip(samples["rag"], samples["langgraph"])]
                ratios = [a / b for a, b in pairs if a is not None and b]
                if ratios:
                    rec[f"paired_ratio_{metric}"] = statistics.median(ratios)
        out.append(rec)
    return out


def summary(records: list[dict]) -> list[str]:
    """Markdown: per case, median (min) per runtime and the median paired ratio."""
    lines = ["| case | variant | ragc median (min) | LangGraph median (min) | baseline median | "
             "median of per-round ratios ragc/LangGraph | rounds | load |", "|---|---|---|---|---|---|---|---|"]
    by_key: dict[str, dict[str, dict]] = {}
    for r in records:
        by_key.setdefault(r["key"], {})[r["runtime"]] = r
    from report import fmt_s

    for key, rr in by_key.items():
        g, lg, b = rr["rag"], rr["langgraph"], rr["baseline"]
        variant = ", ".join(f"{k}={v}" for k, v in g["variant"].items() if k not in ("n", "items", "steps"))
        metric = "resume_latency_s" if "resume_latency_s" in g else "wall_s"
        label = "resume latency " if metric == "resume_latency_s" else ""
        lines.append("| " + " | ".join([
            g["workload"], variant,
            f"{label}{fmt_s(g[metric])} ({fmt_s(g[metric + '_min'])})",
            f"{label}{fmt_s(lg[metric])} ({fmt_s(lg[metric + '_min'])})",
            f"{label}{fmt_s(b[metric])}", f"{g.get('paired_ratio_' + metric, float('nan')):.2f}",
            str(g["rounds"]), f"{g['loadavg_1m'][0]:.1f}–{g['loadavg_1m'][1]:.1f}"]) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="substring of the case key (repeatable; required to run)")
    ap.add_argument("--rounds", type=int, default=15, help="alternating timed rounds per case (default 15)")
    ap.add_argument("--out", help="append the JSON records to this file")
    ap.add_argument("--report", nargs="*", help="print the markdown summary of these JSONL files and exit")
    args = ap.parse_args()
    if args.report is not None:
        records = [json.loads(line) for p in args.report for line in open(p) if line.startswith("{")]
        print("\n".join(summary(records)))
        return
    if not args.only:
        ap.error("give at least one --only")
    for name in [k for k in os.environ if k.startswith(("LANGSMITH_", "LANGCHAIN_"))]:
        del os.environ[name]  # as the main driver does for its children: no tracing
    cases = [c for c in bc.all_cases() if any(p in c.key for p in args.only)]
    records: list[dict] = []
    for case in cases:
        t0 = time.perf_counter()
        recs = run_case(case, args.rounds)
        records.extend(recs)
        print(f"{case.key}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                for r in recs:
                    fh.write(json.dumps(r) + "\n")
    print("\n".join(summary(records)))


if __name__ == "__main__":
    main()
