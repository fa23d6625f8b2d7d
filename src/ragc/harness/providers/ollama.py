"""Ollama's native chat API over httpx.

API reference: https://github.com/ollama/ollama/blob/main/docs/api.md
("Generate a chat completion", ``POST /api/chat``).

* Body: ``model``, ``messages`` (``role``, ``content``; assistant
  ``tool_calls`` as ``{"function": {"name", "arguments": {...}}}`` with the
  arguments as an object; tool results as ``{"role": "tool", "content",
  "tool_name"}``), ``tools`` (OpenAI-style function specs), ``format`` (a JSON
  schema for structured output), ``options`` (``temperature``,
  ``num_predict`` = max tokens, ``stop``, and any other registry ``params``
  except ``keep_alive`` / ``think``, which are top-level), and ``stream``
  (always sent: Ollama streams by default).
* Reply: ``message`` (``content``, ``tool_calls``), ``done``,
  ``done_reason``, ``prompt_eval_count`` / ``eval_count`` (tokens).
* Streaming: NDJSON, one object per line, the last with ``"done": true``
  and the counts; a line ``{"error": "..."}`` is an error; a body that ends
  before ``done`` is a ``stream_cut``.
* Ollama has no ``tool_choice``: ``"none"`` leaves the tools out, a forced
  tool is sent as plain tools.
"""

from __future__ import annotations

import json
from typing import Any

from ragc.harness.errors import ProviderError
from ragc.harness.providers._http import (HttpCaller, classify_status, httpx_timeout, iter_ndjson, loads, malformed,
                                          reply_shape_guard, timeout_s)
from ragc.harness.providers.base import ProviderContext
from ragc.harness.providers.openai import parse_arguments
from ragc.harness.types import (DeltaCallback, FinishReason, Message, ModelRequest, ModelResponse, StreamDelta,
                                ToolCall, Usage, new_id)
from ragc.registry.model import ModelEntry

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
TOP_LEVEL_PARAMS = frozenset({"keep_alive", "think"})

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def encode_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages in ``/api/chat`` form."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": m.content}
            if m.tool_calls:
                msg["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
            out.append(msg)
        elif m.role == "tool":
            content = m.content if not m.is_error else f"[error] {m.content}"
            out.append({"role": "tool", "content": content, "tool_name": m.name or ""})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    fn = raw.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, dict):
        parsed, rest = args, None
    else:
        parsed, rest = parse_arguments(args if isinstance(args, str) else json.dumps(args))
    return ToolCall(id=raw.get("id") or new_id("call"), name=fn.get("name") or "", arguments=parsed,
                    raw_arguments=rest)


