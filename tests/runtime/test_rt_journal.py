"""The journal: records as deltas, resume by replay after a crash, interrupts,
graph-change refusal, fork, inspection."""

from __future__ import annotations

import sqlite3

import anyio
import pytest
from irb import cmp, fanout, fn, graph, join, node, nxt, program, routes, send

from ragc.runtime.engine import Engine
from ragc.runtime.errors import RunError
from ragc.runtime.journal import MemoryStore, SqliteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


def chain(n, *, output="items", fname="step"):
    nodes = [fn(f"n{i}", fname, input=i, output=output, routing=nxt(f"n{i + 1}") if i + 1 < n else None)
             for i in range(n)]
    return program(graph("chain", "n0", nodes, channels={output: "append"}))


class Counter:
    def __init__(self, slow_from=None, delay=0.0):
        self.calls: dict[int, int] = {}
        self.slow_from = slow_from
        self.delay = delay

    async def __call__(self, i):
        self.calls[i] = self.calls.get(i, 0) + 1
        if self.slow_from is not None and i >= self.slow_from:
            await anyio.sleep(self.delay)
        return f"s{i}"


async def test_each_completion_is_one_record_with_deltas(store, tmp_path):
    eng = Engine(chain(5), store=store, functions={"step": Counter()})
    r = await eng.start({})
    assert r.status == "completed"
    recs = store.records(r.run_id)
    done = [x for x in recs if x.kind == "node_completed"]
    assert [x.activation for x in done] == [f"n{i}#1" for i in range(5)]
    assert done[3].payload["r"] == "s3" and done[3].payload["o"] == 1
    info = store.get_run(r.run_id)
    assert info.status == "completed" and info.usage["steps"] == 5
    assert info.ir_hash == eng.program.hash
    types = [e["type"] for e in store.events(r.run_id)]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("node_completed") == 5 and types.count("checkpoint") == 5


async def test_large_input_is_stored_once_and_steps_store_only_deltas(store):
    big = [{"id": i, "kind": "user", "text": f"message number {i}"} for i in range(10_000)]
    nodes = [fn(f"w{i}", "step", input={"i": i}, output="big", routing=nxt(f"w{i + 1}") if i < 99 else None)
             for i in range(100)]
    g = graph("wide", "w0", nodes, channels={"big": "append"}, inputs={"big": {"type": "array"}})
    eng = Engine(program(g), store=store, functions={"step": lambda d: {"id": 10_000 + d["i"], "kind": "assistant",
                                                                         "text": "x"}})
    r = await eng.start({"big": big})
    assert r.status == "completed" and len(r.state["big"]) == 10_100
    conn = sqlite3.connect(store.path)
    input_bytes = conn.execute("SELECT length(input_json) FROM runs").fetchone()[0]
    record_bytes = conn.execute("SELECT sum(length(payload_json)) FROM records").fetchone()[0]
    conn.close()
    assert input_bytes > 400_000
    assert record_bytes < 30_000, record_bytes  # 100 small deltas, not 100 copies of the list


async def test_resume_after_a_crash_does_not_rerun_completed_nodes(store):
    counter = Counter(slow_from=6, delay=10)
    eng = Engine(chain(10), store=store, functions={"step": counter})
    run_id = "crash-1"
    with anyio.move_on_after(0.3):
        await eng.start({}, run_id=run_id)
    # a cancelled leg is journaled as such (a kill -9 leaves `running`: tests/security/test_sec_lease.py)
    assert store.get_run(run_id).status == "cancelled"
    assert store.lease(run_id) is None  # and it gave up its lease
    assert counter.calls == {i: 1 for i in range(7)}
    counter.delay = 0
    r = await eng.resume(run_id)
    assert r.status == "completed", r.error
    assert r.state["items"] == [f"s{i}" for i in range(10)]
    assert counter.calls == {**{i: 1 for i in range(6)}, 6: 2, 7: 1, 8: 1, 9: 1}
    assert r.usage["steps"] == 10


