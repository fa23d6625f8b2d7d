#!/usr/bin/env python
"""ragc implementation of the peer benchmark (see README.md for the exact semantics of every case).

Every case is a real ``.rag`` program: its source text is generated here, compiled with
``ragc.compiler.compile_source`` against a registry built in code (one ``[functions.NAME]`` entry
per Python function below), and run through ``ragc.api.Workflow`` -- the pipeline ``ragc.load``
uses, minus reading a file. The fake model is called inside ``kind function`` nodes, so the
measured time is the runtime's: scheduling, input mappings, reducers, routing, joins, the journal.

Usage (from bench/):
    .venv/bin/python peer_rag.py --only chain_100 -n 5         # ragc only, matching cases
    .venv/bin/python peer_rag.py --source quorum               # print the .rag source of matching cases
    .venv/bin/python bench_common.py --runtime rag --runtime langgraph --runtime baseline -n 7

How the variants map onto ragc (also recorded per case in ``notes``):

* ``api=async``: ``async def`` function nodes, ``await Workflow.run(...)``; ``api=sync``: plain
  ``def`` function nodes, ``Workflow.run_sync(...)`` (which starts an event loop per call).
* ``saver=memory``: a fresh ``MemoryStore`` journal per run; ``saver=sqlite``: a fresh
  ``SqliteStore`` (WAL, ``synchronous=FULL``) on a new file per run, opened outside the timer.
* ``durability``: ragc has one durability mode -- every node completion is committed before the
  next node starts -- so ``durability=async`` runs with that (stronger) mode.
* ``quorum``: ``impl=graph_all`` is a ``policy all`` join (waits for every branch);
  ``graph_coop`` and ``functional`` are both the native ``policy quorum 3`` join (losers cancelled).
* ``resume``: an ``interrupt`` node before ``n50``; the resume leg answers it on the same journal
  (memory: same store object; sqlite: a new store and ``Workflow`` on the same file).
* ``wide_state`` ``append_delta``: ragc's ``append`` channel already journals deltas, so it is the
  same program as ``append``.

Steps and tasks: ragc has no supersteps. ``steps`` is ragc's own count (``usage["steps"]``, the
node activations of the run, replayed ones included, which is what ``max_steps`` bounds) and
``tasks`` the activations that executed (``NodeCompleted`` events that were not replayed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    # Driver mode: do NOT import ragc here (a child's ru_maxrss is never below its parent's RSS).
    import bench_common

    if sys.argv[1:2] == ["--source"]:
        import peer_rag

        for case in bench_common.all_cases():
            if any(p in case.key for p in sys.argv[2:]) or len(sys.argv) == 2:
                print(f"// {case.key}\n{peer_rag.program_source(case)}")
        sys.exit(0)
    bench_common.cli(["rag"])
    sys.exit(0)

import ragc  # noqa: E402
from ragc.api import Workflow  # noqa: E402
from ragc.compiler import compile_source  # noqa: E402
from ragc.events import JoinFired, NodeCancelled, NodeCompleted  # noqa: E402
from ragc.registry.model import FunctionEntry, Registry  # noqa: E402
from ragc.runtime.journal import MemoryStore, SqliteStore  # noqa: E402

import bench_common as bc  # noqa: E402

perf = time.perf_counter
RUNTIME = "rag"


def _version() -> str:
    """``ragc==X.Y.Z`` plus the git revision of the code under test: the ``REVISION`` file of a
    snapshot made by ``make run`` (``git archive`` of one commit), else the revision of the source
    tree ragc was imported from, flagged when that tree has uncommitted changes."""
    src = Path(ragc.__file__).resolve().parent
    snapshot_rev = src.parents[1] / "REVISION"
    if snapshot_rev.is_file():
        return f"ragc=={ragc.__version__} (snapshot of git {snapshot_rev.read_text().strip()})"
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    if not rev:
        return f"ragc=={ragc.__version__}"
    return f"ragc=={ragc.__version__} (git {rev}{', working tree with uncommitted changes' if dirty else ''})"


VERSION = _version()


def supports(case: bc.Case) -> str | None:
    """Every case of the shared table runs on ragc."""
    return None


# --------------------------------------------------------------------------
# node functions (registered as [functions.NAME] and passed through functions=)
# --------------------------------------------------------------------------


async def step_async(input: dict) -> list[str]:
    """Chain node: append ``fake_model(prompt)`` to ``items``."""
    return [bc.fake_model(input["prompt"])]


def step_sync(input: dict) -> list[str]:
    """Chain node, sync API."""
    return [bc.fake_model(input["prompt"])]


async def fan_dispatch_async(input: dict) -> list[int]:
    """Fan-out dispatcher: its result (written to no channel) is the list the ``send ... for`` iterates."""
    return list(range(input["n"]))


def fan_dispatch_sync(input: dict) -> list[int]:
    """Fan-out dispatcher, sync API."""
    return list(range(input["n"]))


async def fan_worker_async(input: dict) -> list[str]:
    """Fan-out worker, free model."""
    return [bc.fake_model(f"item-{input['i']}")]


async def fan_worker_io(input: dict) -> list[str]:
    """Fan-out worker, model with 10 ms of simulated I/O."""
    return [await bc.fake_model_io(f"item-{input['i']}")]


def fan_worker_sync(input: dict) -> list[str]:
    """Fan-out worker, sync API."""
    return [bc.fake_model(f"item-{input['i']}")]


async def fan_total_async(input: dict, state: Any) -> int:
    """Fan-out join target: total length of the merged results."""
    return sum(len(r) for r in state["results"])


def fan_total_sync(input: dict, state: Any) -> int:
    """Fan-out join target, sync API."""
    return sum(len(r) for r in state["results"])


async def quorum_dispatch() -> None:
    """Quorum fork node: does nothing itself; its ``send`` starts the 10 branches."""
    return None


async def quorum_branch(input: dict) -> list[dict]:
    """Quorum branch ``k``: one model call with latency ``QUORUM_LAT_MS[k]``, stamped with its completion time."""
    k = input["k"]
    out = await bc.fake_model_io(f"branch-{k}", bc.QUORUM_LAT_MS[k] / 1000)
    return [{"k": k, "out": out, "t": perf()}]


async def quorum_decide(input: dict, state: Any) -> list[int]:
    """Quorum join target: the first ``QUORUM_K`` branches in completion order (ragc merges the
    counted branches' writes in branch order, so the order is recovered from the timestamps)."""
    order = sorted(state["results"], key=lambda r: r["t"])
    return [r["k"] for r in order[: bc.QUORUM_K]]


async def wide_read(input: dict) -> str:
    """wide_state readonly node: model call on one item of the big list (picked by the input mapping)."""
    return bc.fake_model(input["text"])


async def wide_append(input: dict) -> list[dict]:
    """wide_state append node: append one assistant item to the big list."""
    i = input["i"]
    return [{"id": bc.WIDE_N + i, "kind": "assistant", "text": bc.fake_model(f"step-{i}")}]


FUNCTIONS: dict[str, Callable[..., Any]] = {f.__name__: f for f in (
    step_async, step_sync, fan_dispatch_async, fan_dispatch_sync, fan_worker_async, fan_worker_io,
    fan_worker_sync, fan_total_async, fan_total_sync, quorum_dispatch, quorum_branch, quorum_decide,
    wide_read, wide_append)}

REGISTRY = Registry(functions={
    name: FunctionEntry(python=f"peer_rag:{name}", description=(f.__doc__ or "").split("\n")[0])
    for name, f in FUNCTIONS.items()})
"""The registry the cases compile against: one ``[functions.NAME]`` entry per node function."""


# --------------------------------------------------------------------------
# .rag sources
# --------------------------------------------------------------------------

PAUSE_NODE = {"interrupt_before": "pause_n{at}", "interrupt": "approve_n{at}"}
"""Name of the interrupt node the resume cases put before node ``n{at}``."""


def chain_source(n: int, fn: str, *, pause: str | None = None, at: int = 0) -> str:
    """``n0 -> ... -> n{n-1}``; node ``i`` calls ``fn`` with ``prompt = "step-i"`` and appends to ``items``.

    ``pause="interrupt_before"``: an interrupt node ``pause_n{at}`` runs before ``n{at}`` (resumed
    with any answer). ``pause="interrupt"``: an interrupt node ``approve_n{at}`` with options
    ``approved``/``rejected`` writes its answer to ``approval``, which ``n{at}`` receives as input.
    """
    extra = 1 if pause else 0
    out = [f"graph chain_{n} {{",
           "  input { items: list[string] }",
           "  output { items: list[string] }",
           f"  defaults {{ max_steps {n + extra + 10} }}",
           "  channel items append"]
    if pause == "interrupt":
        out.append("  channel approval last")
    out.append("  start n0")
    for i in range(n):
        nxt = f"n{i + 1}" if i + 1 < n else "END"
        if pause and i + 1 == at:
            nxt = PAUSE_NODE[pause].format(at=at)
        mapping = f'prompt: "step-{i}"'
        if pause == "interrupt" and i == at:
            mapping += ", approval: state.approval"
        out.append(f'  node n{i} {{ kind function  function "{fn}"  input {{ {mapping} }}  output items  next {nxt} }}')
    if pause == "interrupt_before":
        out.append(f'  node pause_n{at} {{ kind interrupt  prompt "continue with step {at}?"  next n{at} }}')
    elif pause == "interrupt":
        out.append(f'  node approve_n{at} {{\n    kind interrupt\n    prompt "approve step {at}?"\n'
                   f'    options ["approved", "rejected"]\n    output approval\n    next n{at}\n  }}')
    out.append("}")
    return "\n".join(out) + "\n"


def fanout_source(n: int, api: str, model: str) -> str:
    """``dispatch`` sends one ``worker`` branch per index, joined (policy all) at ``combine``."""
    suffix = "sync" if api == "sync" else "async"
    worker = "fan_worker_io" if model == "io10ms" else f"fan_worker_{suffix}"
    return f"""graph fanout_{n} {{
  input {{ n: int  results: list[string]  total_len: int }}
  output {{ results: list[string]  total_len: int }}
  defaults {{ max_steps {n + 12} }}
  channel n last
  channel results append
  channel total_len last
  start dispatch

  node dispatch {{
    kind function
    function "fan_dispatch_{suffix}"
    input {{ n: state.n }}
    send [ worker {{ i: item }} for item in result ]
    join combine
  }}
  node worker {{ kind function  function "{worker}"  input {{ i: payload.i }}  output results }}
  node combine {{ kind function  function "fan_total_{suffix}"  output total_len  next END }}
}}
"""


def quorum_source(policy: str) -> str:
    """``dispatch`` sends 10 ``branch`` entries (static list) joined at ``decide`` with ``policy``."""
    sends = ",\n".join(f"      branch {{ k: {k} }}" for k in range(len(bc.QUORUM_LAT_MS)))
    return f"""graph quorum {{
  output {{ winners: list[int] }}
  defaults {{ max_steps {len(bc.QUORUM_LAT_MS) + 12} }}
  channel results append
  channel winners last
  start dispatch

  node dispatch {{
    kind function
    function "quorum_dispatch"
    send [
{sends}
    ]
    join decide {{ policy {policy} }}
  }}
  node branch {{ kind function  function "quorum_branch"  input {{ k: payload.k }}  output results }}
  node decide {{ kind function  function "quorum_decide"  output winners  next END }}
}}
"""


def wide_source(mode: str, steps: int) -> str:
    """100 sequential nodes over a 10 000-item ``big`` list: read one item (readonly) or append one.

    No ``output`` block: the run returns its whole state, as LangGraph's ``invoke`` does (a declared
    output is also journaled with the run row when it completes, which would serialize ``big`` again).
    """
    reducer = "last" if mode == "readonly" else "append"
    out = [f"graph wide_state_{mode} {{",
           "  input { big: list[dict[any]]  last: string }",
           f"  defaults {{ max_steps {steps + 10} }}",
           f"  channel big {reducer}",
           "  channel last last",
           "  start w0"]
    for i in range(steps):
        nxt = f"w{i + 1}" if i + 1 < steps else "END"
        if mode == "readonly":
            body = f'function "wide_read"  input {{ text: state.big[{i}].text }}  output last'
        else:
            body = f'function "wide_append"  input {{ i: {i} }}  output big'
        out.append(f"  node w{i} {{ kind function  {body}  next {nxt} }}")
    out.append("}")
    return "\n".join(out) + "\n"


def program_source(case: bc.Case) -> str:
    """The ``.rag`` source text of a case."""
    v, w = case.v, case.workload
    if w in ("chain", "checkpoint_chain"):
        return chain_source(v["n"], "step_sync" if v["api"] == "sync" else "step_async")
    if w == "resume":
        return chain_source(v["n"], "step_async", pause=v["how"], at=v["at"])
    if w == "fanout":
        return fanout_source(v["n"], v["api"], v["model"])
    if w == "quorum":
        return quorum_source("all" if v["impl"] == "graph_all" else f"quorum {bc.QUORUM_K}")
    if w == "wide_state":
        return wide_source(v["mode"], v["steps"])
    raise ValueError(case.key)


class Program:
    """A case's ``.rag`` source compiled once; :meth:`workflow` binds it to a journal.

    Raises:
        RuntimeError: the source does not compile (with the rendered diagnostics).
    """

    def __init__(self, source: str, file: str):
        t0 = perf()
        result = compile_source(source, file, REGISTRY)
        if not result.ok or result.program is None:
            from ragc.diagnostics.render import render_text

            raise RuntimeError(render_text(result.diagnostics, result.sources))
        self.ir = result.program
        self.plain = self.workflow(None)  # engine preparation is part of the compile time
        self.compile_s = perf() - t0

    def workflow(self, store: Any) -> Workflow:
        """A :class:`Workflow` on ``store`` (``None``: no journal)."""
        return Workflow.from_program(self.ir, REGISTRY, functions=FUNCTIONS, journal=store)


# --------------------------------------------------------------------------
# journals, event tallies, runners
# --------------------------------------------------------------------------


def _memory_store_bytes(store: MemoryStore) -> int:
    """Bytes a :class:`MemoryStore` holds: it keeps run rows, records and events as the JSON text it
    would write to SQLite (the IR and the input once per run, one record per completion)."""
    total = 0
    for row in store._runs.values():
        total += sum(len(v.encode()) for v in row.values() if isinstance(v, str))
    for rows in store._records.values():
        total += sum(len(r[2]) + len(r[3]) + len(r[4].encode()) for r in rows)
    for rows in store._events.values():
        total += sum(len(r[2]) + len(r[3].encode()) for r in rows)
    return total


class Journal:
    """A fresh journal for one run: ``none``, a ``MemoryStore``, or a ``SqliteStore`` on a new file
    (schema created and writer thread started here, outside the timer)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.path = bc.tmp_db_path("rag") if kind == "sqlite" else None
        self.store: Any = None
        if kind == "memory":
            self.store = MemoryStore()
        elif kind == "sqlite":
            self.store = SqliteStore(self.path)

    def reopen(self) -> Any:
        """Cold reopen (sqlite): close the store and open a new one on the same file. Memory keeps
        the same store object."""
        if self.kind == "sqlite":
            self.store.close()
            self.store = SqliteStore(self.path)
        return self.store

    def persisted_mb(self) -> float | None:
        """SQLite: size of the file plus its WAL; memory: the JSON text the store holds."""
        if self.kind == "memory":
            return _memory_store_bytes(self.store) / 2**20
        if self.kind == "sqlite":
            return sum(os.path.getsize(self.path + x) for x in ("", "-wal") if os.path.exists(self.path + x)) / 2**20
        return None

    def node_records(self, run_id: str) -> int:
        """Number of ``node_completed`` records of a run."""
        return sum(1 for r in self.store.records(run_id) if r.kind == "node_completed")

    def close(self) -> None:
        """Close the store and delete the SQLite file (with its WAL)."""
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.path:
            bc.rm_db(self.path)


class Tally:
    """An ``on_event`` listener counting what a run did: executed and replayed activations (per
    node), cancelled activations, and the join outcome."""

    def __init__(self) -> None:
        self.executed = 0
        self.replayed = 0
        self.cancelled = 0
        self.executed_nodes: list[str] = []
        self.join: dict | None = None

    def __call__(self, ev: Any) -> None:
        t = type(ev)
        if t is NodeCompleted:
            if ev.replayed:
                self.replayed += 1
            else:
                self.executed += 1
                self.executed_nodes.append(ev.node)
        elif t is NodeCancelled:
            self.cancelled += 1
        elif t is JoinFired:
            self.join = {"policy": ev.policy, "succeeded": ev.succeeded, "failed": ev.failed,
                         "cancelled": ev.cancelled, "outcome": ev.outcome}


def _completed(res: Any) -> Any:
    """``res`` if the run completed; raises otherwise (a failed run must never be timed as a result)."""
    if res.status != "completed":
        raise RuntimeError(f"run {res.run_id} ended {res.status}: {res.error}")
    return res


async def _run_async(wf: Workflow, inp: dict, on_event: Callable | None = None) -> tuple[float, Any]:
    """Time one ``await wf.run(inp)``; returns ``(seconds, RunResult)``."""
    t0 = perf()
    res = await wf.run(inp, on_event=on_event)
    return perf() - t0, res


def _run_sync(wf: Workflow, inp: dict, on_event: Callable | None = None) -> tuple[float, Any]:
    """Time one ``wf.run_sync(inp)``; returns ``(seconds, RunResult)``."""
    t0 = perf()
    res = wf.run_sync(inp, on_event=on_event)
    return perf() - t0, res


STEPS_NOTE = ("steps = ragc's count of node activations (usage.steps; no supersteps), "
              "tasks = activations executed (NodeCompleted events)")
SYNC_NOTE = "api=sync: plain `def` function nodes and Workflow.run_sync (one event loop per call, no thread pool)"


# --------------------------------------------------------------------------
# case -> CaseRun
# --------------------------------------------------------------------------


def build(case: bc.Case) -> bc.CaseRun:
    """The :class:`bench_common.CaseRun` of one case (compiles its ``.rag`` program once)."""
    v, w = case.v, case.workload
    prog = Program(program_source(case), f"{case.name}.rag")
    builders = {"chain": _chain, "fanout": _fanout, "quorum": _quorum, "checkpoint_chain": _checkpoint_chain,
                "resume": _resume, "wide_state": _wide_state}
    return builders[w](case, v, prog)


def _plain_case(prog: Program, api: str, make_input: Callable[[], dict], check: Callable[[Any, Tally], dict],
                notes: str) -> bc.CaseRun:
    """A case without a journal: one workflow, timed ``run``/``run_sync`` calls."""
    wf = prog.plain
    if api == "async":
        async def run_once() -> dict:
            wall, res = await _run_async(wf, make_input())
            _completed(res)
            return {"wall_s": wall}

        async def validate() -> dict:
            tally = Tally()
            _, res = await _run_async(wf, make_input(), tally)
            return check(_completed(res), tally)

        return bc.CaseRun(run_once, validate, True, prog.compile_s, notes)

    def run_once_s() -> dict:
        wall, res = _run_sync(wf, make_input())
        _completed(res)
        return {"wall_s": wall}

    def validate_s() -> dict:
        tally = Tally()
        _, res = _run_sync(wf, make_input(), tally)
        return check(_completed(res), tally)

    return bc.CaseRun(run_once_s, validate_s, False, prog.compile_s, notes)


def _chain(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``chain_N``: N function nodes, no journal."""
    n = v["n"]
    expect = [bc.fake_model(f"step-{i}") for i in range(n)]

    def check(res: Any, tally: Tally) -> dict:
        return {"ok": res.output["items"] == expect, "steps": res.usage["steps"], "tasks": tally.executed}

    notes = f"{n} `kind function` nodes, no journal; " + STEPS_NOTE
    if v["api"] == "sync":
        notes += "; " + SYNC_NOTE
    return _plain_case(prog, v["api"], lambda: {"items": []}, check, notes)


def _fanout(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``fanout_N``: N worker branches joined (policy all), no journal."""
    n = v["n"]
    expect = [bc.fake_model(f"item-{i}") for i in range(n)]

    def check(res: Any, tally: Tally) -> dict:
        out = res.output
        ok = out["results"] == expect and out["total_len"] == sum(map(len, expect))
        return {"ok": ok, "steps": res.usage["steps"], "tasks": tally.executed, "join": tally.join}

    notes = ("`send [worker {i: item} for item in result]` + `join combine` (policy all): every worker is a "
             "branch frame on the event loop, no concurrency bound; results merge in branch order; " + STEPS_NOTE)
    if v["api"] == "sync":
        notes += "; " + SYNC_NOTE
    return _plain_case(prog, v["api"], lambda: {"n": n, "results": [], "total_len": 0}, check, notes)


def _quorum(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``quorum``: 10 branches, ``policy all`` (graph_all) or ``policy quorum 3``."""
    wait_all = v["impl"] == "graph_all"

    def check(res: Any, tally: Tally) -> dict:
        winners = res.output["winners"]
        ok = winners == list(bc.QUORUM_WINNERS) and tally.cancelled == (0 if wait_all else 7)
        return {"ok": ok, "steps": res.usage["steps"], "tasks": tally.executed, "winners": winners,
                "cancelled": tally.cancelled, "join": tally.join}

    if wait_all:
        notes = ("native `policy all` join: decide runs after all 10 branches and picks the 3 earliest by "
                 "completion timestamp")
    else:
        notes = (f"native `policy quorum 3` join (impl={v['impl']} maps to the same ragc program): the join "
                 "fires at the 3rd success and cancels the 7 other branches with their in-flight model calls; "
                 "winners' writes merge in branch order, decide orders them by completion timestamp")
    return _plain_case(prog, "async", dict, check, notes + "; " + STEPS_NOTE)


def _checkpoint_chain(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``checkpoint_chain_200``: the chain with a fresh journal per run."""
    n, kind, dur, api = v["n"], v["saver"], v["durability"], v["api"]
    expect = [bc.fake_model(f"step-{i}") for i in range(n)]
    notes = (f"fresh {'MemoryStore' if kind == 'memory' else 'SqliteStore on a new file'} per run, opened "
             "outside the timer; every node completion is committed before the next node starts")
    if dur == "async":
        notes += ("; durability=async: ragc has no async-durability mode, so this runs with its normal "
                  "(synchronous, stronger) durability")
    if kind == "sqlite":
        notes += "; SQLite WAL, synchronous=FULL (one fsync per commit), group commit in a writer thread"
    if api == "sync":
        notes += "; " + SYNC_NOTE
    notes += "; persisted_mb = " + ("file + WAL size" if kind == "sqlite" else
                                    "JSON text held by the MemoryStore (run row with IR and input, records, events)")

    def measure(res: Any, wall: float, journal: Journal, tally: Tally | None) -> dict:
        _completed(res)
        if tally is None:
            return {"wall_s": wall, "per_step_ms": wall / n * 1000}
        return {"ok": res.output["items"] == expect, "steps": res.usage["steps"], "tasks": tally.executed,
                "node_records": journal.node_records(res.run_id), "persisted_mb": journal.persisted_mb()}

    if api == "async":
        async def once(validating: bool = False) -> dict:
            journal = Journal(kind)
            try:
                wf = prog.workflow(journal.store)
                tally = Tally() if validating else None
                wall, res = await _run_async(wf, {"items": []}, tally)
                return measure(res, wall, journal, tally)
            finally:
                journal.close()

        async def validate() -> dict:
            return await once(True)

        return bc.CaseRun(once, validate, True, prog.compile_s, notes)

    def once_s(validating: bool = False) -> dict:
        journal = Journal(kind)
        try:
            wf = prog.workflow(journal.store)
            tally = Tally() if validating else None
            wall, res = _run_sync(wf, {"items": []}, tally)
            return measure(res, wall, journal, tally)
        finally:
            journal.close()

    return bc.CaseRun(once_s, lambda: once_s(True), False, prog.compile_s, notes)


def _resume(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``resume``: leg 1 stops at the interrupt before n50; the timed leg resumes it."""
    n, at, kind, how = v["n"], v["at"], v["saver"], v["how"]
    pause = PAUSE_NODE[how].format(at=at)
    answer = "approved" if how == "interrupt" else "continue"
    first_resumed = f"n{at}"
    expect = [bc.fake_model(f"step-{i}") for i in range(n)]
    notes = (f"interrupt node `{pause}` before n{at} "
             + ("(no options; ragc has no answer-less static breakpoint, so the resume answers it)"
                if how == "interrupt_before" else
                "(options approved/rejected; the answer is written to `approval`, which n50 gets as input; "
                "ragc's interrupt is its own node, so n50 runs once instead of re-executing)")
             + "; leg 1 runs n0..n49 and stops `interrupted`; the resume leg replays the 50 journaled completions "
             "and runs the interrupt node (answered) and n50..n99; "
             + ("sqlite: the resume uses a new SqliteStore and Workflow on the same file (cold resume; reopen "
                "untimed)" if kind == "sqlite" else "memory: the resume uses the same MemoryStore")
             + f"; resume_latency_s = resume call -> NodeCompleted of {first_resumed} (after its journal commit), "
             "via on_event; steps = usage.steps of the resume leg (replayed activations count), tasks = activations "
             "executed in it (the answered interrupt node + n50..n99)")

    async def once(validating: bool = False) -> dict:
        journal = Journal(kind)
        try:
            wf = prog.workflow(journal.store)
            leg1, first = await _run_async(wf, {"items": []})
            paused_ok = (first.status == "interrupted" and first.interrupt["node"] == pause
                         and first.state["items"] == expect[:at])
            if not paused_ok:
                raise RuntimeError(f"leg 1 did not stop at {pause}: {first.status} {first.error}")
            if kind == "sqlite":
                wf = prog.workflow(journal.reopen())
            tally = Tally()
            resumed_at: list[float] = []

            def on_event(ev: Any) -> None:
                if validating:
                    tally(ev)
                if not resumed_at and type(ev) is NodeCompleted and ev.node == first_resumed and not ev.replayed:
                    resumed_at.append(perf())

            t1 = perf()
            res = await wf.resume(first.run_id, answer=answer, on_event=on_event)
            wall = perf() - t1
            _completed(res)
            if not validating:
                return {"wall_s": wall, "resume_latency_s": resumed_at[0] - t1, "first_leg_s": leg1}
            chain_run = [x for x in tally.executed_nodes if x.startswith("n")]
            ok = (res.output["items"] == expect and chain_run == [f"n{i}" for i in range(at, n)]
                  and tally.replayed == at and pause in tally.executed_nodes)
            if how == "interrupt":
                ok = ok and res.state["approval"] == answer
            return {"ok": ok, "steps": res.usage["steps"], "tasks": tally.executed, "replayed": tally.replayed,
                    "chain_nodes_run": len(chain_run), "first_leg_steps": first.usage["steps"]}
        finally:
            journal.close()

    async def validate() -> dict:
        return await once(True)

    return bc.CaseRun(once, validate, True, prog.compile_s, notes)


def _wide_state(case: bc.Case, v: dict, prog: Program) -> bc.CaseRun:
    """``wide_state``: 100 nodes over a 10 000-item list, without or with a journal."""
    mode, kind, steps = v["mode"], v["saver"], v["steps"]
    notes = ("no journal" if kind == "none" else
             f"{'MemoryStore' if kind == 'memory' else 'SqliteStore (new file per run)'} journal: the input is "
             "stored once per run, each completion records only its delta")
    if mode == "append_delta":
        notes += "; append_delta = the same program as append (ragc's append channel already journals deltas)"
    notes += ("; readonly nodes read `state.big[i].text` through their input mapping" if mode == "readonly" else
              "; append nodes write one item to an `append` channel (in place after the first copy)")
    notes += "; the input declares `big: list[dict[any]]`, which the run validates item by item"

    def check(res: Any, tally: Tally) -> bool:
        out = res.state
        if mode == "readonly":
            return len(out["big"]) == bc.WIDE_N and out["last"] == bc.fake_model(f"message number {steps - 1}")
        return (len(out["big"]) == bc.WIDE_N + steps and out["big"][-1]["text"] == bc.fake_model(f"step-{steps - 1}")
                and tally.executed == steps)

    async def once(validating: bool = False) -> dict:
        big = bc.make_big_list()
        journal = Journal(kind)
        try:
            wf = prog.workflow(journal.store) if kind != "none" else prog.plain
            tally = Tally() if validating else None
            wall, res = await _run_async(wf, {"big": big, "last": ""}, tally)
            _completed(res)
            if validating:
                return {"ok": check(res, tally), "steps": res.usage["steps"], "tasks": tally.executed,
                        "persisted_mb": journal.persisted_mb()}
            out = {"wall_s": wall}
            if kind != "none":
                out["persisted_mb"] = journal.persisted_mb()
            return out
        finally:
            journal.close()

    async def validate() -> dict:
        return await once(True)

    return bc.CaseRun(once, validate, True, prog.compile_s, notes)
