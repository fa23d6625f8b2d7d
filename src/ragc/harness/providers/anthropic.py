"""Anthropic Messages API over httpx.

API reference: https://docs.anthropic.com/en/api/messages (request,
response, errors at https://docs.anthropic.com/en/api/errors) and
https://docs.anthropic.com/en/api/messages-streaming (the SSE event flow).

* ``POST {base_url}/v1/messages`` with ``x-api-key``, ``anthropic-version:
  2023-06-01`` and ``content-type: application/json``.
* ``system`` is a top-level string (all system messages joined); ``messages``
  alternate ``user``/``assistant`` with content blocks: ``text``,
  ``tool_use`` (``id``, ``name``, ``input``) in assistant turns and
  ``tool_result`` (``tool_use_id``, ``content``, ``is_error``) in user turns.
  Consecutive messages of one role are merged into one turn.
* ``max_tokens`` is required: the request's, else ``params.max_tokens``,
  else 1024.
* Tools: ``{"name", "description", "input_schema"}``; ``tool_choice``
  ``{"type": "auto" | "any" | "none"}`` or ``{"type": "tool", "name"}``.
* Structured output: a forced tool named ``respond`` whose ``input_schema``
  is the response schema (wrapped in an object when it is not one); its
  ``input`` is the structured value.
* Streaming (SSE): ``message_start`` (input tokens), ``content_block_start``
  (``text`` or ``tool_use`` with id and name), ``content_block_delta``
  (``text_delta`` / ``input_json_delta`` with ``partial_json``),
  ``content_block_stop``, ``message_delta`` (``stop_reason``, output tokens),
  ``message_stop``; ``ping`` is ignored and an ``error`` event is raised
  (``overloaded_error`` → ``overloaded``). A stream without
  ``message_stop`` is a ``stream_cut``.
* HTTP 529 is ``overloaded`` (retryable).
"""

from __future__ import annotations

import json
from typing import Any

from ragc.harness.errors import ProviderError
from ragc.harness.providers._http import (HttpCaller, classify_status, error_message, httpx_timeout, iter_sse, loads,
                                          malformed, reply_shape_guard, status_error, timeout_s)
from ragc.harness.providers.base import ProviderContext
from ragc.harness.providers.openai import parse_arguments
from ragc.harness.types import (DeltaCallback, FinishReason, Message, ModelRequest, ModelResponse, StreamDelta,
                                ToolCall, Usage)
from ragc.registry.model import ModelEntry

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
STRUCTURED_TOOL = "respond"

_FINISH: dict[str, FinishReason] = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
                                    "max_tokens": "length", "refusal": "content_filter", "pause_turn": "stop"}

_ERROR_TYPES = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limit", "api_error": "server",
                "authentication_error": "auth", "permission_error": "auth", "not_found_error": "not_found",
                "request_too_large": "context_overflow", "billing_error": "billing",
                "invalid_request_error": "bad_request", "timeout_error": "timeout"}


def _error_kind(status: int, body: str) -> str:
    """Anthropic's ``error.type`` refines the status (overflow and billing
    messages arrive as ``invalid_request_error``)."""
    kind = classify_status(status, error_message(body))
    if kind in ("context_overflow", "billing"):
        return kind
    try:
        etype = json.loads(body).get("error", {}).get("type")
    except (json.JSONDecodeError, AttributeError, ValueError):
        etype = None
    return _ERROR_TYPES.get(etype or "", kind) if etype != "invalid_request_error" else kind


def encode_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Messages API turns) for neutral messages."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in messages:
        if m.role == "system":
            system.append(m.content)
        elif m.role == "user":
            add("user", [{"type": "text", "text": m.content or "(empty)"}])
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
            add("assistant", blocks or [{"type": "text", "text": "(no reply)"}])
        else:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                                     "content": m.content or "(empty)"}
            if m.is_error:
                block["is_error"] = True
            add("user", [block])
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    return "\n\n".join(s for s in system if s), turns


