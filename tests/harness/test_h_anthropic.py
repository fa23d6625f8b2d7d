"""The Anthropic provider against a local server speaking the Messages API."""

from __future__ import annotations

import time

import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from servers import anthropic_wire as aw
from servers.http_server import Reply, Stall, Stream
from ragc.harness.errors import ProviderError
from ragc.harness.types import Message, ModelRequest, ToolCall, ToolSpec

pytestmark = pytest.mark.anyio

SEARCH = ToolSpec(name="search", description="Search.",
                  parameters={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]})


def an(server, **kw) -> dict:
    return {"provider": "anthropic", "model": "claude-test", "base_url": server.url, "api_key": "${AK}", **kw}


def req(**kw) -> ModelRequest:
    return ModelRequest(messages=[Message(role="system", content="Be brief."), Message(role="user", content="hi")], **kw)


async def call(h, request=None, model="m", **kw):
    return await h.complete(model, request or req(), effects=MemoryEffectLog(), key="m1", budget=LimitBudget(), **kw)


ENV = {"AK": "ant-key"}


async def test_plain_reply_headers_system_and_max_tokens(server):
    server.script(Reply(json=aw.message("Hi there", usage=(20, 4))))
    h = make_harness({"m": an(server, params={"max_tokens": 300, "top_k": 5})}, env=ENV)
    r = await call(h)
    assert r.message.content == "Hi there" and (r.usage.input_tokens, r.usage.output_tokens) == (20, 4)
    rec = server.requests[0]
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == "ant-key" and rec.headers["anthropic-version"] == "2023-06-01"
    body = rec.json
    assert body["system"] == "Be brief." and body["max_tokens"] == 300 and body["top_k"] == 5
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    await h.aclose()


async def test_tool_use_and_tool_result_blocks(server):
    server.script(Reply(json=aw.message("Let me look.", [aw.tool_use("search", {"query": "join"}, "toolu_7")])))
    h = make_harness({"m": an(server)}, env=ENV)
    history = [Message(role="user", content="find joins"),
               Message(role="assistant", content="", tool_calls=[ToolCall(id="t1", name="search", arguments={"query": "a"}),
                                                                 ToolCall(id="t2", name="search", arguments={"query": "b"})]),
               Message(role="tool", tool_call_id="t1", name="search", content="hit"),
               Message(role="tool", tool_call_id="t2", name="search", content="no such file", is_error=True)]
    r = await call(h, request=ModelRequest(messages=history, tools=[SEARCH], tool_choice="required"))
    assert r.finish_reason == "tool_calls" and r.message.content == "Let me look."
    (c,) = r.message.tool_calls
    assert (c.id, c.name, c.arguments) == ("toolu_7", "search", {"query": "join"})
    body = server.requests[0].json
    assert body["tools"] == [{"name": "search", "description": "Search.", "input_schema": SEARCH.parameters}]
    assert body["tool_choice"] == {"type": "any"}
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    results = body["messages"][2]["content"]
    assert results == [{"type": "tool_result", "tool_use_id": "t1", "content": "hit"},
                       {"type": "tool_result", "tool_use_id": "t2", "content": "no such file", "is_error": True}]
    assert body["messages"][1]["content"][0] == {"type": "tool_use", "id": "t1", "name": "search", "input": {"query": "a"}}
    await h.aclose()


async def test_structured_output_through_a_forced_tool(server):
    schema = {"type": "object", "properties": {"route": {"enum": ["billing", "tech"]}}, "required": ["route"]}
    server.script(Reply(json=aw.message("", [aw.tool_use("respond", {"route": "tech"})])))
    h = make_harness({"m": an(server)}, env=ENV)
    r = await call(h, request=req(response_schema=schema))
    assert r.structured == {"route": "tech"} and r.message.tool_calls == [] and r.finish_reason == "stop"
    body = server.requests[0].json
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert body["tools"][0]["input_schema"] == schema
    await h.aclose()


async def test_structured_call_after_tool_use_keeps_the_tools_defined(server):
    server.script(Reply(json=aw.message("", [aw.tool_use("respond", {"route": "tech"})])))
    h = make_harness({"m": an(server)}, env=ENV)
    history = [Message(role="user", content="q"),
               Message(role="assistant", tool_calls=[ToolCall(id="t1", name="search", arguments={"query": "a"})]),
               Message(role="tool", tool_call_id="t1", name="search", content="hit")]
    schema = {"type": "object", "properties": {"route": {"enum": ["billing", "tech"]}}, "required": ["route"]}
    r = await call(h, request=ModelRequest(messages=history, tools=[SEARCH], tool_choice="none", response_schema=schema))
    assert r.structured == {"route": "tech"}
    body = server.requests[0].json
    assert [t["name"] for t in body["tools"]] == ["search", "respond"]
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    await h.aclose()