async def test_resume_replays_join_outcome_winners(store):
    lat = {0: 0.05, 1: 0.0, 2: 0.01}
    runs = {"n": 0}

    async def work(i):
        runs["n"] += 1
        await anyio.sleep(lat[i])
        return i

    async def slow_after(inp, state):
        await anyio.sleep(10)

    g = graph("q", "d", [
        fn("d", "noop", routing=fanout(send("w", {"i": "$item"}, foreach=("item", [0, 1, 2])), join="j")),
        fn("w", "work", input="$payload.i", output="res"),
        fn("after", "slow", routing=None),
    ], channels={"res": "append"}, joins=[join("j", "d", "after", policy="quorum", quorum=2)])
    eng = Engine(program(g), store=store, functions={"noop": lambda: None, "work": work, "slow": slow_after})
    with anyio.move_on_after(0.2):
        await eng.start({}, run_id="q1")
    assert runs["n"] == 3
    lat[0] = 0.0  # if branch 0 ran again it would win now; the recorded outcome must hold
    eng2 = Engine(program(g), store=store, functions={"noop": lambda: None, "work": work,
                                                       "slow": lambda: None})
    r = await eng2.resume("q1")
    assert r.status == "completed", r.error
    assert r.state["res"] == [1, 2]
    assert runs["n"] == 3, "no branch ran again"


def approval_graph():
    return program(graph("ap", "draft", [
        fn("draft", "draft", output="drafts", routing=nxt("ask")),
        node("ask", "interrupt", prompt="Publish {{ state.drafts[-1] }}?", options=["publish", "revise"],
             default="revise", routing=routes("human", ("publish", "pub"), ("revise", "draft"))),
        fn("pub", "publish", output="published"),
    ], channels={"drafts": "append", "published": "last"}))


async def test_interrupt_then_resume_with_answer(store):
    drafts = []

    def draft():
        drafts.append(1)
        return f"d{len(drafts)}"

    eng = Engine(approval_graph(), store=store, functions={"draft": draft, "publish": lambda i, s: s["drafts"][-1]})
    r = await eng.start({})
    assert r.status == "interrupted"
    assert r.interrupt["question"] == "Publish d1?" and r.interrupt["options"] == ["publish", "revise"]
    assert r.interrupt["activation"] == "ask#1"
    assert store.get_run(r.run_id).status == "interrupted"
    with pytest.raises(RunError) as e:
        await eng.resume(r.run_id, answer="maybe")
    assert e.value.code == "E0911" and "publish" in e.value.message
    r2 = await eng.resume(r.run_id, answer="revise")
    assert r2.status == "interrupted" and r2.interrupt["question"] == "Publish d2?"
    assert r2.interrupt["activation"] == "ask#2"
    r3 = await eng.resume(r.run_id, answer="publish")
    assert r3.status == "completed", r3.error
    assert r3.state["published"] == "d2"
    assert len(drafts) == 2, "draft ran once per round, never again on resume"
    with pytest.raises(RunError) as e:
        await eng.resume(r.run_id)
    assert e.value.code == "E0915"


async def test_interrupt_default_after_deadline(store):
    prog = program(graph("ap", "ask", [
        node("ask", "interrupt", prompt="ok?", options=["yes", "no"], default="no", timeout_s=0.01,
             output="answer"),
    ], channels={"answer": "last"}))
    eng = Engine(prog, store=store)
    r = await eng.start({})
    assert r.status == "interrupted" and r.interrupt["deadline"] is not None
    await anyio.sleep(0.02)
    r2 = await eng.resume(r.run_id)
    assert r2.status == "completed" and r2.state["answer"] == "no"


async def test_interrupt_before_deadline_stays_interrupted(store):
    prog = program(graph("ap", "ask", [node("ask", "interrupt", prompt="ok?", options=["yes"], default="yes",
                                            timeout_s=60)]))
    eng = Engine(prog, store=store)
    r = await eng.start({})
    assert r.status == "interrupted" and r.interrupt["deadline"] is not None
    r2 = await eng.resume(r.run_id)
    assert r2.status == "interrupted"  # no answer and the default is not due yet
    assert r2.interrupt["question"] == "ok?" and r2.interrupt["activation"] == "ask#1"
    assert r2.interrupt["deadline"] == r.interrupt["deadline"]  # resuming does not push the deadline back
    assert store.get_run(r.run_id).status == "interrupted"


async def test_resume_of_a_changed_graph_is_refused_then_forced(store):
    eng = Engine(approval_graph(), store=store, functions={"draft": lambda: "d", "publish": lambda: "p"})
    r = await eng.start({})
    assert r.status == "interrupted"
    changed = approval_graph()
    changed.graphs["ap"].nodes["pub"].output = None
    changed = changed.with_hash()
    eng2 = Engine(changed, store=store, functions={"draft": lambda: "d", "publish": lambda: "p"})
    with pytest.raises(RunError) as e:
        await eng2.resume(r.run_id, answer="publish")
    assert e.value.code == "E0913" and "node `pub` changed (output)" in e.value.message
    r2 = await eng2.resume(r.run_id, answer="publish", force=True)
    assert r2.status == "completed"
    assert store.get_run(r.run_id).ir_hash == changed.hash


