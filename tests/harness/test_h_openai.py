"""The OpenAI-compatible provider against a local server speaking Chat
Completions: replies, streaming, tool calls, structured output, and the
faults the resilience layer handles."""

from __future__ import annotations

import time

import anyio
import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from servers import openai_wire as ow
from servers.http_server import Reply, Stall, Stream, closed_port
from ragc.harness.errors import ConfigError, ProviderError
from ragc.harness.types import Message, ModelRequest, ToolCall, ToolSpec

pytestmark = pytest.mark.anyio

READ = ToolSpec(name="read_file", description="Read a file.",
                parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})


def oa(server, **kw) -> dict:
    return {"provider": "openai", "model": "gpt-test", "base_url": server.url + "/v1", **kw}


def req(text: str = "hi", **kw) -> ModelRequest:
    return ModelRequest(messages=[Message(role="system", content="sys"), Message(role="user", content=text)], **kw)


async def call(h, model="m", request=None, **kw):
    return await h.complete(model, request or req(), effects=MemoryEffectLog(), key="m1",
                            budget=kw.pop("budget", LimitBudget()), **kw)


async def test_plain_reply_request_shape_usage_and_cost(server):
    server.script(Reply(json=ow.completion("Hello!", usage=(12, 3))))
    h = make_harness({"m": oa(server, api_key="${KEY}", price={"input_per_mtok": 1.0, "output_per_mtok": 2.0},
                              params={"temperature": 0.3, "top_p": 0.9})}, env={"KEY": "sk-test"})
    r = await call(h, request=req(max_tokens=50))
    assert r.message.content == "Hello!" and r.model == "m" and r.provider_model == "gpt-test"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.model_calls) == (12, 3, 1)
    assert r.usage.cost_usd == pytest.approx((12 * 1.0 + 3 * 2.0) / 1e6)
    rec = server.requests[0]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer sk-test"
    body = rec.json
    assert body["model"] == "gpt-test" and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["max_tokens"] == 50 and "stream" not in body and "tools" not in body
    assert body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    await h.aclose()


