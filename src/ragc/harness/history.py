"""Bounded conversation history: token estimates and compaction (seed 003's
overflow recovery, seed 001's bounded memory).

When a provider reports a context overflow, or the estimated prompt exceeds
the model's context window, the agent loop calls :func:`compact`: the system
prompt, the first user message and the most recent turns are kept; the turns
in between are replaced by one summary message listing, one line each, what
was said and which tools were called with what result. The summary is
extractive (no extra model call), so compaction is cheap and deterministic.
When there is nothing left to fold, long message contents (typically tool
results) are shortened instead.
"""

from __future__ import annotations

import json

from ragc.harness.types import Message, ToolSpec

CHARS_PER_TOKEN = 4
"""Rough characters per token for estimates (English text and code)."""

MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(messages: list[Message], tools: list[ToolSpec] | None = None) -> int:
    """An estimate of the prompt size in tokens (``chars / 4`` plus a small
    per-message overhead); good enough to compact before an overflow."""
    chars = 0
    for m in messages:
        chars += len(m.content)
        for c in m.tool_calls:
            chars += len(c.name) + len(json.dumps(c.arguments)) + 16
    for t in tools or []:
        chars += len(t.name) + len(t.description) + len(json.dumps(t.parameters))
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def summarize(messages: list[Message], line_chars: int = 160) -> str:
    """One line per message: role, text and tool calls/results, each cut to
    ``line_chars`` characters."""
    lines = []
    for m in messages:
        if m.role == "assistant":
            if m.content.strip():
                lines.append(f"- assistant: {_one_line(m.content, line_chars)}")
            for c in m.tool_calls:
                lines.append(f"- assistant called {c.name}({_one_line(json.dumps(c.arguments), line_chars // 2)})")
        elif m.role == "tool":
            status = "error" if m.is_error else "result"
            lines.append(f"- {m.name or 'tool'} {status}: {_one_line(m.content, line_chars)}")
        else:
            lines.append(f"- {m.role}: {_one_line(m.content, line_chars)}")
    return "\n".join(lines)


def _recent_start(messages: list[Message], start: int) -> int:
    """Move ``start`` back so the kept tail does not begin with tool results
    whose assistant call would be dropped."""
    while 0 < start < len(messages) and messages[start].role == "tool":
        start -= 1
    return start


def compact(messages: list[Message], *, keep_recent: int = 4, truncate_to: int = 2000) -> list[Message] | None:
    """A shorter version of ``messages``, or ``None`` when it cannot shrink.

    Args:
        messages: the conversation (system messages first, as the agent loop builds it).
        keep_recent: how many of the latest messages to keep verbatim
            (extended backwards to keep tool calls with their results).
        truncate_to: when no turn can be folded, contents longer than this
            many characters are cut to it (then to a quarter of it on the
            next call).
    """
    head_end = 0
    while head_end < len(messages) and messages[head_end].role == "system":
        head_end += 1
    first_user = next((i for i in range(head_end, len(messages)) if messages[i].role == "user"), None)
    keep_head = head_end if first_user is None else first_user + 1
    start = _recent_start(messages, max(keep_head, len(messages) - keep_recent))
    middle = messages[keep_head:start]
    if len(middle) >= 2 or (middle and any(len(m.content) > 500 for m in middle)):
        summary = Message(role="user", content=(
            f"[Summary of {len(middle)} earlier messages, compacted to fit the context window]\n"
            + summarize(middle)))
        return messages[:keep_head] + [summary] + messages[start:]
    for limit in (truncate_to, max(200, truncate_to // 4)):
        changed = False
        out = []
        for i, m in enumerate(messages):
            if len(m.content) > limit + 100 and not (m.role == "system" and i < head_end and limit == truncate_to):
                m = m.model_copy(update={"content": m.content[:limit] + "\n[... shortened to fit the context window]"})
                changed = True
            out.append(m)
        if changed:
            return out
    return None
