"""Model, agent, subagent and tool nodes through the real harness with the
scripted provider: structured output, model-chosen routes, the split tool
loop, agent send targets, cancellation of in-flight calls, retries,
timeouts, budgets, and exactly-once effects on resume."""

from __future__ import annotations

import json
import time

import anyio
import pytest
from irb import fanout, graph, join, node, nxt, program, routes, send

from ragc.harness.errors import ProviderError
from ragc.harness.providers.base import ProviderContext
from ragc.harness.providers.scripted import ScriptedProvider
from ragc.harness.types import Message, ModelRequest
from ragc.registry.model import ModelEntry
from ragc.runtime.engine import Engine
from ragc.runtime.journal import MemoryStore, SqliteStore

pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------- the provider itself


def provider(tmp_path, lines, env=None):
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return ScriptedProvider("m", ModelEntry(provider="scripted", script="s.jsonl"),
                            ProviderContext(base_dir=tmp_path, env=env or {}))


def ask(text, schema=None):
    return ModelRequest(messages=[Message(role="user", content=text)], response_schema=schema)


async def test_scripted_provider_matches_first_unused_line_with_when(tmp_path):
    p = provider(tmp_path, [{"text": "generic"}, {"when": "apple", "text": "fruit"}, {"text": "again", "repeat": True}])
    assert (await p.complete(ask("tell me about apple pie"))).message.content == "generic"
    assert (await p.complete(ask("apple"))).message.content == "fruit"
    assert (await p.complete(ask("x"))).message.content == "again"
    assert (await p.complete(ask("y"))).message.content == "again"


async def test_scripted_provider_routes_json_tool_calls_usage(tmp_path):
    p = provider(tmp_path, [{"route": "billing"}, {"json": {"a": 1}},
                            {"tool_calls": [{"name": "add", "arguments": {"x": 1}}]}])
    r = await p.complete(ask("q", {"type": "object"}))
    assert r.structured == {"route": "billing"}
    r = await p.complete(ask("q", {"type": "object"}))
    assert r.structured == {"a": 1}
    r = await p.complete(ask("three words here"))
    assert r.message.tool_calls[0].name == "add" and r.finish_reason == "tool_calls"
    assert r.usage.input_tokens == 3 and r.usage.model_calls == 1


async def test_scripted_provider_errors_and_exhaustion(tmp_path):
    p = provider(tmp_path, [{"error": {"kind": "rate_limit", "status": 429, "retry_after": 2}}])
    with pytest.raises(ProviderError) as e:
        await p.complete(ask("x"))
    assert e.value.kind == "rate_limit" and e.value.status == 429 and e.value.retry_after_s == 2
    with pytest.raises(ProviderError) as e:
        await p.complete(ask("nothing left"))
    assert e.value.kind == "bad_request" and "s.jsonl" in str(e.value) and "nothing left" in str(e.value)


async def test_scripted_provider_delay_is_cancellable_and_logged(tmp_path):
    log = tmp_path / "calls.log"
    p = provider(tmp_path, [{"text": "slow", "delay_ms": 5000}, {"text": "fast", "delay_ms": 1}],
                 env={"RAGC_SCRIPTED_LOG": str(log)})
    t = time.perf_counter()
    with anyio.move_on_after(0.05):
        await p.complete(ask("a"))
    assert time.perf_counter() - t < 1
    assert (await p.complete(ask("b"))).message.content == "fast"
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2], "only completed calls are logged"


# ---------------------------------------------------------------- nodes


async def test_model_node_text_structured_and_routes(scripted):
    reg = scripted({"m": [
        {"when": "summarise", "text": "a summary"},
        {"when": "extract", "json": {"title": "T", "n": 2}},
        {"when": "classify", "route": "tech"},
    ]})
    g = graph("g", "s", [
        node("s", "model", model="m", prompt="summarise {{ input.doc }}", output="summary", routing=nxt("x")),
        node("x", "model", model="m", prompt="extract", output="data",
             output_schema={"type": "object", "properties": {"title": {"type": "string"}}}, routing=nxt("c")),
        node("c", "model", model="m", prompt="classify {{ state.summary }}", output="label",
             routing=routes("model", ("billing", "END"), ("tech", "t"))),
        node("t", "function", function="seen", output="seen"),
    ], channels={"summary": "last", "data": "last", "label": "last", "seen": "last"},
        inputs={"doc": {"type": "string"}})
    r = await Engine(program(g), registry=reg, functions={"seen": lambda: "tech path"}).start({"doc": "D"})
    assert r.status == "completed", r.error
    assert r.state["summary"] == "a summary"
    assert r.state["data"] == {"title": "T", "n": 2}
    assert r.state["label"] == "tech" and r.state["seen"] == "tech path"
    assert r.usage["model_calls"] == 3


