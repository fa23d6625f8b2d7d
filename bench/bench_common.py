"""Runtime-agnostic parts of the peer benchmark.

Contents
  * the deterministic fake "model" (sync, and async with simulated I/O latency);
  * the case table (workload x variant) shared by every runtime under test;
  * the measurement driver: one subprocess per (runtime, case) so that peak RSS
    (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is per case, median of N
    timed runs, one JSON line per case;
  * ``baseline``: a hand-written plain-Python/asyncio implementation of every
    case -- the measured "theoretical floor" for a framework-free program that
    has the same semantics (same reducers, same persistence points).

Plugging in another runtime: write a module ``peer_<name>.py`` exposing
``RUNTIME``, ``VERSION``, ``supports(case) -> str | None`` (None = supported,
otherwise the reason it is skipped) and ``build(case) -> CaseRun``, and add it
to ``IMPLS`` below.  See README.md for the exact semantics of every case.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import pickle
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
IMPLS = {"rag": "peer_rag", "langgraph": "peer_langgraph", "baseline": "bench_common"}

# --------------------------------------------------------------------------
# Deterministic fake model
# --------------------------------------------------------------------------


def fake_model(prompt: str) -> str:
    """Pure, deterministic, no sleep: returns a short string."""
    return "ok:" + prompt


async def fake_model_io(prompt: str, latency_s: float = 0.010) -> str:
    """Same output as fake_model, after awaiting asyncio.sleep(latency_s)."""
    await asyncio.sleep(latency_s)
    return fake_model(prompt)


# Quorum workload: branch k sleeps QUORUM_LAT_MS[k] ms; proceed after QUORUM_K
# branches have completed.  Winners are therefore k = 1 (10 ms), 6 (20 ms),
# 4 (30 ms) and the ideal wall time is 30 ms.
QUORUM_LAT_MS = (70, 10, 100, 40, 30, 90, 20, 60, 80, 50)
QUORUM_K = 3
QUORUM_WINNERS = (1, 6, 4)

WIDE_N = 10_000


def make_big_list(n: int = WIDE_N) -> list[dict]:
    return [{"id": i, "kind": "user", "text": f"message number {i}"} for i in range(n)]


def tmp_db_path(tag: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"ragbench-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite")


def rm_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------
# Case table
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str  # e.g. "fanout_1000"
    workload: str  # chain | fanout | quorum | checkpoint_chain | resume | wide_state
    variant: tuple  # tuple of (key, value) pairs, e.g. (("model","io10ms"),("api","async"))
    ideal_s: float | None = None
    ideal_note: str = ""

    @property
    def v(self) -> dict:
        return dict(self.variant)

    @property
    def key(self) -> str:
        return self.name + "[" + ",".join(f"{k}={v}" for k, v in self.variant) + "]"


def all_cases() -> list[Case]:
    cs: list[Case] = []
    for n in (100, 1000):
        for api in ("async", "sync"):
            cs.append(Case(f"chain_{n}", "chain", (("n", n), ("api", api)),
                           None, "model is free: wall is pure per-step runtime overhead; floor = plain loop (baseline)"))
    for n in (100, 1000, 10000):
        for api in ("async", "sync"):
            cs.append(Case(f"fanout_{n}", "fanout", (("n", n), ("model", "nosleep"), ("api", api)),
                           None, f"model is free: floor = {n} direct calls (baseline); rest is scheduling overhead"))
    for n in (100, 1000):
        cs.append(Case(f"fanout_{n}", "fanout", (("n", n), ("model", "io10ms"), ("api", "async")),
                       0.010, "all branches sleep 10 ms concurrently: ideal = 10 ms + per-branch overhead"))
    for how in ("graph_all", "graph_coop", "functional"):
        cs.append(Case("quorum", "quorum", (("impl", how), ("api", "async")),
                       0.030 if how != "graph_all" else 0.100,
                       "3-of-10 quorum: ideal = 3rd-fastest latency = 30 ms (graph_all waits for all: 100 ms)"))
    for saver in ("memory", "sqlite"):
        for dur in ("sync", "async"):
            for api in ("async", "sync"):
                cs.append(Case("checkpoint_chain_200", "checkpoint_chain",
                               (("n", 200), ("saver", saver), ("durability", dur), ("api", api)),
                               None, "floor = per step: serialize state + 1 committed write (baseline: pickle + sqlite WAL commit)"))
    for saver in ("memory", "sqlite"):
        for how in ("interrupt_before", "interrupt"):
            cs.append(Case("resume", "resume", (("n", 100), ("at", 50), ("saver", saver), ("how", how), ("api", "async")),
                           None, "floor for resume latency = read + deserialize 1 checkpoint + run 1 node (<1 ms mem, ~1 ms sqlite)"))
    for mode in ("readonly", "append", "append_delta"):
        for saver in ("none", "memory", "sqlite"):
            if mode == "append_delta" and saver == "none":
                continue
            cs.append(Case("wide_state", "wide_state",
                           (("items", WIDE_N), ("steps", 100), ("mode", mode), ("saver", saver), ("api", "async")),
                           None, "floor: state passed by reference; persistence writes only changed data "
                                 "(big list once, then O(1) per step)"))
    return cs


# --------------------------------------------------------------------------
# Implementation interface
# --------------------------------------------------------------------------


@dataclass
class CaseRun:
    """What an implementation returns for one case.

    run_once(): does its own untimed setup, runs the workload once, returns a dict
        with at least {"wall_s": float} (plus optional extra numeric metrics).
    validate(): one extra untimed run that checks the output and returns
        {"ok": bool, "steps": int|None, "tasks": int|None, ...}.
    Both are coroutine functions if is_async, plain functions otherwise.
    """

    run_once: Callable[[], Any]
    validate: Callable[[], Any]
    is_async: bool
    compile_s: float | None = None
    notes: str = ""


# --------------------------------------------------------------------------
# Baseline implementation (plain Python / asyncio, no framework)
# --------------------------------------------------------------------------

RUNTIME = "baseline"
VERSION = f"python-{platform.python_version()}"


def supports(case: Case) -> str | None:
    return None


class _Store:
    """Minimal checkpoint store: pickle blobs; memory list or sqlite (WAL, same pragmas as SqliteSaver)."""

    def __init__(self, kind: str, path: str | None = None):
        self.kind, self.path = kind, path
        self.mem: list[tuple[int, str, bytes]] = []
        self.conn = None
        if kind == "sqlite":
            self.conn = sqlite3.connect(path, check_same_thread=False)
            self.conn.executescript(
                "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS ck (thread TEXT, step INT, field TEXT, blob BLOB, "
                "PRIMARY KEY(thread, step, field));")

    def put(self, thread: str, step: int, fields: dict) -> None:
        rows = [(thread, step, k, pickle.dumps(v, protocol=5)) for k, v in fields.items()]
        if self.kind == "memory":
            self.mem.extend((step, k, b) for _, _, k, b in rows)
        elif self.kind == "sqlite":
            self.conn.executemany("INSERT OR REPLACE INTO ck VALUES (?,?,?,?)", rows)
            self.conn.commit()

    def load_all(self, thread: str) -> list[tuple[int, str, Any]]:
        if self.kind == "memory":
            rows = self.mem
        else:
            rows = self.conn.execute("SELECT step, field, blob FROM ck WHERE thread=? ORDER BY step", (thread,)).fetchall()
        return [(s, k, pickle.loads(b)) for s, k, b in rows]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _bl_chain_nodes(n: int):
    return [(lambda p: (lambda state: {"items": [fake_model(p)]}))(f"step-{i}") for i in range(n)]


def build(case: Case) -> CaseRun:  # baseline
    v = case.v
    w = case.workload

    if w == "chain":
        n = v["n"]
        nodes = _bl_chain_nodes(n)
        if v["api"] == "async":
            anodes = [(lambda f: (lambda s: _awrap(f, s)))(f) for f in nodes]

            async def once():
                state = {"items": []}
                t0 = time.perf_counter()
                for node in anodes:
                    upd = await node(state)
                    state = {**state, "items": state["items"] + upd["items"]}
                return {"wall_s": time.perf_counter() - t0, "_state": state}

            async def run_once():
                r = await once()
                r.pop("_state")
                return r

            async def validate():
                r = await once()
                return {"ok": r["_state"]["items"] == [fake_model(f"step-{i}") for i in range(n)], "steps": n, "tasks": n}

            return CaseRun(run_once, validate, True)

        def once_s():
            state = {"items": []}
            t0 = time.perf_counter()
            for node in nodes:
                upd = node(state)
                state = {**state, "items": state["items"] + upd["items"]}
            return {"wall_s": time.perf_counter() - t0, "_state": state}

        def run_once_s():
            r = once_s()
            r.pop("_state")
            return r

        def validate_s():
            r = once_s()
            return {"ok": r["_state"]["items"] == [fake_model(f"step-{i}") for i in range(n)], "steps": n, "tasks": n}

        return CaseRun(run_once_s, validate_s, False)

    if w == "fanout":
        n, model, api = v["n"], v["model"], v["api"]
        expect = [fake_model(f"item-{i}") for i in range(n)]

        if api == "async":
            async def worker(i):
                if model == "io10ms":
                    return {"results": [await fake_model_io(f"item-{i}")]}
                return {"results": [fake_model(f"item-{i}")]}

            async def once():
                t0 = time.perf_counter()
                upds = await asyncio.gather(*(worker(i) for i in range(n)))
                results = [x for u in upds for x in u["results"]]
                total = sum(len(r) for r in results)
                return time.perf_counter() - t0, results, total

            async def run_once():
                return {"wall_s": (await once())[0]}

            async def validate():
                _, results, total = await once()
                return {"ok": results == expect and total == sum(map(len, expect)), "steps": 3, "tasks": n + 2}

            return CaseRun(run_once, validate, True)

        def once_s():
            t0 = time.perf_counter()
            upds = [{"results": [fake_model(f"item-{i}")]} for i in range(n)]
            results = [x for u in upds for x in u["results"]]
            total = sum(len(r) for r in results)
            return time.perf_counter() - t0, results, total

        def validate_s():
            _, results, total = once_s()
            return {"ok": results == expect and total == sum(map(len, expect)), "steps": 3, "tasks": n + 2}

        return CaseRun(lambda: {"wall_s": once_s()[0]}, validate_s, False)

    if w == "quorum":
        wait_all = v["impl"] == "graph_all"

        async def branch(k):
            out = await fake_model_io(f"branch-{k}", QUORUM_LAT_MS[k] / 1000)
            return k, out

        async def once():
            t0 = time.perf_counter()
            tasks = [asyncio.ensure_future(branch(k)) for k in range(len(QUORUM_LAT_MS))]
            winners: list[int] = []
            if wait_all:
                res = await asyncio.gather(*tasks)
                winners = [k for k, _ in sorted(res, key=lambda r: QUORUM_LAT_MS[r[0]])][:QUORUM_K]
            else:
                pending = set(tasks)
                while len(winners) < QUORUM_K:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for d in sorted(done, key=lambda t: QUORUM_LAT_MS[t.result()[0]]):
                        if len(winners) < QUORUM_K:
                            winners.append(d.result()[0])
                for p in pending:
                    p.cancel()
            return time.perf_counter() - t0, winners

        async def run_once():
            return {"wall_s": (await once())[0]}

        async def validate():
            _, winners = await once()
            return {"ok": tuple(winners) == QUORUM_WINNERS, "steps": 3, "tasks": 12, "winners": winners}

        return CaseRun(run_once, validate, True)

    if w in ("checkpoint_chain", "resume"):
        n = v["n"]
        nodes = _bl_chain_nodes(n)
        saver = v["saver"]
        stop_at = v.get("at")

        def run_chain(store, thread, start_state, start, stop, per_step_cb=None):
            state = start_state
            for i in range(start, stop):
                upd = nodes[i](state)
                state = {**state, "items": state["items"] + upd["items"]}
                if per_step_cb and i == start:
                    per_step_cb()  # first resumed node's output is available (before it is persisted)
                store.put(thread, i + 1, {"items": state["items"]})  # full snapshot of the (small) state
            return state

        def once_s():
            path = tmp_db_path("bl") if saver == "sqlite" else None
            store = _Store(saver, path)
            try:
                if w == "checkpoint_chain":
                    t0 = time.perf_counter()
                    state = run_chain(store, "t", {"items": []}, 0, n)
                    wall = time.perf_counter() - t0
                    return {"wall_s": wall, "per_step_ms": wall / n * 1000}, state
                # resume
                t0 = time.perf_counter()
                run_chain(store, "t", {"items": []}, 0, stop_at)
                leg1 = time.perf_counter() - t0
                if saver == "sqlite":  # cold resume: new connection
                    store.close()
                    store = _Store(saver, path)
                first: list[float] = []
                t1 = time.perf_counter()
                rows = store.load_all("t")
                last_step = max(s for s, _, _ in rows)
                state = {"items": [val for s, k, val in rows if s == last_step and k == "items"][0]}
                state = run_chain(store, "t", state, stop_at, n, lambda: first.append(time.perf_counter() - t1))
                total = time.perf_counter() - t1
                return {"wall_s": total, "resume_latency_s": first[0], "first_leg_s": leg1}, state
            finally:
                store.close()
                if path:
                    rm_db(path)

        def validate_s():
            _, state = once_s()
            steps = n if w == "checkpoint_chain" else n - stop_at
            return {"ok": state["items"] == [fake_model(f"step-{i}") for i in range(n)], "steps": steps, "tasks": steps}

        async def run_once_a():
            return once_s()[0]

        async def validate_a():
            return validate_s()

        note = "baseline ignores durability (always persists synchronously); memory = pickle to list, sqlite = pickle + WAL commit"
        if v["api"] == "async":
            return CaseRun(run_once_a, validate_a, True, notes=note)
        return CaseRun(lambda: once_s()[0], validate_s, False, notes=note)

    if w == "wide_state":
        mode, saver, steps = v["mode"], v["saver"], v["steps"]

        def once_s():
            big = make_big_list()
            path = tmp_db_path("blw") if saver == "sqlite" else None
            store = _Store(saver, path) if saver != "none" else None
            try:
                state = {"big": big, "last": ""}
                t0 = time.perf_counter()
                if store:
                    store.put("t", 0, state)  # initial input persisted once
                for i in range(steps):
                    if mode == "readonly":
                        out = fake_model(state["big"][i]["text"])
                        state = {**state, "last": out}
                        changed = {"last": out}
                    else:
                        item = {"id": WIDE_N + i, "kind": "assistant", "text": fake_model(f"step-{i}")}
                        state = {**state, "big": state["big"] + [item]}
                        changed = {"big+": item}  # append-log: persist only the delta
                    if store:
                        store.put("t", i + 1, changed)
                return {"wall_s": time.perf_counter() - t0}, state
            finally:
                if store:
                    store.close()
                if path:
                    rm_db(path)

        def validate_s():
            _, state = once_s()
            if mode == "readonly":
                ok = len(state["big"]) == WIDE_N and state["last"] == fake_model(f"message number {steps - 1}")
            else:
                ok = len(state["big"]) == WIDE_N + steps and state["big"][-1]["text"] == fake_model(f"step-{steps - 1}")
            return {"ok": ok, "steps": steps, "tasks": steps}

        async def run_once_a():
            return once_s()[0]

        async def validate_a():
            return validate_s()

        return CaseRun(run_once_a, validate_a, True,
                       notes="incremental persistence (only changed fields / appended item per step) = the floor")

    raise ValueError(case.key)


async def _awrap(f, s):
    return f(s)


# --------------------------------------------------------------------------
# Measurement driver
# --------------------------------------------------------------------------


def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _host() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_gib, 1),
            "python": platform.python_version(), "os": platform.platform()}


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to /proc/self/clear_refs resets the peak-RSS high-water mark (VmHWM, which is
    what getrusage().ru_maxrss reports), so the peak measured afterwards covers the timed runs only."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def run_case_in_process(runtime: str, case: Case, repeat: int, warmup: int, budget_s: float) -> dict:
    """Order: build (untimed, compile_s recorded) -> validate (untimed; doubles as warm-up) ->
    `warmup` extra untimed runs -> reset peak RSS -> up to `repeat` timed runs (stopping early once the
    next run would exceed `budget_s` measured from case start; at least 1) -> ru_maxrss."""
    t_case = time.perf_counter()
    load_start = os.getloadavg()[0]
    impl = importlib.import_module(IMPLS[runtime])
    rec: dict[str, Any] = {"runtime": impl.RUNTIME, "runtime_version": impl.VERSION, "workload": case.name,
                           "kind": case.workload, "variant": case.v, "key": case.key}
    why = impl.supports(case)
    if why:
        rec.update({"skipped": why})
        return rec
    gc.collect()
    t0 = time.perf_counter()
    cr: CaseRun = impl.build(case)
    build_s = time.perf_counter() - t0
    aloop = asyncio.Runner() if cr.is_async else None

    def call(fn):
        return aloop.run(fn()) if aloop else fn()

    try:
        val = call(cr.validate)
        for _ in range(warmup):
            call(cr.run_once)
        gc.collect()
        rss_base = _rss_now_mb()
        rss_peak_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_scope = "timed_runs" if _reset_peak_rss() else "process"
        samples: list[dict] = []
        for _ in range(repeat):
            t_run = time.perf_counter()
            samples.append(call(cr.run_once))
            gc.collect()
            now = time.perf_counter()
            if now - t_case + (now - t_run) > budget_s:
                break
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        if aloop:
            aloop.close()
    walls = [s["wall_s"] for s in samples]
    rec.update({
        "runs": len(samples), "warmup": warmup,
        "wall_s": statistics.median(walls), "wall_s_min": min(walls), "wall_s_max": max(walls),
        "wall_s_samples": [round(x, 6) for x in walls],
    })
    for k in samples[0]:
        if k != "wall_s" and isinstance(samples[0][k], (int, float)):
            rec[k] = statistics.median(s[k] for s in samples)
    n_steps = val.get("steps")
    if n_steps and "per_step_ms" not in rec and case.workload in ("chain", "checkpoint_chain", "wide_state"):
        rec["per_step_ms"] = rec["wall_s"] / n_steps * 1000
    rec.update({"steps": n_steps, "tasks": val.get("tasks"), "ok": bool(val.get("ok")),
                "rss_base_mb": round(rss_base, 1), "rss_peak_mb": round(rss_peak, 1), "rss_peak_scope": peak_scope,
                "rss_peak_setup_mb": round(rss_peak_setup, 1),
                "build_s": round(build_s, 4), "compile_s": cr.compile_s,
                "ideal_s": case.ideal_s, "ideal_note": case.ideal_note})
    extra = {k: vv for k, vv in val.items() if k not in ("ok", "steps", "tasks")}
    if extra:
        rec["validation"] = extra
    if cr.notes:
        rec["notes"] = cr.notes
    rec["loadavg_1m"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]  # at case start, case end
    rec["host"] = _host()
    return rec


def _select(cases: list[Case], patterns: list[str] | None) -> list[Case]:
    if not patterns:
        return cases
    return [c for c in cases if any(p in c.key for p in patterns)]


def cli(default_runtimes: list[str]) -> None:
    ap = argparse.ArgumentParser(description="Peer benchmark for LLM-agent graph runtimes (see README.md).")
    ap.add_argument("--runtime", action="append", choices=sorted(IMPLS), help=f"runtime(s) to run (default: {default_runtimes})")
    ap.add_argument("--only", action="append", help="substring filter on case key (repeatable), e.g. fanout_1000 or saver=sqlite")
    ap.add_argument("-n", "--repeat", type=int, default=5, help="timed runs per case (median reported; default 5)")
    ap.add_argument("--warmup", type=int, default=0, help="extra untimed warm-up runs per case; the validation run "
                    "always precedes the timed runs and acts as the first warm-up (default 0)")
    ap.add_argument("--budget-s", type=float, default=50.0, help="per-case wall budget from case start (build+validate+runs): "
                    "no further timed run is started if it would exceed this; at least 1 run (default 50)")
    ap.add_argument("--timeout-s", type=float, default=180.0, help="kill a case subprocess after this (default 180)")
    ap.add_argument("--out", help="also append JSON lines to this file")
    ap.add_argument("--in-process", action="store_true", help="run cases in this process (peak RSS then not per case)")
    ap.add_argument("--list", action="store_true", help="list case keys and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # internal: case key to run
    args = ap.parse_args()
    runtimes = args.runtime or default_runtimes
    cases = _select(all_cases(), args.only)
    if args.list:
        for c in cases:
            print(c.key)
        return
    if args.worker:
        case = next(c for c in all_cases() if c.key == args.worker)
        print(json.dumps(run_case_in_process(runtimes[0], case, args.repeat, args.warmup, args.budget_s)), flush=True)
        return
    out = open(args.out, "a") if args.out else None
    env = {k: val for k, val in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env["PYTHONHASHSEED"] = "0"
    for case in cases:
        for rt in runtimes:
            if args.in_process:
                rec = run_case_in_process(rt, case, args.repeat, args.warmup, args.budget_s)
            else:
                cmd = [sys.executable, str(HERE / "bench_common.py"), "--worker", case.key, "--runtime", rt,
                       "-n", str(args.repeat), "--warmup", str(args.warmup), "--budget-s", str(args.budget_s)]
                t0 = time.perf_counter()
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout_s, env=env, cwd=HERE)
                    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
                    rec = json.loads(lines[-1]) if p.returncode == 0 and lines else {
                        "runtime": rt, "key": case.key, "workload": case.name, "variant": case.v,
                        "error": (p.stderr or p.stdout)[-2000:]}
                except subprocess.TimeoutExpired:
                    rec = {"runtime": rt, "key": case.key, "workload": case.name, "variant": case.v,
                           "error": f"timeout after {args.timeout_s}s"}
                rec["case_total_s"] = round(time.perf_counter() - t0, 2)
            line = json.dumps(rec)
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()
    if out:
        out.close()


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    import bench_common as _bc  # use the importable module so Case identity matches the implementations'

    _bc.cli(["rag", "langgraph", "baseline"])
