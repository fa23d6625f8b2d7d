"""The scheduling core is deterministic and pure.

* The same IR and the same completion order give byte-identical journal
  records (payloads as stored, in seq order).
* Over random completion orders of a fan-out, the final state does not
  depend on the order (branches merge in branch order), and the recorded
  completions of the branches are the same records.
* The core modules import no clock, event loop, network or storage.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from irb import fanout, fn, graph, join, nxt, program, send

import ragc.runtime.scheduler as scheduler_mod
from ragc.runtime.engine import Engine
from ragc.runtime.journal import MemoryStore

SRC = Path(__file__).resolve().parents[2] / "src" / "ragc" / "runtime"
N = 6


def fan_program():
    """dispatch -> N branches of (worker -> tally) -> join all -> combine."""
    return program(graph("det", "dispatch", [
        fn("dispatch", "noop", routing=nxt("fan")),
        fn("fan", "noop", routing=fanout(send("worker", {"i": "$item"}, foreach=("item", "$input.items")),
                                          join="j")),
        fn("worker", "work", input="$payload.i", output="results", routing=nxt("tally")),
        fn("tally", "tally", input="$payload.i", output="seen", update={"total": "$result"}),
        fn("combine", "combine", output="summary"),
    ], channels={"results": "append", "seen": "union", "total": "sum", "summary": "last"},
        inputs={"items": {"type": "array"}}, joins=[join("j", "fan", "combine")]))


async def run_in_order(order: list[int]) -> tuple[list[tuple], dict]:
    """Run the fan-out with branch ``i``'s worker completing ``order.index(i)``-th;
    each next worker is released only once the previous branch's records
    are in the journal, so the completion order is exactly ``order``."""
    gates = [anyio.Event() for _ in range(N)]
    store = MemoryStore()

    async def work(i):
        await gates[i].wait()
        return f"r{i}"

    eng = Engine(fan_program(), store=store, functions={
        "noop": lambda: None, "work": work, "tally": lambda i: i * 10,
        "combine": lambda i, s: {"results": list(s["results"]), "total": s["total"]}})
    result = {}

    async def start():
        result["r"] = await eng.start({"items": list(range(N))}, run_id="run-det")

    async with anyio.create_task_group() as tg:
        tg.start_soon(start)
        for i in order:
            gates[i].set()
            want = f"fan#1/{i}:tally#1"
            with anyio.fail_after(10):
                while not any(r.activation == want for r in store.records("run-det")):
                    await anyio.sleep(0)
    r = result["r"]
    assert r.status == "completed", r.error
    rows = [(x.seq, x.activation, x.kind, json.dumps(x.payload, sort_keys=True)) for x in store.records("run-det")]
    return rows, r.state


@pytest.fixture
def fixed_clock(monkeypatch):
    # durations are facts the driver measures; with a fixed clock every byte is decided by the core
    monkeypatch.setattr(scheduler_mod, "_perf", lambda: 0.0)


def test_same_ir_and_completion_order_give_byte_identical_records(fixed_clock):
    order = [3, 0, 5, 1, 4, 2]
    first = anyio.run(run_in_order, order)
    second = anyio.run(run_in_order, order)
    assert first[0] == second[0]
    assert first[1] == second[1]
    kinds = [k for _, _, k, _ in first[0]]
    assert kinds.count("node_completed") == 2 + 2 * N + 1 and kinds.count("join_outcome") == 1
    # the journal order is the completion order
    workers = [a for _, a, k, _ in first[0] if a.endswith(":worker#1")]
    assert workers == [f"fan#1/{i}:worker#1" for i in order]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(list(range(N))))
def test_final_state_does_not_depend_on_the_completion_order(fixed_clock, order):
    rows, state = anyio.run(run_in_order, list(order))
    assert state["results"] == [f"r{i}" for i in range(N)]  # branch order, not completion order
    assert state["total"] == sum(i * 10 for i in range(N))
    assert state["summary"] == {"results": [f"r{i}" for i in range(N)], "total": 150}
    # each branch's completion record is the same whatever the order
    by_act = {a: p for _, a, k, p in rows if k == "node_completed"}
    for i in range(N):
        assert json.loads(by_act[f"fan#1/{i}:worker#1"])["r"] == f"r{i}"
    ref_rows, _ = anyio.run(run_in_order, list(range(N)))
    assert sorted((a, k, p) for _, a, k, p in rows) == sorted((a, k, p) for _, a, k, p in ref_rows)


CORE_MODULES = ("core.py", "joins.py", "frames.py", "records.py", "reducers.py", "compiled.py")
IMPURE = {"asyncio", "anyio", "time", "random", "os", "socket", "sqlite3", "httpx", "threading", "datetime",
          "secrets", "uuid", "subprocess"}


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_modules_import_no_clock_loop_or_io(name):
    tree = ast.parse((SRC / name).read_text(encoding="utf-8"))
    imported = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            imported |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            imported.add(n.module.split(".")[0])
    assert not imported & IMPURE, f"{name} imports {sorted(imported & IMPURE)}"


def test_importing_the_core_loads_no_event_loop_or_storage():
    code = ("import sys, ragc.runtime.core\n"
            "print([m for m in ('anyio', 'asyncio', 'sqlite3', 'httpx', 'ragc.runtime.journal', "
            "'ragc.runtime.scheduler') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
