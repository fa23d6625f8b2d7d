"""OpenAI-compatible Chat Completions over httpx: OpenAI itself, vLLM, the
llama.cpp server, LM Studio, Ollama's ``/v1`` endpoint, ...

API reference: https://platform.openai.com/docs/api-reference/chat/create
(request and response objects) and
https://platform.openai.com/docs/api-reference/chat-streaming (the
``chat.completion.chunk`` SSE stream, ending with ``data: [DONE]``).

* ``POST {base_url}/chat/completions`` with ``Authorization: Bearer KEY``
  (no header when the model has no key, e.g. a local server).
* Messages: ``system``/``user`` text; ``assistant`` with ``tool_calls``
  (``{"id", "type": "function", "function": {"name", "arguments": "<JSON
  text>"}}``); ``tool`` results with ``tool_call_id``.
* Tools: ``{"type": "function", "function": {"name", "description",
  "parameters"}}``; structured output with ``response_format: {"type":
  "json_schema", "json_schema": {"name", "schema"}}``.
* Streaming (``stream = true`` on the model, or ``params.stream``): text and
  tool-call argument deltas are reassembled by ``index``; usage comes from the
  final chunk requested with ``stream_options: {"include_usage": true}``.

llama.cpp server quirks handled here: without ``tool_choice`` it never calls
tools, so ``"auto"`` is always sent with tools; ``"required"`` makes it fail
with HTTP 500, so it is sent as ``"auto"``; an assistant ``content: null``
gives HTTP 500, so ``""`` is sent; a stream that ends without ``[DONE]`` is a
``stream_cut`` (the resilience layer retries it without streaming).
"""

from __future__ import annotations

import json
from typing import Any

from ragc.harness.errors import ProviderError
from ragc.harness.providers._http import (HttpCaller, httpx_timeout, iter_sse, loads, malformed,
                                          reply_shape_guard, status_error, timeout_s)
from ragc.harness.providers.base import ProviderContext
from ragc.harness.types import (DeltaCallback, FinishReason, Message, ModelRequest, ModelResponse, StreamDelta,
                                ToolCall, Usage)
from ragc.registry.model import ModelEntry

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_FINISH: dict[str, FinishReason] = {"stop": "stop", "tool_calls": "tool_calls", "function_call": "tool_calls",
                                    "length": "length", "content_filter": "content_filter"}