def _object_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(input_schema, wrapped): tool inputs must be objects."""
    if schema.get("type") == "object":
        return schema, False
    return {"type": "object", "properties": {"value": schema}, "required": ["value"]}, True


class AnthropicProvider:
    """One Anthropic model (see the module doc).

    Args:
        name: registry name.
        entry: the entry (``model`` is the Anthropic model id).
        ctx: shared HTTP client and the API key.
    """

    provider = "anthropic"

    def __init__(self, name: str, entry: ModelEntry, ctx: ProviderContext):
        self.name = name
        self.entry = entry
        base = (entry.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self.api_key = ctx.api_key
        self._caller = HttpCaller(self.provider, name, ctx.http, classify=_error_kind)

    def headers(self) -> dict[str, str]:
        """Request headers (authentication included when there is a key)."""
        h = {"content-type": "application/json", "anthropic-version": API_VERSION, "accept": "application/json"}
        if self.api_key:
            h["x-api-key"] = self.api_key
        return h

    def build_body(self, request: ModelRequest, stream: bool) -> tuple[dict[str, Any], bool]:
        """(JSON body, structured value wrapped under ``value``)."""
        params = {**self.entry.params, **request.params}
        params.pop("stream", None)
        system, turns = encode_messages(request.messages)
        body: dict[str, Any] = {"model": self.entry.model}
        body.update(params)
        body["messages"] = turns
        body["max_tokens"] = int(request.max_tokens or params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = request.stop
        wrapped = False
        tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                 for t in request.tools]
        if request.response_schema is not None:
            # the conversation's tools stay defined (the API refuses tool_use blocks
            # without them); the forced `respond` tool carries the answer
            schema, wrapped = _object_schema(request.response_schema)
            body["tools"] = [*tools, {"name": STRUCTURED_TOOL, "description": "Give the final answer in this structure.",
                                      "input_schema": schema}]
            body["tool_choice"] = {"type": "tool", "name": STRUCTURED_TOOL}
        elif request.tools:
            body["tools"] = tools
            choice = request.tool_choice
            body["tool_choice"] = ({"type": "auto"} if choice == "auto" else {"type": "any"} if choice == "required"
                                   else {"type": "none"} if choice == "none" else {"type": "tool", "name": choice})
        if stream:
            body["stream"] = True
        return body, wrapped

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """One Messages API call.

        Raises:
            ProviderError: HTTP errors (529 → ``overloaded``), transport
                failures, timeouts, ``stream_cut``, ``malformed`` replies.
        """
        stream = bool(request.params.get("stream", self.entry.stream))
        body, wrapped = self.build_body(request, stream)
        timeout = httpx_timeout(self.entry, request)
        with reply_shape_guard(self.provider, self.name):
            if stream:
                blocks, stop, usage, model_id = await self._stream(body, timeout, on_delta)
            else:
                data = await self._caller.post_json(self.url, body, self.headers(), timeout=timeout,
                                                    deadline_s=timeout_s(self.entry, request) + self.entry.connect_timeout)
                if not isinstance(data, dict) or not isinstance(data.get("content"), list):
                    if isinstance(data, dict) and data.get("type") == "error":
                        raise status_error(500, json.dumps(data), {}, provider=self.provider, model=self.name,
                                           kind=_error_kind(500, json.dumps(data)))
                    raise malformed(self.provider, self.name, f"no content list in {json.dumps(data)[:200]}")
                blocks = data["content"]
                stop = data.get("stop_reason")
                u = data.get("usage") or {}
                usage = (int(u.get("input_tokens") or 0) + int(u.get("cache_creation_input_tokens") or 0)
                         + int(u.get("cache_read_input_tokens") or 0), int(u.get("output_tokens") or 0))
                model_id = data.get("model")
            return self._response(request, blocks, stop, usage, model_id, wrapped)

    def _response(self, request: ModelRequest, blocks: list[dict[str, Any]], stop: str | None,
                  usage: tuple[int, int], model_id: str | None, wrapped: bool) -> ModelResponse:
        text: list[str] = []
        calls: list[ToolCall] = []
        structured: Any = None
        for b in blocks:
            if b.get("type") == "text":
                text.append(b.get("text") or "")
            elif b.get("type") == "tool_use":
                args = b.get("input")
                if not isinstance(args, dict):
                    args = {}
                if request.response_schema is not None and b.get("name") == STRUCTURED_TOOL:
                    structured = args.get("value") if wrapped else args
                    continue
                calls.append(ToolCall(id=b.get("id") or f"toolu_{len(calls)}", name=b.get("name") or "",
                                      arguments=args))
        content = "".join(text)
        if request.response_schema is not None:
            if structured is None:
                raise malformed(self.provider, self.name, "structured output requested but no `respond` tool call")
            content = json.dumps(structured, ensure_ascii=False)
        finish = _FINISH.get(stop or "", "tool_calls" if calls else "stop")
        if request.response_schema is not None and finish == "tool_calls":
            finish = "stop"
        return ModelResponse(message=Message(role="assistant", content=content, tool_calls=calls), model=self.name,
                             provider_model=model_id, finish_reason=finish,
                             usage=Usage(input_tokens=usage[0], output_tokens=usage[1]), structured=structured)

    async def _stream(self, body: dict[str, Any], timeout, on_delta: DeltaCallback | None):
        blocks: dict[int, dict[str, Any]] = {}
        partial: dict[int, list[str]] = {}
        stop: str | None = None
        input_tokens = 0
        output_tokens = 0
        model_id = None
        finished = False
        async with self._caller.stream(self.url, body, self.headers(), timeout=timeout) as response:
            async for event in iter_sse(response):
                data = loads(event.data, provider=self.provider, model=self.name)
                etype = event.event or (data.get("type") if isinstance(data, dict) else None)
                if not isinstance(data, dict):
                    raise malformed(self.provider, self.name, f"event data is not an object: {event.data[:200]}")
                if etype == "error":
                    raise status_error(500, event.data, {}, provider=self.provider, model=self.name,
                                       kind=_error_kind(500, event.data))
                if etype == "message_start":
                    msg = data.get("message") or {}
                    model_id = msg.get("model")
                    u = msg.get("usage") or {}
                    input_tokens = (int(u.get("input_tokens") or 0) + int(u.get("cache_creation_input_tokens") or 0)
                                    + int(u.get("cache_read_input_tokens") or 0))
                    output_tokens = int(u.get("output_tokens") or 0)
                elif etype == "content_block_start":
                    idx = int(data.get("index", len(blocks)))
                    blocks[idx] = dict(data.get("content_block") or {})
                    partial[idx] = []
                    if blocks[idx].get("type") == "tool_use" and on_delta:
                        on_delta(StreamDelta(tool_index=idx, tool_name=blocks[idx].get("name")))
                elif etype == "content_block_delta":
                    idx = int(data.get("index", 0))
                    delta = data.get("delta") or {}
                    block = blocks.setdefault(idx, {"type": "text", "text": ""})
                    if delta.get("type") == "text_delta":
                        block["text"] = block.get("text", "") + (delta.get("text") or "")
                        if on_delta:
                            on_delta(StreamDelta(text=delta.get("text") or ""))
                    elif delta.get("type") == "input_json_delta":
                        partial.setdefault(idx, []).append(delta.get("partial_json") or "")
                        if on_delta:
                            on_delta(StreamDelta(tool_index=idx, tool_arguments=delta.get("partial_json") or ""))
                elif etype == "message_delta":
                    stop = (data.get("delta") or {}).get("stop_reason") or stop
                    u = data.get("usage") or {}
                    if u.get("output_tokens") is not None:
                        output_tokens = int(u["output_tokens"])
                elif etype == "message_stop":
                    finished = True
                    break
        if not finished:
            raise ProviderError(f"anthropic model `{self.name}`: the stream ended without message_stop",
                                kind="stream_cut", provider=self.provider, model=self.name)
        ordered = []
        for idx in sorted(blocks):
            block = blocks[idx]
            if block.get("type") == "tool_use":
                text = "".join(partial.get(idx, []))
                args, raw = parse_arguments(text)
                if raw is not None:
                    raise malformed(self.provider, self.name, f"tool input is not a JSON object: {raw[:200]}")
                block["input"] = args if text.strip() else (block.get("input") or {})
            ordered.append(block)
        return ordered, stop, (input_tokens, output_tokens), model_id

    async def aclose(self) -> None:
        """Close the HTTP client if this provider owns it (not the shared one)."""
        await self._caller.aclose()