class OllamaProvider:
    """One Ollama model (see the module doc).

    Args:
        name: registry name.
        entry: the entry (``model`` is the Ollama model tag, e.g. ``qwen2.5-coder:0.5b``).
        ctx: shared HTTP client (Ollama needs no key).
    """

    provider = "ollama"

    def __init__(self, name: str, entry: ModelEntry, ctx: ProviderContext):
        self.name = name
        self.entry = entry
        self.url = (entry.base_url or DEFAULT_BASE_URL).rstrip("/") + "/api/chat"
        self.api_key = ctx.api_key
        self._caller = HttpCaller(self.provider, name, ctx.http, classify=self._classify)

    @staticmethod
    def _classify(status: int, body: str) -> str:
        kind = classify_status(status, body)
        if status == 404 or ("not found" in body.lower() and "model" in body.lower()):
            return "not_found"
        return kind

    def headers(self) -> dict[str, str]:
        """Request headers (authentication included when there is a key)."""
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def build_body(self, request: ModelRequest, stream: bool) -> dict[str, Any]:
        """The JSON request body."""
        params = {**self.entry.params, **request.params}
        params.pop("stream", None)
        body: dict[str, Any] = {"model": self.entry.model, "messages": encode_messages(request.messages),
                                "stream": stream}
        options: dict[str, Any] = dict(params.pop("options", {}) or {})
        for key, value in params.items():
            if key in TOP_LEVEL_PARAMS:
                body[key] = value
            elif key == "max_tokens":
                options["num_predict"] = value
            else:
                options[key] = value
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.stop:
            options["stop"] = request.stop
        if options:
            body["options"] = options
        if request.tools and request.tool_choice != "none":
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in request.tools]
        if request.response_schema is not None:
            body["format"] = request.response_schema
        return body

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """One ``/api/chat`` call.

        Raises:
            ProviderError: HTTP errors (404 → ``not_found``), transport
                failures, timeouts, ``stream_cut``, ``malformed`` replies.
        """
        stream = bool(request.params.get("stream", self.entry.stream))
        body = self.build_body(request, stream)
        timeout = httpx_timeout(self.entry, request)
        with reply_shape_guard(self.provider, self.name):
            return await self._complete(request, body, stream, timeout, on_delta)

    async def _complete(self, request: ModelRequest, body: dict[str, Any], stream: bool, timeout,
                        on_delta: DeltaCallback | None) -> ModelResponse:
        if not stream:
            data = await self._caller.post_json(self.url, body, self.headers(), timeout=timeout,
                                                deadline_s=timeout_s(self.entry, request) + self.entry.connect_timeout)
            if not isinstance(data, dict):
                raise malformed(self.provider, self.name, f"reply is not an object: {json.dumps(data)[:200]}")
            self._raise_error(data)
            if not isinstance(data.get("message"), dict):
                raise malformed(self.provider, self.name, f"no message in {json.dumps(data)[:200]}")
            msg = data["message"]
            calls = [_tool_call(tc) for tc in msg.get("tool_calls") or []]
            return self._response(request, msg.get("content") or "", calls, data)
        text: list[str] = []
        calls = []
        final: dict[str, Any] | None = None
        async with self._caller.stream(self.url, body, self.headers(), timeout=timeout) as response:
            async for line in iter_ndjson(response):
                chunk = loads(line, provider=self.provider, model=self.name)
                if not isinstance(chunk, dict):
                    raise malformed(self.provider, self.name, f"stream line is not an object: {line[:200]}")
                self._raise_error(chunk)
                msg = chunk.get("message") or {}
                if msg.get("content"):
                    text.append(msg["content"])
                    if on_delta:
                        on_delta(StreamDelta(text=msg["content"]))
                for tc in msg.get("tool_calls") or []:
                    call = _tool_call(tc)
                    calls.append(call)
                    if on_delta:
                        on_delta(StreamDelta(tool_index=len(calls) - 1, tool_name=call.name,
                                             tool_arguments=json.dumps(call.arguments)))
                if chunk.get("done"):
                    final = chunk
                    break
        if final is None:
            raise ProviderError(f"ollama model `{self.name}`: the stream ended before `done`", kind="stream_cut",
                                provider=self.provider, model=self.name)
        return self._response(request, "".join(text), calls, final)

    def _raise_error(self, data: dict[str, Any]) -> None:
        if "error" in data:
            message = str(data["error"])
            kind = self._classify(500, message)
            raise ProviderError(f"ollama model `{self.name}`: {message[:500]}", kind=kind, provider=self.provider,
                                model=self.name)

    def _response(self, request: ModelRequest, content: str, calls: list[ToolCall], data: dict[str, Any]) -> ModelResponse:
        structured = None
        if request.response_schema is not None and not calls:
            structured = loads(content, provider=self.provider, model=self.name)
        reason = data.get("done_reason") or "stop"
        return ModelResponse(
            message=Message(role="assistant", content=content, tool_calls=calls), model=self.name,
            provider_model=data.get("model"),
            finish_reason="tool_calls" if calls else _FINISH.get(reason, "stop"),
            usage=Usage(input_tokens=int(data.get("prompt_eval_count") or 0),
                        output_tokens=int(data.get("eval_count") or 0)),
            structured=structured)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider owns it (not the shared one)."""
        await self._caller.aclose()
