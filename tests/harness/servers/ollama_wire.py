"""Ollama /api/chat wire format (replies a server sends), after
https://github.com/ollama/ollama/blob/main/docs/api.md ."""

from __future__ import annotations

import json
from typing import Any


def chat(text: str = "", tool_calls: list[dict] | None = None, *, done_reason: str = "stop",
         counts: tuple[int, int] = (10, 5), model: str = "qwen-test") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"model": model, "created_at": "2026-01-01T00:00:00Z", "message": message, "done": True,
            "done_reason": done_reason, "prompt_eval_count": counts[0], "eval_count": counts[1]}


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"function": {"name": name, "arguments": arguments}}


def ndjson(*objs: Any) -> list[bytes]:
    return [(json.dumps(o) + "\n").encode() for o in objs]


def stream_text(pieces: list[str], *, counts: tuple[int, int] = (10, 5), done: bool = True) -> list[bytes]:
    objs: list[dict[str, Any]] = [{"model": "qwen-test", "message": {"role": "assistant", "content": p}, "done": False}
                                  for p in pieces]
    if done:
        objs.append({"model": "qwen-test", "message": {"role": "assistant", "content": ""}, "done": True,
                     "done_reason": "stop", "prompt_eval_count": counts[0], "eval_count": counts[1]})
    return ndjson(*objs)
