"""OpenAI Chat Completions wire format (replies a server sends), after
https://platform.openai.com/docs/api-reference/chat ."""

from __future__ import annotations

import json
from typing import Any


def tool_call(name: str, arguments: dict[str, Any] | str, id: str = "call_1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": args}}


def completion(text: str | None = "", tool_calls: list[dict] | None = None, *, usage: tuple[int, int] = (10, 5),
               finish: str | None = None, model: str = "gpt-test") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": finish or ("tool_calls" if tool_calls else "stop")}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def error(message: str, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code}}


def sse(*objs: Any, done: bool = True) -> list[bytes]:
    chunks = [f"data: {json.dumps(o)}\n\n".encode() for o in objs]
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-test",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def usage_chunk(usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-test", "choices": [],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def stream_text(pieces: list[str], *, usage: tuple[int, int] = (10, 5), done: bool = True) -> list[bytes]:
    objs = [chunk({"role": "assistant", "content": ""})]
    objs += [chunk({"content": p}) for p in pieces]
    objs += [chunk({}, "stop"), usage_chunk(usage)]
    return sse(*objs, done=done)


def stream_tool_call(name: str, arg_pieces: list[str], *, id: str = "call_1", usage: tuple[int, int] = (10, 5),
                     done: bool = True) -> list[bytes]:
    objs = [chunk({"role": "assistant", "content": None,
                   "tool_calls": [{"index": 0, "id": id, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]})]
    objs += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in arg_pieces]
    objs += [chunk({}, "tool_calls"), usage_chunk(usage)]
    return sse(*objs, done=done)
