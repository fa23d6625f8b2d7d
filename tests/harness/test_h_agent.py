"""The agent loop through the real harness and a scripted local server
speaking the OpenAI wire format."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from servers import openai_wire as ow
from servers.http_server import Reply
from ragc.harness.agent import DEFAULT_SYSTEM_PROMPT
from ragc.harness.errors import BudgetExceeded, ProviderError
from ragc.harness.types import AgentSpec, Message

pytestmark = pytest.mark.anyio


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text("Joins fire when the quorum is met.\n")
    (tmp_path / "notes.txt").write_text("second file\n")
    return tmp_path


def model(server, **kw) -> dict:
    return {"provider": "openai", "model": "gpt-test", "base_url": server.url, "max_retries": 0, **kw}


def last(body: dict) -> dict:
    return body["messages"][-1]


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


async def run(h, spec, messages=None, **kw):
    return await h.run_agent(spec, messages or user("What does the README say?"),
                             effects=kw.pop("effects", MemoryEffectLog()), budget=kw.pop("budget", LimitBudget()), **kw)


async def test_tool_use_then_answer(server, ws):
    def respond(rec):
        body = rec.json
        if last(body)["role"] == "tool":
            return Reply(json=ow.completion(f"The README says: {last(body)['content'].strip()}"))
        return Reply(json=ow.completion("", [ow.tool_call("read_file", {"path": "README.md"}, "c1")]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    log, events = MemoryEffectLog(), Events()
    spec = AgentSpec(name="reader", model="m", tools=["read_file"])
    r = await run(h, spec, effects=log, emit=events, node="n", activation="n#1", run_id="r")
    assert r.stop_reason == "final" and r.text == "The README says: Joins fire when the quorum is met."
    assert r.iterations == 2 and r.usage.model_calls == 2 and r.usage.tool_calls == 1
    assert [m.role for m in r.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert r.messages[0].content == DEFAULT_SYSTEM_PROMPT and r.messages[-1].name == "reader"
    assert log.puts == ["m1", "t1.1", "m2"] and log.kinds["t1.1"] == "tool"
    assert events.types() == ["ModelCallStarted", "ModelCallCompleted", "ToolCallStarted", "ToolCallCompleted",
                              "ModelCallStarted", "ModelCallCompleted"]
    tool_done = events.of("ToolCallCompleted")[0]
    assert (tool_done.tool, tool_done.call, tool_done.is_error) == ("read_file", "t1.1", False)
    first_request = server.requests[0].json
    assert first_request["tools"][0]["function"]["name"] == "read_file"
    await h.aclose()


async def test_independent_tool_calls_run_concurrently_in_call_order(server, ws):
    async def wait(label: str, seconds: float) -> str:
        """Wait, then return the label."""
        await anyio.sleep(seconds)
        return label

    def respond(rec):
        body = rec.json
        if last(body)["role"] == "tool":
            return Reply(json=ow.completion(" | ".join(m["content"] for m in body["messages"] if m["role"] == "tool")))
        return Reply(json=ow.completion("", [ow.tool_call("wait", {"label": "slow", "seconds": 0.4}, "a"),
                                              ow.tool_call("wait", {"label": "fast", "seconds": 0.1}, "b")]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws, functions={"wait": wait})
    started = time.monotonic()
    r = await run(h, AgentSpec(name="a", model="m", tools=["wait"]))
    assert time.monotonic() - started < 0.45 + 0.4  # one sleep, not two, plus HTTP overhead
    assert r.text == "slow | fast"
    assert [m.tool_call_id for m in r.messages if m.role == "tool"] == ["a", "b"]
    await h.aclose()


async def test_loop_detection_stops_a_stuck_model(server, ws):
    def respond(rec):
        body = rec.json
        if body.get("tool_choice") == "none":  # the final call, tools defined but not offered
            return Reply(json=ow.completion("Joins fire at quorum."))
        return Reply(json=ow.completion("", [ow.tool_call("read_file", {"path": "README.md"})]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    log = MemoryEffectLog()
    r = await run(h, AgentSpec(name="a", model="m", tools=["read_file"], repeat_limit=3, max_iterations=8), effects=log)
    assert r.stop_reason == "loop_detected" and r.text == "Joins fire at quorum."
    assert log.puts == ["m1", "t1.1", "m2", "m3", "m4"]  # the repeat (t2.1) was never run
    repeat_note = [m for m in r.messages if m.role == "tool"][1]
    assert repeat_note.is_error and "already called read_file" in repeat_note.content
    assert len(server.requests) == 4
    await h.aclose()


async def test_max_iterations(server, ws):
    def respond(rec):
        n = len(server.requests)
        return Reply(json=ow.completion("thinking", [ow.tool_call("search", {"query": f"q{n}"}, f"c{n}")]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    r = await run(h, AgentSpec(name="a", model="m", tools=["search"], max_iterations=3))
    assert r.stop_reason == "max_iterations" and r.iterations == 3 and len(server.requests) == 3
    assert r.text == "thinking" and r.usage.tool_calls == 3  # the last reply's calls still run
    assert r.messages[-1].role == "tool" and r.messages[-1].tool_call_id == "c3"
    await h.aclose()


async def test_budget_exceeded_propagates(server, ws):
    server.responder = lambda rec: Reply(json=ow.completion(
        "", [ow.tool_call("read_file", {"path": "README.md"}, "x"), ow.tool_call("read_file", {"path": "notes.txt"}, "y")]))
    h = make_harness({"m": model(server)}, workspace=ws)
    with pytest.raises(BudgetExceeded) as info:
        await run(h, AgentSpec(name="a", model="m", tools=["read_file"]), budget=LimitBudget(max_tool_calls=1))
    assert info.value.limit == "max_tool_calls"
    assert len(server.requests) == 1
    with pytest.raises(BudgetExceeded) as info:
        await run(h, AgentSpec(name="a", model="m", tools=["read_file"]), budget=LimitBudget(max_model_calls=0))
    assert info.value.limit == "max_model_calls" and len(server.requests) == 1  # refused before the call
    await h.aclose()


async def test_signal_completion_ends_the_loop(server, ws):
    server.responder = lambda rec: Reply(json=ow.completion("", [
        ow.tool_call("write_file", {"path": "done.txt", "content": "ok"}, "w"),
        ow.tool_call("signal_completion", {"signal": "complete", "message": "Wrote done.txt"}, "s")]))
    h = make_harness({"m": model(server)}, workspace=ws)
    r = await run(h, AgentSpec(name="a", model="m", tools=["write_file", "signal_completion"]))
    assert r.stop_reason == "signal_completion" and r.signal == {"signal": "complete", "message": "Wrote done.txt"}
    assert r.text == "Wrote done.txt" and (ws / "done.txt").read_text() == "ok" and len(server.requests) == 1
    await h.aclose()


async def test_replay_from_a_filled_effect_log_makes_no_http_call(server, ws):
    def respond(rec):
        if last(rec.json)["role"] == "tool":
            return Reply(json=ow.completion("answer"))
        return Reply(json=ow.completion("", [ow.tool_call("write_file", {"path": "log.txt", "content": "1"})]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    spec = AgentSpec(name="a", model="m", tools=["write_file"])
    log = MemoryEffectLog()
    first = await run(h, spec, effects=log)
    assert len(server.requests) == 2
    (ws / "log.txt").unlink()
    server.responder = lambda rec: Reply(500, json=ow.error("must not be called", "server_error"))
    events = Events()
    second = await run(h, spec, effects=MemoryEffectLog(log.values), emit=events)
    assert len(server.requests) == 2 and not (ws / "log.txt").exists()  # no model call, no tool call
    assert second.text == first.text == "answer" and second.usage == first.usage
    assert all(e.cached for e in events) and len(events) == 3
    await h.aclose()


async def test_route_label_by_structured_output(server, ws):
    def respond(rec):
        body = rec.json
        if "response_format" in body:
            schema = body["response_format"]["json_schema"]["schema"]
            assert schema["properties"]["route"]["enum"] == ["billing", "tech"]
            tries = sum(1 for r in server.requests if "response_format" in r.json)
            return Reply(json=ow.completion('{"route": "sales"}' if tries == 1 else '{"route": "tech"}'))
        return Reply(json=ow.completion("It is a technical question."))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    log = MemoryEffectLog()
    r = await run(h, AgentSpec(name="triage", model="m", route_labels=["billing", "tech"]), effects=log)
    assert r.route == "tech" and r.structured == {"route": "tech"} and r.text == "It is a technical question."
    assert log.puts == ["m1", "m2", "m3"]  # the invalid label was answered with its problem and asked again
    retry_prompt = server.requests[2].json["messages"][-1]["content"]
    assert "not valid" in retry_prompt and "sales" in retry_prompt
    await h.aclose()


async def test_react_protocol_for_a_model_without_tool_calling(server, ws):
    def respond(rec):
        body = rec.json
        assert "tools" not in body and "Observation:" in "".join(body["stop"])
        if last(body)["content"].startswith("Observation"):
            return Reply(json=ow.completion("Thought: I have it.\nFinal Answer: Joins fire at quorum."))
        return Reply(json=ow.completion('Thought: read it\nAction: read_file\nAction Input: {"path": "README.md"}'))

    server.responder = respond
    h = make_harness({"m": model(server, tool_protocol="react")}, workspace=ws)
    r = await run(h, AgentSpec(name="a", model="m", tools=["read_file"]))
    assert r.stop_reason == "final" and r.text == "Joins fire at quorum."
    second = server.requests[1].json["messages"]
    assert "Action: read_file" in second[0]["content"] or "read_file" in second[0]["content"]
    assert second[-2]["role"] == "assistant" and 'Action Input: {"path": "README.md"}' in second[-2]["content"]
    assert second[-1] == {"role": "user", "content": "Observation: Joins fire when the quorum is met.\n"}
    await h.aclose()


async def test_context_overflow_compacts_history_and_retries(server, ws):
    def respond(rec):
        body = rec.json
        if len(body["messages"]) > 7:
            return Reply(400, json=ow.error("This model's maximum context length is 100 tokens", "invalid_request_error",
                                            "context_length_exceeded"))
        tools_done = sum(1 for m in body["messages"] if m["role"] == "tool")
        summarized = any("[Summary of" in (m.get("content") or "") for m in body["messages"])
        if tools_done >= 4 or (summarized and last(body)["role"] == "tool"):
            return Reply(json=ow.completion("done after compaction" if summarized else "done"))
        return Reply(json=ow.completion("", [ow.tool_call("search", {"query": f"q{tools_done}"}, f"c{tools_done}")]))

    server.responder = respond
    h = make_harness({"m": model(server)}, workspace=ws)
    log = MemoryEffectLog()
    r = await run(h, AgentSpec(name="a", model="m", tools=["search"], max_iterations=10), effects=log)
    assert r.text == "done after compaction" and r.stop_reason == "final"
    overflowed = [rq for rq in server.requests if len(rq.json["messages"]) > 7]
    assert overflowed, "the server never saw the long history"
    summary = [m for m in r.messages if "[Summary of" in m.content]
    assert len(summary) == 1 and "search" in summary[0].content
    assert r.messages[0].role == "system" and r.messages[1].content == "What does the README say?"
    assert log.puts == sorted(set(log.puts), key=log.puts.index)  # each key recorded once
    await h.aclose()


async def test_proactive_compaction_with_a_small_context_window(server, ws):
    for i in range(5):  # different files, so no call is a repeat and every result (2 KiB each) stays
        (ws / f"big{i}.txt").write_text(f"file {i} " + "lorem ipsum " * 600)

    def respond(rec):
        n = len(server.requests) - 1
        if n == 5:
            return Reply(json=ow.completion("finished"))
        return Reply(json=ow.completion("", [ow.tool_call("read_file", {"path": f"big{n}.txt"}, f"r{n}")]))

    server.responder = respond
    h = make_harness({"m": model(server, context_window=2000)}, workspace=ws)
    r = await run(h, AgentSpec(name="a", model="m", tools=["read_file"], max_iterations=8))
    assert r.text == "finished" and r.stop_reason == "final" and len(server.requests) == 6
    sizes = [sum(len(m.get("content") or "") for m in rq.json["messages"]) for rq in server.requests]
    # five 2 KiB results would not fit in 90 % of 2000 tokens (about 7200 characters) uncompacted
    assert max(sizes) < 2000 * 4 * 0.9, sizes
    summaries = [m["content"] for m in server.requests[-1].json["messages"] if "[Summary of" in (m.get("content") or "")]
    assert len(summaries) == 1 and "read_file" in summaries[0]  # older turns were folded before the call
    assert [rq.json["messages"][1]["content"] for rq in server.requests] == ["What does the README say?"] * 6
    await h.aclose()


async def test_provider_error_propagates_from_the_loop(server, ws):
    server.responder = lambda rec: Reply(400, json=ow.error("unsupported parameter", "invalid_request_error"))
    h = make_harness({"m": model(server)}, workspace=ws)
    with pytest.raises(ProviderError) as info:
        await run(h, AgentSpec(name="a", model="m"))
    assert info.value.kind == "bad_request"
    await h.aclose()


async def test_agent_spec_from_registry(server, ws):
    (ws / "sys.md").write_text("You are the file reader.")
    h = make_harness({"m": model(server)}, workspace=ws, source=ws / "registry.toml",
                     agents={"reader": {"model": "m", "system_file": "sys.md", "tools": ["read_file"],
                                        "max_iterations": 2, "params": {"temperature": 0.0, "max_tokens": 30}}})
    spec = h.agent_spec("reader")
    assert (spec.system, spec.tools, spec.max_iterations) == ("You are the file reader.", ["read_file"], 2)
    server.script(Reply(json=ow.completion("hi")))
    r = await run(h, spec)
    body = server.requests[0].json
    assert body["messages"][0] == {"role": "system", "content": "You are the file reader."}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 30 and r.text == "hi"
    await h.aclose()


def test_tool_specs_are_json_schema(ws):
    h = make_harness({}, workspace=ws)
    specs = h.tool_specs(["read_file", "list_files", "search", "run_command", "write_file", "signal_completion"])
    shapes = {s.name: (sorted(s.parameters["properties"]), s.parameters.get("required", [])) for s in specs}
    assert shapes == {
        "read_file": (["path"], ["path"]),
        "list_files": (["path", "recursive"], []),
        "search": (["max_results", "path", "query"], ["query"]),
        "run_command": (["command", "working_dir"], ["command"]),
        "write_file": (["content", "path"], ["path", "content"]),
        "signal_completion": (["message", "reason", "signal"], ["signal"]),
    }
    json.dumps([s.model_dump() for s in specs])


async def test_tool_results_are_bounded_by_the_context_window(server, ws):
    (ws / "big.txt").write_text("z" * 20_000)

    def respond(rec):
        if last(rec.json)["role"] == "tool":
            return Reply(json=ow.completion("read"))
        return Reply(json=ow.completion("", [ow.tool_call("read_file", {"path": "big.txt"})]))

    server.responder = respond
    h = make_harness({"small": model(server, context_window=8192), "big": model(server)}, workspace=ws)
    small = await run(h, AgentSpec(name="a", model="small", tools=["read_file"]))
    (tool_msg,) = [m for m in small.messages if m.role == "tool"]
    assert "truncated: 4096 of 20000 bytes" in tool_msg.content
    big = await run(h, AgentSpec(name="a", model="big", tools=["read_file"]))
    (tool_msg,) = [m for m in big.messages if m.role == "tool"]
    assert "truncated: 16384 of 20000 bytes" in tool_msg.content
    await h.aclose()