async def test_tool_calls_and_llama_cpp_quirks(server):
    server.script(Reply(json=ow.completion(None, [ow.tool_call("read_file", {"path": "a.txt"}, "c1"),
                                                  ow.tool_call("read_file", "{not json", "c2")])))
    h = make_harness({"m": oa(server)})
    history = [Message(role="user", content="read"),
               Message(role="assistant", content="", tool_calls=[ToolCall(id="c0", name="read_file",
                                                                          arguments={"path": "x"})]),
               Message(role="tool", tool_call_id="c0", name="read_file", content="boom", is_error=True)]
    r = await call(h, request=ModelRequest(messages=history, tools=[READ], tool_choice="required"))
    assert r.finish_reason == "tool_calls" and r.message.content == ""
    assert [c.id for c in r.message.tool_calls] == ["c1", "c2"]
    assert r.message.tool_calls[0].arguments == {"path": "a.txt"}
    assert r.message.tool_calls[1].arguments == {} and r.message.tool_calls[1].raw_arguments == "{not json"
    body = server.requests[0].json
    assert body["tool_choice"] == "auto"  # "required" gives HTTP 500 on llama.cpp's server
    assert body["tools"][0] == {"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                                                 "parameters": READ.parameters}}
    assistant = body["messages"][1]
    assert assistant["content"] == "" and assistant["tool_calls"][0]["function"] == {
        "name": "read_file", "arguments": '{"path": "x"}'}
    assert body["messages"][2]["role"] == "tool" and body["messages"][2]["tool_call_id"] == "c0"
    assert body["messages"][2]["content"].startswith("[error]")
    await h.aclose()


async def test_structured_output_uses_json_schema(server):
    schema = {"type": "object", "properties": {"route": {"enum": ["a", "b"]}}, "required": ["route"]}
    server.script(Reply(json=ow.completion('{"route": "b"}')))
    h = make_harness({"m": oa(server)})
    r = await call(h, request=req(response_schema=schema))
    assert r.structured == {"route": "b"}
    assert server.requests[0].json["response_format"] == {"type": "json_schema",
                                                          "json_schema": {"name": "response", "schema": schema}}
    await h.aclose()


async def test_streamed_text_emits_deltas_and_usage(server):
    server.script(Stream(ow.stream_text(["Hel", "lo", " world"], usage=(7, 3))))
    h = make_harness({"m": oa(server, stream=True)})
    events = Events()
    r = await call(h, emit=events, node="n", activation="n#1", run_id="r1")
    assert r.message.content == "Hello world" and (r.usage.input_tokens, r.usage.output_tokens) == (7, 3)
    body = server.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [e.text for e in events.of("ModelDelta")] == ["Hel", "lo", " world"]
    assert events.types()[0] == "ModelCallStarted" and events.types()[-1] == "ModelCallCompleted"
    done = events.of("ModelCallCompleted")[0]
    assert (done.node, done.activation, done.run_id, done.call, done.cached) == ("n", "n#1", "r1", "m1", False)
    await h.aclose()


async def test_streamed_tool_call_argument_deltas(server):
    server.script(Stream(ow.stream_tool_call("read_file", ['{"pa', 'th": "RE', 'ADME.md"}'], id="call_9")))
    h = make_harness({"m": oa(server, stream=True)})
    r = await call(h, request=req(tools=[READ]))
    assert r.finish_reason == "tool_calls"
    (c,) = r.message.tool_calls
    assert (c.id, c.name, c.arguments) == ("call_9", "read_file", {"path": "README.md"})
    await h.aclose()


async def test_stream_cut_is_retried_once_without_streaming(server):
    server.script(Stream(ow.stream_tool_call("read_file", ['{"path": "a"}'], done=False)),
                  Reply(json=ow.completion(None, [ow.tool_call("read_file", {"path": "a"})])))
    h = make_harness({"m": oa(server, stream=True, max_retries=0)})
    events = Events()
    r = await call(h, request=req(tools=[READ]), emit=events)
    assert r.message.tool_calls[0].arguments == {"path": "a"}
    assert [rq.json.get("stream") for rq in server.requests] == [True, None]
    (retry,) = events.of("ModelRetry")
    assert retry.error_kind == "stream_cut"
    await h.aclose()


async def test_connection_cut_mid_stream_is_retried(server):
    server.script(Stream(ow.stream_text(["partial"])[:2], cut=True), Reply(json=ow.completion("whole")))
    h = make_harness({"m": oa(server, stream=True)})
    r = await call(h)
    assert r.message.content == "whole" and len(server.requests) == 2
    await h.aclose()


async def test_429_honours_retry_after(server):
    server.script(Reply(429, json=ow.error("slow down", "rate_limit_error"), headers={"Retry-After": "1"}),
                  Reply(json=ow.completion("ok")))
    h = make_harness({"m": oa(server)})
    events = Events()
    started = time.monotonic()
    r = await call(h, emit=events)
    elapsed = time.monotonic() - started
    assert r.message.content == "ok" and elapsed >= 0.95
    (retry,) = events.of("ModelRetry")
    assert retry.error_kind == "rate_limit" and retry.delay_s == pytest.approx(1.0) and retry.attempt == 1
    await h.aclose()


async def test_500_retried_then_gives_up_after_max_retries(server):
    server.script(*[Reply(500, json=ow.error("internal", "server_error")) for _ in range(3)])
    h = make_harness({"m": oa(server, max_retries=2)})
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "server" and info.value.status == 500 and len(server.requests) == 3
    await h.aclose()


async def test_malformed_json_is_retried(server):
    server.script(Reply(body=b"{this is not json"), Reply(json={"unexpected": True}), Reply(json=ow.completion("fine")))
    h = make_harness({"m": oa(server, max_retries=3)})
    r = await call(h)
    assert r.message.content == "fine" and len(server.requests) == 3
    await h.aclose()


async def test_bad_request_is_not_retried(server):
    server.script(Reply(400, json=ow.error("bad field", "invalid_request_error")))
    h = make_harness({"m": oa(server, max_retries=3)})
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "bad_request" and len(server.requests) == 1
    await h.aclose()


async def test_stalled_server_times_out(server):
    server.script(Stall(5.0))
    h = make_harness({"m": oa(server, timeout=0.3, max_retries=0)})
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "timeout" and time.monotonic() - started < 3
    await h.aclose()


async def test_bad_key_rotates_to_the_next_key(server):
    def respond(rec):
        if rec.headers.get("authorization") == "Bearer good":
            return Reply(json=ow.completion("hello from good key"))
        return Reply(401, json=ow.error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"))

    server.responder = respond
    h = make_harness({"m": oa(server, api_keys=["${K1}", "${K2}"])}, env={"K1": "bad", "K2": "good"})
    r = await call(h)
    assert r.message.content == "hello from good key"
    assert [rq.headers["authorization"] for rq in server.requests] == ["Bearer bad", "Bearer good"]
    r2 = await call(h)  # the bad key is cooling down: straight to the good one
    assert r2.message.content == "hello from good key" and len(server.requests) == 3
    assert h.stats.rotations == 1
    await h.aclose()


async def test_dead_model_falls_back(server):
    server.script(Reply(json=ow.completion("from the fallback")))
    h = make_harness({"dead": {"provider": "openai", "model": "x", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                               "max_retries": 1, "fallbacks": ["alive"]},
                      "alive": oa(server)})
    r = await call(h, model="dead")
    assert r.message.content == "from the fallback" and r.model == "alive"
    await h.aclose()


async def test_all_models_failing_raises_the_primary_error(server):
    server.script(Reply(404, json=ow.error("The model `x` does not exist", "invalid_request_error", "model_not_found")))
    h = make_harness({"dead": {"provider": "openai", "model": "x", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                               "max_retries": 0, "fallbacks": ["missing"]},
                      "missing": oa(server, max_retries=0)})
    with pytest.raises(ProviderError) as info:
        await call(h, model="dead")
    assert info.value.kind == "connect" and "`missing`" in str(info.value)
    await h.aclose()


async def test_breaker_opens_then_half_opens_and_closes(server):
    server.script(*[Reply(503, json=ow.error("unavailable", "server_error")) for _ in range(3)],
                  Reply(json=ow.completion("recovered")))
    h = make_harness({"m": oa(server, max_retries=0)})
    for _ in range(3):
        with pytest.raises(ProviderError) as info:
            await call(h)
        assert info.value.kind == "server"
    breaker = h.model("m")._layer.pool("m").breaker
    assert breaker.state == "open"
    with pytest.raises(ProviderError) as info:
        await call(h)
    assert info.value.kind == "circuit_open" and len(server.requests) == 3  # refused without a call
    await anyio.sleep(0.65)
    assert breaker.state == "half_open"
    r = await call(h)
    assert r.message.content == "recovered" and breaker.state == "closed" and len(server.requests) == 4
    await h.aclose()


async def test_open_breaker_goes_to_the_fallback(server, server2):
    server.script(*[Reply(500, json=ow.error("down", "server_error")) for _ in range(3)])
    server2.responder = lambda rec: Reply(json=ow.completion("backup"))
    h = make_harness({"m": oa(server, max_retries=0, fallbacks=["b"]), "b": oa(server2)})
    for _ in range(4):
        r = await call(h)
        assert r.model == "b"
    assert len(server.requests) == 3 and len(server2.requests) == 4
    await h.aclose()


async def test_identical_in_flight_requests_are_deduplicated(server):
    server.responder = lambda rec: Reply(json=ow.completion("shared"), delay=0.3)
    h = make_harness({"m": oa(server)})
    results = []

    async def one(text):
        results.append(await call(h, request=req(text)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "same")
        tg.start_soon(one, "same")
        tg.start_soon(one, "other")
    assert len(results) == 3 and len(server.requests) == 2 and h.stats.dedup_hits == 1
    assert [r.message.content for r in results] == ["shared"] * 3
    assert sorted(rq.json["messages"][-1]["content"] for rq in server.requests) == ["other", "same"]
    await h.aclose()


async def test_in_flight_calls_are_bounded_per_model(server):
    from ragc.harness import ResilienceSettings

    server.responder = lambda rec: Reply(json=ow.completion("ok"), delay=0.15)
    h = make_harness({"m": oa(server)}, settings=ResilienceSettings(max_in_flight=2, dedup=False))

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(call, h, "m", req(f"q{i}"))
    assert len(server.requests) == 5 and server.max_concurrent == 2
    await h.aclose()


async def test_unset_variable_is_a_config_error_naming_it():
    h = make_harness({"m": {"provider": "openai", "model": "x", "api_key": "${MY_SECRET_KEY}"}}, env={})
    with pytest.raises(ConfigError) as info:
        await call(h)
    assert "MY_SECRET_KEY" in str(info.value) and "`m`" in str(info.value) and "export" in info.value.hint
    await h.aclose()


async def test_effect_log_replay_makes_no_call(server):
    server.script(Reply(json=ow.completion("once", usage=(5, 2))))
    h = make_harness({"m": oa(server)})
    log = MemoryEffectLog()
    first = await h.complete("m", req(), effects=log, key="k1", budget=LimitBudget())
    assert log.puts == ["k1"] and log.kinds["k1"] == "model"
    budget, events = LimitBudget(max_model_calls=0), Events()
    again = await h.complete("m", req(), effects=log, key="k1", budget=budget, emit=events)
    assert again == first and len(server.requests) == 1
    assert budget.usage.total_tokens == 7  # replayed usage is still counted
    assert events.types() == ["ModelCallCompleted"] and events[0].cached is True
    await h.aclose()


async def test_loopback_servers_bypass_environment_proxies(server, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.script(Reply(json=ow.completion("direct")))
    h = make_harness({"m": oa(server, max_retries=0)})
    assert (await call(h)).message.content == "direct"
    await h.aclose()


@pytest.mark.parametrize("reply", [
    {"choices": [{"message": "text instead of an object"}]},
    {"choices": [{"message": {"content": "a", "tool_calls": ["x"]}}]},
    {"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": "many"}},
    {"choices": [{"message": {"content": 5}}]},
])
async def test_reply_of_the_wrong_shape_is_malformed_not_a_traceback(server, reply):
    server.responder = lambda rec: Reply(json=reply)
    h = make_harness({"m": oa(server, max_retries=1)})
    with pytest.raises(ProviderError) as ei:
        await call(h)
    assert ei.value.kind == "malformed" and "unexpected reply shape" in str(ei.value)
    assert len(server.requests) == 2  # malformed is retryable
    await h.aclose()


async def test_stream_chunk_of_the_wrong_shape_is_malformed(server):
    bad = [b'data: {"choices": [{"delta": {"tool_calls": [{"index": null}]}}]}\n\n', b"data: [DONE]\n\n"]
    server.responder = lambda rec: Stream(bad)
    h = make_harness({"m": oa(server, stream=True, max_retries=0)})
    with pytest.raises(ProviderError) as ei:
        await call(h)
    assert ei.value.kind == "malformed"
    await h.aclose()


async def test_tool_arguments_sent_as_an_object_are_accepted(server):
    tc = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "a.txt"}}}
    server.script(Reply(json=ow.completion(None, [tc, {**tc, "id": "c2", "function": {"name": "read_file",
                                                                                      "arguments": 7}}])))
    h = make_harness({"m": oa(server)})
    r = await call(h, request=req(tools=[READ]))
    assert r.message.tool_calls[0].arguments == {"path": "a.txt"} and r.message.tool_calls[0].raw_arguments is None
    assert r.message.tool_calls[1].arguments == {} and r.message.tool_calls[1].raw_arguments == "7"
    await h.aclose()
