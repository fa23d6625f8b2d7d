"""Anthropic Messages wire format (replies a server sends), after
https://docs.anthropic.com/en/api/messages and .../messages-streaming ."""

from __future__ import annotations

import json
from typing import Any


def tool_use(name: str, input: dict[str, Any], id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def message(text: str | None = "", blocks: list[dict] | None = None, *, stop_reason: str | None = None,
            usage: tuple[int, int] = (10, 5), model: str = "claude-test") -> dict[str, Any]:
    content = ([{"type": "text", "text": text}] if text else []) + (blocks or [])
    stop = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn")
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def error(type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type, "message": message}}


def events(*pairs: tuple[str, dict[str, Any]]) -> list[bytes]:
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in pairs]


def _start(usage_in: int) -> tuple[str, dict]:
    return ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
        "stop_reason": None, "usage": {"input_tokens": usage_in, "output_tokens": 1}}})


def stream_text(pieces: list[str], *, usage: tuple[int, int] = (10, 5), stop: bool = True) -> list[bytes]:
    pairs = [_start(usage[0]),
             ("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
             ("ping", {"type": "ping"})]
    pairs += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    pairs += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": usage[1]}})]
    if stop:
        pairs.append(("message_stop", {"type": "message_stop"}))
    return events(*pairs)


def stream_tool_use(text: str, name: str, json_pieces: list[str], *, id: str = "toolu_1",
                    usage: tuple[int, int] = (10, 5)) -> list[bytes]:
    pairs = [_start(usage[0]),
             ("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
             ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": text}}),
             ("content_block_stop", {"type": "content_block_stop", "index": 0}),
             ("content_block_start", {"type": "content_block_start", "index": 1,
                                      "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})]
    pairs += [("content_block_delta", {"type": "content_block_delta", "index": 1,
                                       "delta": {"type": "input_json_delta", "partial_json": p}})
              for p in json_pieces]
    pairs += [("content_block_stop", {"type": "content_block_stop", "index": 1}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                 "usage": {"output_tokens": usage[1]}}),
              ("message_stop", {"type": "message_stop"})]
    return events(*pairs)
