"""Fan-out, joins (all / any / quorum / tolerate / timeout / optional),
detached nodes, concurrency bounds, subgraphs."""

from __future__ import annotations

import time

import anyio
import pytest
from irb import cmp, fanout, fn, graph, join, node, nxt, program, routes, send

from ragc.runtime.engine import Engine
from ragc.runtime.journal import MemoryStore

pytestmark = pytest.mark.anyio


def delayed(delays_ms):
    async def work(inp):
        await anyio.sleep(delays_ms[inp] / 1000)
        return f"r{inp}"
    return work


def map_reduce(n, *, policy="all", quorum=None, tolerate=None, timeout_s=None, max_concurrency=None,
               worker_output="results", max_steps=1000):
    return program(graph("mr", "dispatch", [
        fn("dispatch", "noop", routing=fanout(send("worker", {"i": "$item"}, foreach=("item", "$input.items")),
                                               join="j", max_concurrency=max_concurrency)),
        fn("worker", "work", input="$payload.i", output=worker_output),
        fn("combine", "combine", output="total"),
    ], channels={"results": "append", "total": "last"}, inputs={"items": {"type": "array"}},
        joins=[join("j", "dispatch", "combine", policy=policy, quorum=quorum, tolerate=tolerate,
                    timeout_s=timeout_s)], max_steps=max_steps))


async def test_map_reduce_merges_in_branch_order_whatever_the_completion_order():
    delays = [50, 10, 40, 0, 30, 20]
    eng = Engine(map_reduce(6), functions={"noop": lambda: None, "work": delayed(delays),
                                           "combine": lambda i, s: "+".join(s["results"])})
    r = await eng.start({"items": list(range(6))})
    assert r.status == "completed", r.error
    assert r.state["results"] == [f"r{i}" for i in range(6)]
    assert r.state["total"] == "r0+r1+r2+r3+r4+r5"


async def test_quorum_3_of_10_fires_at_third_completion_and_cancels_the_rest():
    lat = [70, 10, 100, 40, 30, 90, 20, 60, 80, 50]
    finished = []

    async def work(i):
        await anyio.sleep(lat[i] / 1000)
        finished.append(i)
        return i

    store = MemoryStore()
    events = []
    eng = Engine(map_reduce(10, policy="quorum", quorum=3), store=store,
                 functions={"noop": lambda: None, "work": work, "combine": lambda i, s: list(s["results"])})
    r = await eng.start({"items": list(range(10))}, listeners=[events.append])
    assert r.status == "completed", r.error
    # no wall-clock bound (it failed under load): `finished` below says the join fired at the
    # third completion (branch 3, done at 40 ms, never finished) and cancelled the rest
    assert sorted(r.state["results"]) == [1, 4, 6]
    assert r.state["results"] == [1, 4, 6]  # branch order, not completion order
    assert sorted(finished) == [1, 4, 6]  # the others never finished
    outcome = [x for x in store.records(r.run_id) if x.kind == "join_outcome"][0].payload
    assert outcome["counts"] == {"succeeded": 3, "failed": 0, "cancelled": 7, "skipped": 0}
    assert outcome["statuses"] == "coccococcc"
    cancelled = [e for e in events if type(e).__name__ == "NodeCancelled"]
    assert len(cancelled) == 7 and all(e.reason == "join fired" for e in cancelled)


async def test_any_fires_at_first_success_and_skips_failures():
    async def work(i):
        await anyio.sleep([5, 30, 600][i] / 1000)
        if i == 0:
            raise RuntimeError("first one fails")
        return i

    eng = Engine(map_reduce(3, policy="any"), functions={"noop": lambda: None, "work": work,
                                                          "combine": lambda i, s: list(s["results"])})
    t = time.perf_counter()
    r = await eng.start({"items": [0, 1, 2]})
    assert r.status == "completed", r.error
    assert r.state["results"] == [1]
    assert time.perf_counter() - t < 0.3  # did not wait for the 600 ms branch


async def test_any_fails_when_every_branch_fails():
    def work(i):
        raise RuntimeError(f"no {i}")

    eng = Engine(map_reduce(2, policy="any"), functions={"noop": lambda: None, "work": work, "combine": lambda: 0})
    r = await eng.start({"items": [0, 1]})
    assert r.status == "failed" and r.error.code == "E0910"
    assert "0 succeeded, 2 failed" in r.error.message and "no 0" in r.error.message