async def test_fork_from_a_step_reruns_only_what_follows(store):
    counter = Counter()
    eng = Engine(chain(6), store=store, functions={"step": counter})
    r = await eng.start({})
    seqs = {x.activation: x.seq for x in store.records(r.run_id) if x.kind == "node_completed"}
    new_id = eng.fork(r.run_id, seqs["n2#1"])
    assert store.get_run(new_id).parent == r.run_id and store.get_run(new_id).status == "pending"
    r2 = await eng.resume(new_id)
    assert r2.status == "completed" and r2.run_id == new_id
    assert r2.state["items"] == [f"s{i}" for i in range(6)]
    assert counter.calls == {0: 1, 1: 1, 2: 1, 3: 2, 4: 2, 5: 2}


async def test_inspect_rebuilds_state_from_the_journal(store):
    eng = Engine(chain(4), store=store, functions={"step": Counter()})
    r = await eng.start({})
    lenient = Engine(chain(4), store=store, lenient=True)
    out = await lenient.inspect(r.run_id)
    assert out.status == "completed" and out.values["items"] == ["s0", "s1", "s2", "s3"]


async def test_memory_store_resume():
    store = MemoryStore()
    eng = Engine(approval_graph(), store=store, functions={"draft": lambda: "d", "publish": lambda: "p"})
    r = await eng.start({})
    r2 = await eng.resume(r.run_id, answer="publish")
    assert r2.status == "completed" and r2.state["published"] == "p"


async def test_without_journal_interrupts_cannot_resume():
    eng = Engine(approval_graph(), functions={"draft": lambda: "d", "publish": lambda: "p"})
    r = await eng.start({})
    assert r.status == "interrupted"
    with pytest.raises(RunError) as e:
        await eng.resume(r.run_id, answer="publish")
    assert e.value.code == "E0915"


async def test_branch_interrupt_stops_the_whole_run_and_resumes(store):
    calls = {"fast": 0}

    async def slow():
        await anyio.sleep(0.05)
        return "slow-done"

    def fast():
        calls["fast"] += 1
        return "fast-done"

    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("ask", "slow", "fast", join="j")),
        node("ask", "interrupt", prompt="go?", output="out"),
        fn("slow", "slow", output="out"),
        fn("fast", "fast", output="out"),
        fn("end", "noop"),
    ], channels={"out": "append"}, joins=[join("j", "fork", "end", sources=["ask", "slow", "fast"])])
    eng = Engine(program(g), store=store, functions={"noop": lambda: None, "slow": slow, "fast": fast})
    r = await eng.start({})
    assert r.status == "interrupted"
    r2 = await eng.resume(r.run_id, answer="yes")
    assert r2.status == "completed", r2.error
    assert r2.state["out"] == ["yes", "slow-done", "fast-done"]
    assert calls["fast"] == 1


async def test_loop_with_condition_replays_identically(store):
    counter = {"n": 0}

    def inc():
        counter["n"] += 1
        return 1

    async def block(inp, state):
        if state["count"] >= 3 and counter["n"] == 3:
            await anyio.sleep(10)
        return None

    g = graph("g", "inc", [
        fn("inc", "inc", output="count", routing=nxt("chk")),
        node("chk", "router", routing=routes("condition", ("again", "inc", cmp("<", "$state.count", 3)),
                                             ("done", "fin"))),
        fn("fin", "block"),
    ], channels={"count": "sum"})
    eng = Engine(program(g), store=store, functions={"inc": inc, "block": block})
    with anyio.move_on_after(0.2):
        await eng.start({}, run_id="loop1")
    counter["n"] = 100
    r = await eng.resume("loop1")
    assert r.status == "completed" and r.state["count"] == 3 and counter["n"] == 100


async def test_a_journal_that_fails_stops_the_run_with_E0915():
    from ragc.runtime.journal import StoreError

    class Failing(MemoryStore):
        def __init__(self):
            super().__init__()
            self.commits = 0

        async def commit(self, batch):
            self.commits += 1
            if self.commits == 4:
                raise StoreError("disk full")
            await super().commit(batch)

    g = graph("g", "fork", [
        fn("fork", "noop", routing=nxt("a", "b")), fn("a", "noop", routing=nxt("c")), fn("b", "noop"),
        fn("c", "noop"),
    ])
    store = Failing()
    r = await Engine(program(g), store=store, functions={"noop": lambda: None}).start({})
    assert r.status == "failed" and r.error.code == "E0915" and "disk full" in r.error.message