async def test_model_choosing_an_undeclared_label_is_E0903(scripted):
    reg = scripted({"m": [{"route": "sideways"}]})
    g = graph("g", "c", [node("c", "model", model="m", prompt="pick",
                               routing=routes("model", ("a", "END"), ("b", "END")))])
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "failed" and r.error.code == "E0903" and "`sideways`" in r.error.message


async def test_split_tool_loop_model_and_tool_nodes(scripted):
    def add(x: int, y: int) -> int:
        """Add two numbers."""
        return x + y

    reg = scripted({"m": [
        {"tool_calls": [{"name": "add", "arguments": {"x": 2, "y": 3}}]},
        {"text": "the sum is 5"},
    ]}, tools={"add": {"python": "add"}})
    g = graph("g", "think", [
        node("think", "model", model="m", prompt="add 2 and 3", tools=["add"], output="msgs",
             routing=routes("model", ("tool_call", "act"), ("final", "END"))),
        node("act", "tool", output="msgs", routing=nxt("think")),
    ], channels={"msgs": "messages"})
    r = await Engine(program(g), registry=reg, functions={"add": add}).start({})
    assert r.status == "completed", r.error
    msgs = r.state["msgs"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert msgs[0]["content"] == "add 2 and 3"  # posted once, on the first visit
    assert msgs[2]["content"] == "5" and msgs[2]["tool_call_id"] == msgs[1]["tool_calls"][0]["id"]
    assert msgs[3]["content"] == "the sum is 5" and msgs[3]["name"] == "think"


async def test_tool_node_single_call_and_failure_route(scripted, tmp_path):
    (tmp_path / "note.txt").write_text("hello file")
    reg = scripted({}, tools={"read_file": {"builtin": "read_file"}})
    g = graph("g", "r", [
        node("r", "tool", tool="read_file", args={"path": "note.txt"}, output="text", routing=nxt("bad")),
        node("bad", "tool", tool="read_file", args={"path": "missing.txt"},
             routing=routes("outcome", ("ok", "END"), ("error", "END"))),
    ], channels={"text": "last"})
    r = await Engine(program(g), registry=reg, workspace=tmp_path).start({})
    assert r.status == "completed", r.error
    assert "hello file" in json.dumps(r.state["text"])
    assert r.state["errors"][0]["node"] == "bad" and r.state["errors"][0]["error_kind"] == "tool"


async def test_agent_and_subagent_nodes(scripted):
    reg = scripted({"m": [
        {"when": "plan", "text": "the plan"},
        {"when": "Review: the plan", "text": "looks good"},
    ]}, agents={"reviewer": {"model": "m", "system": "You review.", "prompt": "Review: {{ input.what }}",
                             "output": "reviews"}})
    g = graph("g", "a", [
        node("a", "agent", model="m", prompt="make a plan", output="plan", routing=nxt("r")),
        node("r", "subagent", agent="reviewer", input={"what": "$state.plan"}, output="reviews"),
    ], channels={"plan": "last", "reviews": "append"})
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "completed", r.error
    assert r.state["plan"] == "the plan" and r.state["reviews"] == ["looks good"]


async def test_agent_stopped_for_repeating_itself_keeps_a_recovered_answer(scripted):
    same = {"tool_calls": [{"name": "signal_check", "arguments": {"x": 1}}]}
    reg = scripted({"m": [same, same, same, {"text": "the answer after all"}]},
                   tools={"signal_check": {"python": "check"}})
    g = graph("g", "a", [node("a", "agent", model="m", prompt="go", tools=["signal_check"], output="out",
                              max_iterations=8)], channels={"out": "last"})
    r = await Engine(program(g), registry=reg, functions={"check": lambda x: "ok"}).start({})
    assert r.status == "completed", r.error
    assert r.state["out"] == "the answer after all"
    stuck = scripted({"m": [same, same, same, same]}, tools={"signal_check": {"python": "check"}})
    r = await Engine(program(g), registry=stuck, functions={"check": lambda x: "ok"}).start({})
    assert r.status == "failed" and r.error.code == "E0909"  # no answer at all: the node fails


async def test_agent_result_is_the_signal_after_signal_completion(scripted):
    reg = scripted({"m": [
        {"when": "task one", "tool_calls": [{"name": "signal_completion",
                                             "arguments": {"signal": "blocked", "reason": "no network"}}]},
        {"when": "task two", "text": "just text"},
    ]}, tools={"signal_completion": {"builtin": "signal_completion"}})
    g = graph("g", "a", [
        node("a", "agent", model="m", prompt="task one", tools=["signal_completion"], output="first",
             routing=nxt("b")),
        node("b", "agent", model="m", prompt="task two", tools=["signal_completion"], output="second"),
    ], channels={"first": "last", "second": "last"})
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "completed", r.error
    assert r.state["first"] == {"signal": "blocked", "reason": "no network"}
    assert r.state["second"] == "just text"


async def test_send_to_registry_agents_with_quorum_cancels_in_flight_calls(scripted):
    lines = [{"when": f"focus {k}", "text": f"review {k}", "delay_ms": d}
             for k, d in enumerate([70, 10, 100, 40, 30, 90, 20, 60, 80, 50])]
    reg = scripted({"m": lines + [{"when": "decide", "text": "merge"}]},
                   agents={"reviewer": {"model": "m", "prompt": "focus {{ input.k }}", "output": "reviews"}})
    g = graph("g", "d", [
        node("d", "function", function="noop",
             routing=fanout(send("reviewer", {"k": "$item"}, foreach=("item", list(range(10))), agent=True,
                                 output="reviews"), join="j")),
        node("decide", "model", model="m", prompt="decide {{ state.reviews }}", output="verdict"),
    ], channels={"reviews": "append", "verdict": "last"},
        joins=[join("j", "d", "decide", policy="quorum", quorum=3)])
    store = MemoryStore()
    events = []
    t = time.perf_counter()
    r = await Engine(program(g), registry=reg, store=store, functions={"noop": lambda: None}).start(
        {}, listeners=[events.append])
    wall = time.perf_counter() - t
    assert r.status == "completed", r.error
    assert r.state["reviews"] == ["review 1", "review 4", "review 6"]
    assert wall < 0.2, wall
    effects = [x for x in store.records(r.run_id) if x.kind == "effect"]
    assert len(effects) == 4  # three reviewers and `decide`; cancelled calls record nothing
    outcome = [x.payload for x in store.records(r.run_id) if x.kind == "join_outcome"][0]
    assert outcome["counts"]["cancelled"] == 7
    started = [e for e in events if type(e).__name__ == "ModelCallStarted"]
    completed = [e for e in events if type(e).__name__ == "ModelCallCompleted"]
    assert len(started) == 11 and len(completed) == 4


async def test_node_retry_with_backoff_and_error_filter(scripted):
    reg = scripted({"m": [
        {"error": {"kind": "server", "status": 500}},
        {"error": {"kind": "server", "status": 500}},
        {"text": "third time lucky"},
    ]})
    g = graph("g", "a", [node("a", "model", model="m", prompt="x", output="out",
                              retry={"max_attempts": 3, "initial_s": 0.01, "backoff": "exponential",
                                     "jitter": False, "on": ["server"]})], channels={"out": "last"})
    events = []
    t = time.perf_counter()
    r = await Engine(program(g), registry=reg).start({}, listeners=[events.append])
    assert r.status == "completed" and r.state["out"] == "third time lucky"
    retried = [e for e in events if type(e).__name__ == "NodeRetried"]
    assert [e.attempt for e in retried] == [2, 3] and [e.delay_s for e in retried] == [0.01, 0.02]
    assert time.perf_counter() - t >= 0.03

    reg = scripted({"m": [{"error": {"kind": "server", "status": 500}}, {"text": "never"}]})
    g2 = graph("g", "a", [node("a", "model", model="m", prompt="x", output="out",
                               retry={"max_attempts": 3, "initial_s": 0.0, "on": ["rate_limit"]})],
               channels={"out": "last"})
    r = await Engine(program(g2), registry=reg).start({})
    assert r.status == "failed" and r.error.code == "E0909" and r.error.kind == "server"


async def test_per_node_timeout_E0904_then_retry(scripted):
    reg = scripted({"m": [{"text": "slow", "delay_ms": 2000}, {"text": "quick"}]})
    g = graph("g", "a", [node("a", "model", model="m", prompt="x", output="out", timeout_s=0.05)],
              channels={"out": "last"})
    t = time.perf_counter()
    r = await Engine(program(g), registry=reg).start({})
    assert time.perf_counter() - t < 1
    assert r.status == "failed" and r.error.code == "E0904" and r.error.node == "a"
    reg = scripted({"m": [{"text": "slow", "delay_ms": 2000}, {"text": "quick"}]})
    g = graph("g", "a", [node("a", "model", model="m", prompt="x", output="out", timeout_s=0.05,
                              retry={"max_attempts": 2, "initial_s": 0, "on": ["timeout"]})],
              channels={"out": "last"})
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "completed" and r.state["out"] == "quick"


@pytest.mark.parametrize("budget,limit,calls", [
    ({"max_model_calls": 2}, "max_model_calls", 2),  # the third call is refused before it is made
    ({"max_tokens": 25}, "max_tokens", 3),  # tokens and cost are known after the third call: 33 > 25
    ({"max_cost_usd": 0.00005}, "max_cost_usd", 3),  # $0.000063 > $0.00005
])
async def test_node_budgets_E0905(scripted, budget, limit, calls):
    reg = scripted({"m": [{"text": "ten words of output to count here one two three", "repeat": True}]},
                   price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
    g = graph("g", "a", [node("a", "model", model="m", prompt="x", output="out", budget=budget, routing=nxt("a"))],
              channels={"out": "append"})
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "failed" and r.error.code == "E0905", r.error
    assert limit in r.error.message and r.error.node == "a"
    assert r.error.message.startswith("node `a` ") and r.error.message.count("node `a`") == 1
    assert r.usage["model_calls"] == calls and len(r.state["out"]) == 2  # two visits completed, the third failed
    if limit == "max_cost_usd":
        assert "spent $0.000063, over its max_cost_usd $0.00005" in r.error.message


async def test_graph_budget_counts_the_whole_run(scripted):
    reg = scripted({"m": [{"text": "x", "repeat": True}]},
                   agents={"helper": {"model": "m", "prompt": "help", "output": "out"}})
    g = graph("g", "a", [
        node("a", "model", model="m", prompt="x", output="out", routing=nxt("b")),
        node("b", "subagent", agent="helper", output="out", routing=nxt("a")),
    ], channels={"out": "append"}, budget={"max_model_calls": 3})
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "failed" and r.error.code == "E0905" and r.usage["model_calls"] == 3
    assert "the graph" in r.error.message


async def test_policy_budget_applies(scripted):
    from ragc.registry.model import PolicyEntry

    reg = scripted({"m": [{"text": "x", "repeat": True}]}, policies={"default": PolicyEntry(max_model_calls=1)})
    g = graph("g", "a", [node("a", "model", model="m", prompt="x", routing=nxt("b")),
                         node("b", "model", model="m", prompt="y")])
    r = await Engine(program(g), registry=reg).start({})
    assert r.status == "failed" and r.error.code == "E0905" and "policy `default`" in r.error.message
    assert r.error.node == "b" and r.usage["model_calls"] == 1  # `a` used the one call the policy allows


async def test_resume_serves_recorded_model_calls_of_an_in_flight_agent(scripted, tmp_path):
    log = tmp_path / "calls.log"
    import os

    os.environ["RAGC_SCRIPTED_LOG"] = str(log)
    try:
        lines = [
            {"when": "work", "tool_calls": [{"name": "add", "arguments": {"x": 1, "y": 1}}]},
            {"when": "work", "tool_calls": [{"name": "add", "arguments": {"x": 2, "y": 2}}], "delay_ms": 5},
            {"when": "work", "text": "done", "delay_ms": 3000},
        ]
        calls = {"add": 0}

        def add(x: int, y: int) -> int:
            """Add."""
            calls["add"] += 1
            return x + y

        def registry():
            return scripted({"m": lines}, tools={"add": {"python": "add"}})

        g = graph("g", "a", [node("a", "agent", model="m", prompt="work", tools=["add"], output="out")],
                  channels={"out": "last"})
        store = SqliteStore(tmp_path / "j.sqlite")
        eng = Engine(program(g), registry=registry(), store=store, functions={"add": add})
        with anyio.move_on_after(0.5):
            await eng.start({}, run_id="agent-1")
        assert calls["add"] == 2
        effects = [x.payload["key"] for x in store.records("agent-1") if x.kind == "effect"]
        assert effects == ["m1", "t1.1", "m2", "t2.1"]
        # the resumed process has a fresh script: a repeated call would get line 1 again
        eng2 = Engine(program(g), registry=scripted({"m": [{"when": "work", "text": "done"}]},
                                                    tools={"add": {"python": "add"}}),
                      store=store, functions={"add": add})
        r = await eng2.resume("agent-1")
        assert r.status == "completed", r.error
        assert r.state["out"] == "done" and calls["add"] == 2
        keys = [x.payload["key"] for x in store.records("agent-1") if x.kind == "effect"]
        assert keys == ["m1", "t1.1", "m2", "t2.1", "m3"]
        assert r.usage["model_calls"] == 3 and r.usage["tool_calls"] == 2
        store.close()
    finally:
        del os.environ["RAGC_SCRIPTED_LOG"]


async def test_agent_node_picks_a_route(scripted):
    reg = scripted({"m": [
        {"when": "triage", "text": "looks like billing"},
        {"when": "Choose how to continue", "route": "billing"},
    ]})
    g = graph("g", "a", [
        node("a", "agent", model="m", prompt="triage this", output="note",
             routing=routes("model", ("billing", "b"), ("tech", "END"))),
        node("b", "function", function="val", input="billing path", output="path"),
    ], channels={"note": "last", "path": "last"})
    r = await Engine(program(g), registry=reg, functions={"val": lambda v: v}).start({})
    assert r.status == "completed", r.error
    assert r.state["note"] == "looks like billing" and r.state["path"] == "billing path"