async def test_tolerate_records_failures_in_errors_channel():
    def work(i):
        if i == 1:
            raise ValueError("bad item")
        return i

    eng = Engine(map_reduce(3, tolerate=1), functions={"noop": lambda: None, "work": work,
                                                        "combine": lambda i, s: len(s["errors"])})
    r = await eng.start({"items": [0, 1, 2]})
    assert r.status == "completed", r.error
    assert r.state["results"] == [0, 2]
    assert r.state["total"] == 1
    err = r.state["errors"][0]
    assert err["node"] == "worker" and err["activation"] == "dispatch#1/1:worker#1"
    assert err["error_kind"] == "function" and "bad item" in err["message"]


async def test_failures_beyond_tolerate_fail_the_join():
    def work(i):
        if i > 0:
            raise ValueError(f"bad {i}")
        return i

    eng = Engine(map_reduce(3, tolerate=1), functions={"noop": lambda: None, "work": work, "combine": lambda: 0})
    r = await eng.start({"items": [0, 1, 2]})
    assert r.status == "failed" and r.error.code == "E0910"
    assert r.error.node == "combine" or r.error.node == "dispatch"


async def test_join_timeout_cancels_pending_and_counts_them_as_failures():
    eng = Engine(map_reduce(3, timeout_s=0.05, tolerate=5),
                 functions={"noop": lambda: None, "work": delayed([0, 10, 2000]),
                            "combine": lambda i, s: [e["error_kind"] for e in s["errors"]]})
    t = time.perf_counter()
    r = await eng.start({"items": [0, 1, 2]})
    assert time.perf_counter() - t < 0.5
    assert r.status == "completed", r.error
    assert r.state["results"] == ["r0", "r1"]
    assert r.state["total"] == ["timeout"]


async def test_join_timeout_without_tolerance_fails():
    eng = Engine(map_reduce(2, timeout_s=0.03), functions={"noop": lambda: None, "work": delayed([0, 2000]),
                                                            "combine": lambda: 0})
    t = time.perf_counter()
    r = await eng.start({"items": [0, 1]})
    assert time.perf_counter() - t < 0.5  # the join gave up at its timeout, not when the 2 s branch ended
    assert r.status == "failed" and r.error.code == "E0910" and "timeout" in r.error.message


async def test_max_concurrency_bounds_branches_in_flight():
    live = {"now": 0, "peak": 0}

    async def work(i):
        live["now"] += 1
        live["peak"] = max(live["peak"], live["now"])
        await anyio.sleep(0.005)
        live["now"] -= 1
        return i

    eng = Engine(map_reduce(20, max_concurrency=3), functions={"noop": lambda: None, "work": work,
                                                                "combine": lambda: 0})
    r = await eng.start({"items": list(range(20))})
    assert r.status == "completed"
    assert live["peak"] == 3
    assert r.state["results"] == list(range(20))


async def test_static_fork_with_optional_branch_skipped_by_a_route():
    # fork -> [a, gate]; gate routes to b (a join source) or skips to END; join node `done` counts
    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("a", "gate", join="j")),
        fn("a", "val", input="a", output="out"),
        node("gate", "router", routing=routes("condition", ("go", "b", cmp("==", "$input.take_b", True)),
                                              ("skip", "END"))),
        fn("b", "val", input="b", output="out", optional=True),
        node("done", "join", output="counts", routing=routes("outcome", ("ok", "END"), ("error", "END"))),
    ], channels={"out": "append", "counts": "last"}, inputs={"take_b": {"type": "boolean"}},
        joins=[join("j", "fork", "done", sources=["a", "b"], node="done", optional=["b"])])
    eng = Engine(program(g), functions={"noop": lambda: None, "val": lambda v: v})
    r = await eng.start({"take_b": False})
    assert r.status == "completed", r.error
    assert r.state["out"] == ["a"]
    assert r.state["counts"] == {"succeeded": 1, "failed": 0, "cancelled": 0, "skipped": 1}
    r = await eng.start({"take_b": True})
    assert r.state["out"] == ["a", "b"]
    assert r.state["counts"]["succeeded"] == 2