async def test_streamed_text(server):
    server.script(Stream(aw.stream_text(["Hel", "lo"], usage=(9, 2))))
    h = make_harness({"m": an(server, stream=True)}, env=ENV)
    events = Events()
    r = await call(h, emit=events)
    assert r.message.content == "Hello" and (r.usage.input_tokens, r.usage.output_tokens) == (9, 2)
    assert server.requests[0].json["stream"] is True
    assert [e.text for e in events.of("ModelDelta")] == ["Hel", "lo"]
    await h.aclose()


async def test_streamed_tool_use_with_input_json_deltas(server):
    server.script(Stream(aw.stream_tool_use("Searching.", "search", ['{"que', 'ry": "qu', 'orum"}'], id="toolu_3")))
    h = make_harness({"m": an(server, stream=True)}, env=ENV)
    r = await call(h, request=req(tools=[SEARCH]))
    assert r.message.content == "Searching." and r.finish_reason == "tool_calls"
    (c,) = r.message.tool_calls
    assert (c.id, c.name, c.arguments) == ("toolu_3", "search", {"query": "quorum"})
    await h.aclose()


async def test_529_overloaded_is_retried(server):
    server.script(Reply(529, json=aw.error("overloaded_error", "Overloaded")), Reply(json=aw.message("ok")))
    h = make_harness({"m": an(server)}, env=ENV)
    events = Events()
    r = await call(h, emit=events)
    assert r.message.content == "ok" and events.of("ModelRetry")[0].error_kind == "overloaded"
    await h.aclose()


async def test_error_event_mid_stream_is_classified(server):
    chunks = aw.stream_text(["par"])[:3] + aw.events(("error", aw.error("overloaded_error", "Overloaded")))
    server.script(Stream(chunks), Stream(aw.stream_text(["full"])))
    h = make_harness({"m": an(server, stream=True)}, env=ENV)
    events = Events()
    r = await call(h, emit=events)
    assert r.message.content == "full" and events.of("ModelRetry")[0].error_kind == "overloaded"
    await h.aclose()


async def test_stream_without_message_stop_is_retried_without_streaming(server):
    server.script(Stream(aw.stream_text(["cut"], stop=False)), Reply(json=aw.message("complete")))
    h = make_harness({"m": an(server, stream=True, max_retries=0)}, env=ENV)
    r = await call(h)
    assert r.message.content == "complete"
    assert server.requests[0].json["stream"] is True and "stream" not in server.requests[1].json
    await h.aclose()


async def test_prompt_too_long_is_a_context_overflow(server):
    server.script(Reply(400, json=aw.error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")))
    h = make_harness({"m": an(server, fallbacks=["m2"]), "m2": an(server)}, env=ENV)
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "context_overflow" and len(server.requests) == 1  # no retry, no fallback
    await h.aclose()


async def test_auth_error_is_not_retried(server):
    server.script(Reply(401, json=aw.error("authentication_error", "invalid x-api-key")))
    h = make_harness({"m": an(server)}, env=ENV)
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "auth" and len(server.requests) == 1 and "API key" in info.value.hint
    await h.aclose()


async def test_stall_times_out(server):
    server.script(Stall(5.0))
    h = make_harness({"m": an(server, timeout=0.3, max_retries=0)}, env=ENV)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "timeout" and time.monotonic() - started < 3  # gave up at 0.3 s, not after the stall
    assert len(server.requests) == 1
    await h.aclose()


async def test_reply_of_the_wrong_shape_is_malformed_not_a_traceback(server):
    server.script(Reply(json={"content": ["not a block"]}))
    bad_stream = aw.events(("message_start", {"type": "message_start", "message": "not an object"}),
                           ("message_stop", {"type": "message_stop"}))
    server.script(Stream(bad_stream))
    h = make_harness({"m": an(server, max_retries=0), "s": an(server, max_retries=0, stream=True)}, env=ENV)
    for model in ("m", "s"):
        with pytest.raises(ProviderError) as ei:
            await call(h, model=model)
        assert ei.value.kind == "malformed", model
    await h.aclose()