def parse_arguments(text: Any) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as (object, None), or ({}, raw text) when the
    text is not a JSON object. Empty text means no arguments. An object
    instead of text (some compatible servers send one) is taken as is; any
    other non-text value comes back as its JSON text."""
    if isinstance(text, dict):
        return text, None
    if text is not None and not isinstance(text, str):
        return {}, json.dumps(text)
    if text is None or not text.strip():
        return {}, None
    try:
        # strict=False: some compatible servers pass a model's raw newlines inside strings through
        value = json.loads(text, strict=False)
    except json.JSONDecodeError:
        return {}, text
    return (value, None) if isinstance(value, dict) else ({}, text)


def encode_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages in Chat Completions form."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": m.content or ""}
            if m.tool_calls:
                msg["tool_calls"] = [{
                    "id": c.id, "type": "function",
                    "function": {"name": c.name,
                                 "arguments": c.raw_arguments if c.raw_arguments is not None else json.dumps(c.arguments)},
                } for c in m.tool_calls]
            out.append(msg)
        elif m.role == "tool":
            content = m.content if not m.is_error or m.content.startswith("[error]") else f"[error] {m.content}"
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


class OpenAIProvider:
    """One OpenAI-compatible model (see the module doc).

    Args:
        name: registry name.
        entry: the entry (``model`` is the provider's model id; ``base_url``
            already substituted).
        ctx: shared HTTP client and the API key.
    """

    provider = "openai"

    def __init__(self, name: str, entry: ModelEntry, ctx: ProviderContext):
        self.name = name
        self.entry = entry
        self.url = (entry.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self.api_key = ctx.api_key
        self._caller = HttpCaller(self.provider, name, ctx.http)

    def headers(self) -> dict[str, str]:
        """Request headers (authentication included when there is a key)."""
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def build_body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        """The JSON request body (registry ``params`` first, request fields override)."""
        params = {**self.entry.params, **request.params}
        params.pop("stream", None)
        body: dict[str, Any] = {"model": self.entry.model, "messages": encode_messages(request.messages)}
        body.update(params)
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = request.stop
        if request.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in request.tools]
            choice = request.tool_choice
            if choice in ("auto", "required"):
                body["tool_choice"] = "auto"
            elif choice == "none":
                body["tool_choice"] = "none"
            else:
                body["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if request.response_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "response", "schema": request.response_schema}}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _structured(self, request: ModelRequest, text: str) -> Any:
        if request.response_schema is None:
            return None
        return loads(text, provider=self.provider, model=self.name)

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """One Chat Completions call.

        Raises:
            ProviderError: HTTP errors (kind by status/body), transport
                failures, timeouts, ``stream_cut``, ``malformed`` replies.
        """
        stream = bool(request.params.get("stream", self.entry.stream))
        body = self.build_body(request, stream)
        timeout = httpx_timeout(self.entry, request)
        with reply_shape_guard(self.provider, self.name):
            if stream:
                return await self._stream(request, body, timeout, on_delta)
            data = await self._caller.post_json(self.url, body, self.headers(), timeout=timeout,
                                                deadline_s=timeout_s(self.entry, request) + self.entry.connect_timeout)
            return self.parse_response(request, data)

    def parse_response(self, request: ModelRequest, data: Any) -> ModelResponse:
        """A non-streamed reply as a :class:`ModelResponse`.

        Raises:
            ProviderError: an ``error`` object in a 2xx reply, or a shape that
                is not a chat completion (``malformed``).
        """
        if isinstance(data, dict) and "error" in data and "choices" not in data:
            raise status_error(500, json.dumps(data), {}, provider=self.provider, model=self.name)
        try:
            choice = data["choices"][0]
            msg = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise malformed(self.provider, self.name, f"no choices[0].message in {json.dumps(data)[:200]}") from None
        text = msg.get("content") or ""
        calls = []
        for i, tc in enumerate(msg.get("tool_calls") or []):
            fn = tc.get("function") or {}
            args, raw = parse_arguments(fn.get("arguments"))
            calls.append(ToolCall(id=tc.get("id") or f"call_{i}", name=fn.get("name") or "", arguments=args,
                                  raw_arguments=raw))
        usage = data.get("usage") or {}
        finish = _FINISH.get(choice.get("finish_reason") or "", "tool_calls" if calls else "stop")
        return ModelResponse(
            message=Message(role="assistant", content=text, tool_calls=calls), model=self.name,
            provider_model=data.get("model"), finish_reason=finish,
            usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0),
                        output_tokens=int(usage.get("completion_tokens") or 0)),
            structured=self._structured(request, text) if not calls else None)

    async def _stream(self, request: ModelRequest, body: dict[str, Any], timeout, on_delta) -> ModelResponse:
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: dict[str, Any] = {}
        provider_model = None
        done = False
        async with self._caller.stream(self.url, body, self.headers(), timeout=timeout) as response:
            async for event in iter_sse(response):
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                chunk = loads(event.data, provider=self.provider, model=self.name)
                if not isinstance(chunk, dict):
                    raise malformed(self.provider, self.name, f"stream chunk is not an object: {event.data[:200]}")
                if "error" in chunk:
                    raise status_error(500, json.dumps(chunk), {}, provider=self.provider, model=self.name)
                provider_model = chunk.get("model") or provider_model
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        text.append(delta["content"])
                        if on_delta:
                            on_delta(StreamDelta(text=delta["content"]))
                    for tc in delta.get("tool_calls") or []:
                        idx = int(tc.get("index", len(calls)))
                        slot = calls.setdefault(idx, {"id": None, "name": "", "args": []})
                        fn = tc.get("function") or {}
                        if tc.get("id"):
                            slot["id"] = tc["id"]
                        if fn.get("name"):
                            slot["name"] += fn["name"]
                        if fn.get("arguments"):
                            slot["args"].append(fn["arguments"])
                        if on_delta:
                            on_delta(StreamDelta(tool_index=idx, tool_name=fn.get("name"),
                                                 tool_arguments=fn.get("arguments") or ""))
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        if not done:
            raise ProviderError(f"openai model `{self.name}`: the stream ended without [DONE]", kind="stream_cut",
                                provider=self.provider, model=self.name)
        tool_calls = []
        for idx in sorted(calls):
            slot = calls[idx]
            args, raw = parse_arguments("".join(slot["args"]))
            tool_calls.append(ToolCall(id=slot["id"] or f"call_{idx}", name=slot["name"], arguments=args,
                                       raw_arguments=raw))
        content = "".join(text)
        return ModelResponse(
            message=Message(role="assistant", content=content, tool_calls=tool_calls), model=self.name,
            provider_model=provider_model,
            finish_reason=_FINISH.get(finish or "", "tool_calls" if tool_calls else "stop"),
            usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0),
                        output_tokens=int(usage.get("completion_tokens") or 0)),
            structured=self._structured(request, content) if not tool_calls else None)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider owns it (not the shared one)."""
        await self._caller.aclose()