async def test_kind_join_error_route_takes_a_failed_join():
    def bad():
        raise RuntimeError("nope")

    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("a", "b", join="j")),
        fn("a", "val", input="a", output="out"),
        fn("b", "bad"),
        node("done", "join", routing=routes("outcome", ("ok", "END"), ("error", "recover"))),
        fn("recover", "val", input="recovered", output="out"),
    ], channels={"out": "append"},
        joins=[join("j", "fork", "done", sources=["a", "b"], node="done")])
    r = await Engine(program(g), functions={"noop": lambda: None, "val": lambda v: v, "bad": bad}).start({})
    assert r.status == "completed", r.error
    assert r.state["out"] == ["a", "recovered"]
    assert r.state["errors"][0]["node"] == "b"


async def test_fork_without_join_merges_when_the_last_branch_ends():
    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("slow", "fast")),
        fn("slow", "slow", output="out"),
        fn("fast", "val", input="fast", output="out"),
    ], channels={"out": "append"})

    async def slow():
        await anyio.sleep(0.02)
        return "slow"

    r = await Engine(program(g), functions={"noop": lambda: None, "val": lambda v: v, "slow": slow}).start({})
    assert r.status == "completed"
    assert r.state["out"] == ["slow", "fast"]


async def test_branches_see_the_fork_snapshot_plus_their_own_writes():
    seen = {}

    def look(i, state):
        seen[i] = list(state["log"])
        return f"b{i}"

    g = graph("g", "pre", [
        fn("pre", "val", input="pre", output="log", routing=nxt("fork")),
        fn("fork", "noop", routing=fanout(send("step", {"i": "$item"}, foreach=("item", [0, 1])), join="j")),
        fn("step", "look", input="$payload.i", output="log", routing=nxt("after")),
        fn("after", "look2", input="$payload.i", output="log"),
        fn("end", "noop"),
    ], channels={"log": "append"}, joins=[join("j", "fork", "end")])
    eng = Engine(program(g), functions={"noop": lambda: None, "val": lambda v: v, "look": look,
                                        "look2": lambda i, s: "|".join(s["log"])})
    r = await eng.start({})
    assert r.status == "completed", r.error
    assert seen == {0: ["pre"], 1: ["pre"]}
    assert r.state["log"] == ["pre", "b0", "pre|b0", "b1", "pre|b1"]


async def test_nested_fanout_inside_a_branch():
    g = graph("g", "outer", [
        fn("outer", "noop", routing=fanout(send("inner", {"g": "$item"}, foreach=("item", [0, 1])), join="j1")),
        fn("inner", "noop", routing=fanout(send("leaf", {"v": "{{ payload.g }}-{{ item }}"},
                                                foreach=("item", [0, 1, 2])), join="j2")),
        fn("leaf", "val", input="$payload.v", output="out"),
        fn("mid", "val", input="mid{{ payload.g }}", output="out"),
        fn("top", "noop"),
    ], channels={"out": "append"}, joins=[join("j1", "outer", "top"), join("j2", "inner", "mid")])
    r = await Engine(program(g), functions={"noop": lambda: None, "val": lambda v: v}).start({})
    assert r.status == "completed", r.error
    assert r.state["out"] == ["0-0", "0-1", "0-2", "mid0", "1-0", "1-1", "1-2", "mid1"]


async def test_detached_node_runs_alongside_and_merges_before_completion():
    order = []

    async def audit():
        await anyio.sleep(0.03)
        order.append("audit")
        return "audited"

    def main(v):
        order.append("main")
        return v

    g = graph("g", "a", [
        fn("a", "main", input="a", output="out", routing=nxt("auditor")),
        fn("auditor", "audit", output="audit", blocking=False, routing=nxt("b")),
        fn("b", "main", input="b", output="out"),
    ], channels={"out": "append", "audit": "append"})
    r = await Engine(program(g), functions={"main": main, "audit": audit}).start({})
    assert r.status == "completed", r.error
    assert order == ["main", "main", "audit"]
    assert r.state["audit"] == ["audited"] and r.state["out"] == ["a", "b"]


