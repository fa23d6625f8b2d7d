"""The Ollama provider against a local server speaking /api/chat (NDJSON)."""

from __future__ import annotations

import time

import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from servers import ollama_wire as olw
from servers.http_server import Reply, Stall, Stream
from ragc.harness.errors import ProviderError
from ragc.harness.types import Message, ModelRequest, ToolCall, ToolSpec

pytestmark = pytest.mark.anyio

LIST = ToolSpec(name="list_files", description="List files.",
                parameters={"type": "object", "properties": {"path": {"type": "string"}}})


def ol(server, **kw) -> dict:
    return {"provider": "ollama", "model": "qwen2.5-coder:0.5b", "base_url": server.url, **kw}


def req(**kw) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content="hi")], **kw)


async def call(h, request=None, **kw):
    return await h.complete("m", request or req(), effects=MemoryEffectLog(), key="m1", budget=LimitBudget(), **kw)


async def test_plain_reply_and_options(server):
    server.script(Reply(json=olw.chat("Hello", counts=(11, 2))))
    h = make_harness({"m": ol(server, params={"temperature": 0.1, "max_tokens": 64, "keep_alive": "1m", "num_ctx": 2048})})
    r = await call(h, request=req(stop=["END"]))
    assert r.message.content == "Hello" and (r.usage.input_tokens, r.usage.output_tokens) == (11, 2)
    body = server.requests[0].json
    assert server.requests[0].path == "/api/chat"
    assert body["stream"] is False and body["keep_alive"] == "1m"
    assert body["options"] == {"temperature": 0.1, "num_predict": 64, "num_ctx": 2048, "stop": ["END"]}
    await h.aclose()


async def test_tools_with_object_arguments(server):
    server.script(Reply(json=olw.chat("", [olw.tool_call("list_files", {"path": "src"})])))
    h = make_harness({"m": ol(server)})
    history = [Message(role="user", content="list"),
               Message(role="assistant", tool_calls=[ToolCall(id="a", name="list_files", arguments={"path": "."})]),
               Message(role="tool", tool_call_id="a", name="list_files", content="src/\ntests/")]
    r = await call(h, request=ModelRequest(messages=history, tools=[LIST]))
    assert r.finish_reason == "tool_calls" and r.message.tool_calls[0].arguments == {"path": "src"}
    body = server.requests[0].json
    assert body["tools"][0]["function"]["name"] == "list_files"
    assert body["messages"][1]["tool_calls"] == [{"function": {"name": "list_files", "arguments": {"path": "."}}}]
    assert body["messages"][2] == {"role": "tool", "content": "src/\ntests/", "tool_name": "list_files"}
    await h.aclose()


async def test_structured_output_with_format(server):
    schema = {"type": "object", "properties": {"route": {"enum": ["x", "y"]}}, "required": ["route"]}
    server.script(Reply(json=olw.chat('{"route": "y"}')))
    h = make_harness({"m": ol(server)})
    r = await call(h, request=req(response_schema=schema))
    assert r.structured == {"route": "y"} and server.requests[0].json["format"] == schema
    await h.aclose()


async def test_ndjson_stream(server):
    server.script(Stream(olw.stream_text(["Hel", "lo", "!"], counts=(6, 3)), content_type="application/x-ndjson"))
    h = make_harness({"m": ol(server, stream=True)})
    events = Events()
    r = await call(h, emit=events)
    assert r.message.content == "Hello!" and (r.usage.input_tokens, r.usage.output_tokens) == (6, 3)
    assert server.requests[0].json["stream"] is True
    assert [e.text for e in events.of("ModelDelta")] == ["Hel", "lo", "!"]
    await h.aclose()


async def test_stream_without_done_is_retried_without_streaming(server):
    server.script(Stream(olw.stream_text(["par"], done=False), content_type="application/x-ndjson"),
                  Reply(json=olw.chat("whole")))
    h = make_harness({"m": ol(server, stream=True, max_retries=0)})
    r = await call(h)
    assert r.message.content == "whole" and server.requests[1].json["stream"] is False
    await h.aclose()


async def test_error_line_in_stream(server):
    server.script(Stream(olw.ndjson({"error": "an unexpected server error occurred"}),
                         content_type="application/x-ndjson"),
                  Stream(olw.stream_text(["ok"]), content_type="application/x-ndjson"))
    h = make_harness({"m": ol(server, stream=True)})
    r = await call(h)
    assert r.message.content == "ok" and len(server.requests) == 2
    await h.aclose()


async def test_unknown_model_is_not_found_and_not_retried(server):
    server.script(Reply(404, json={"error": "model \"nope\" not found, try pulling it first"}))
    h = make_harness({"m": ol(server)})
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "not_found" and len(server.requests) == 1
    await h.aclose()


async def test_500_then_success(server):
    server.script(Reply(500, json={"error": "llama runner process has terminated"}), Reply(json=olw.chat("back")))
    h = make_harness({"m": ol(server)})
    events = Events()
    r = await call(h, emit=events)
    assert r.message.content == "back" and len(server.requests) == 2
    assert [e.error_kind for e in events.of("ModelRetry")] == ["server"]
    await h.aclose()


async def test_stall_times_out(server):
    server.script(Stall(5.0))
    h = make_harness({"m": ol(server, timeout=0.3, max_retries=0)})
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "timeout" and time.monotonic() - started < 3  # gave up at 0.3 s, not after the stall
    assert len(server.requests) == 1
    await h.aclose()


async def test_reply_of_the_wrong_shape_is_malformed_not_a_traceback(server):
    server.script(Reply(json={"message": {"content": "a", "tool_calls": ["x"]}, "done": True}),
                  Stream([b'{"message": "not an object"}\n', b'{"done": true}\n'], content_type="application/x-ndjson"))
    h = make_harness({"m": ol(server, max_retries=0)})
    with pytest.raises(ProviderError) as ei:
        await call(h)
    assert ei.value.kind == "malformed"
    with pytest.raises(ProviderError) as ei:
        await call(h, request=req(params={"stream": True}))
    assert ei.value.kind == "malformed"
    await h.aclose()