async def test_failed_detached_node_is_recorded_in_errors():
    def boom():
        raise RuntimeError("audit broke")

    g = graph("g", "a", [fn("a", "noop", routing=nxt("d")), fn("d", "boom", blocking=False, routing=nxt("b")),
                         fn("b", "noop")])
    r = await Engine(program(g), functions={"noop": lambda: None, "boom": boom}).start({})
    assert r.status == "completed"
    assert r.state["errors"][0]["node"] == "d" and "audit broke" in r.state["errors"][0]["message"]


async def test_nested_subgraphs_have_namespaced_state_and_return_output():
    inner = graph("inner", "i1", [fn("i1", "val", input="{{ input.x }}!", output="res")],
                  channels={"res": "last", "shared": "append"}, inputs={"x": {"type": "string"}}, output=["res"])
    mid = graph("mid", "m1", [
        node("m1", "subgraph", graph="inner", input={"x": "{{ input.x }}-mid"}, output="sub", routing=nxt("m2")),
        fn("m2", "val", input="$state.sub.res", output="res"),
    ], channels={"sub": "last", "res": "last", "shared": "append"}, inputs={"x": {"type": "string"}},
        output=["res"])
    outer = graph("outer", "o1", [
        fn("o1", "val", input="outer", output="shared", routing=nxt("o2")),
        node("o2", "subgraph", graph="mid", input={"x": "top"}, output="got"),
    ], channels={"shared": "append", "got": "last"})
    store = MemoryStore()
    r = await Engine(program(outer, mid, inner), store=store, functions={"val": lambda v: v}).start({})
    assert r.status == "completed", r.error
    assert r.state["got"] == {"res": "top-mid!"}
    assert r.state["shared"] == ["outer"]  # subgraph channels are their own
    acts = [x.activation for x in store.records(r.run_id) if x.kind == "node_completed"]
    assert "o2#1>m1#1>i1#1" in acts and "o2#1>m2#1" in acts


async def test_subgraph_depth_limit_E0907():
    inner = graph("inner", "i1", [fn("i1", "noop")])
    outer = graph("outer", "o1", [node("o1", "subgraph", graph="inner")], max_subgraph_depth=0)
    r = await Engine(program(outer, inner), functions={"noop": lambda: None}).start({})
    assert r.status == "failed" and r.error.code == "E0907" and r.error.node == "o1"
    # the same program with room for one level runs: the limit, not the subgraph, failed it
    outer = graph("outer", "o1", [node("o1", "subgraph", graph="inner")], max_subgraph_depth=1)
    r = await Engine(program(outer, inner), functions={"noop": lambda: None}).start({})
    assert r.status == "completed", r.error


async def test_fanout_10000_is_fast_and_ordered():
    n = 10_000
    r = await Engine(map_reduce(n), functions={"noop": lambda: None, "work": lambda i: i,
                                               "combine": lambda: 0}).start({"items": list(range(n))})
    assert r.status == "failed" and r.error.code == "E0901"  # every branch counts towards max_steps
    eng = Engine(map_reduce(n, max_steps=n + 2), functions={"noop": lambda: None, "work": lambda i: i,
                                           "combine": lambda i, s: len(s["results"])})
    t = time.perf_counter()
    r = await eng.start({"items": list(range(n))})
    wall = time.perf_counter() - t
    assert r.status == "completed"
    assert r.state["results"] == list(range(n)) and r.state["total"] == n
    assert wall < 2.0, f"{wall:.2f}s"


async def test_run_deadline_E0906_cancels_everything():
    started, cancelled, finished = [], [], []

    async def slow(inp):
        started.append(inp)
        try:
            await anyio.sleep(5)
        except anyio.get_cancelled_exc_class():
            cancelled.append(inp)
            raise
        finished.append(inp)

    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("a", "b")),
        fn("a", "slow", input="a"), fn("b", "slow", input="b"),
    ], deadline_s=0.05)
    t = time.perf_counter()
    r = await Engine(program(g), functions={"noop": lambda: None, "slow": slow}).start({})
    assert time.perf_counter() - t < 1
    assert r.status == "failed" and r.error.code == "E0906" and "0.05s" in r.error.message
    assert sorted(started) == ["a", "b"]
    assert sorted(cancelled) == ["a", "b"] and finished == []  # both branches were cancelled, not left running
