"""The ``scripted`` provider: canned responses from a JSONL file.

For tests and offline demos only; it never calls a real model. A registry
entry::

    [models.fake]
    provider = "scripted"
    script = "fake.jsonl"          # relative to the registry file's directory

Each non-blank line of the script is one JSON object, one response:

* ``{"text": "..."}`` -- a plain assistant reply;
* ``{"tool_calls": [{"name": "search", "arguments": {"query": "x"}}]}`` -- a
  reply that requests tool calls (``text`` may be given too);
* ``{"route": "LABEL"}`` -- answers a structured request with
  ``{"route": "LABEL"}`` (how model nodes pick a route);
* ``{"json": {...}}`` -- answers a structured request with that object;
* ``{"error": {"kind": "rate_limit", "status": 429, "retry_after": 1,
  "message": "..."}}`` -- raises :class:`ragc.harness.errors.ProviderError`
  with that ``kind`` (to test retries and fallbacks).

Optional keys on any line:

* ``"when": "SUBSTRING"`` -- the line only answers a request whose last user
  message contains ``SUBSTRING``;
* ``"delay_ms": N`` -- wait ``N`` milliseconds first (``anyio.sleep``, so a
  cancelled call stops waiting at once);
* ``"repeat": true`` -- the line is never used up;
* ``"usage": {"input_tokens": I, "output_tokens": O}`` -- reported usage
  instead of the word count estimate.

Matching rule: a request is answered by the first line, in file order, that
is not yet used (or has ``repeat``) and whose ``when`` (if any) is a
substring of the last user message. Using a line marks it used. No match is
a ``ProviderError(kind="bad_request")`` naming the script and quoting the
message. Concurrent requests are served in the order they arrive, so a
script is deterministic under concurrency when its lines carry ``when``
filters that tell the requests apart.

Usage: unless a line gives ``usage``, tokens are estimated as whitespace
separated words (input: every message of the request; output: the reply text
plus the JSON of its tool calls); cost comes from the registry ``price``.

Across ``ragc resume``: each reply names the line that gave it
(``provider_model`` is ``scripted:FILE:NUMBER-HASH``, journaled with the reply), and
the harness hands a resumed run's journaled replies to :meth:`ScriptedProvider.restore`,
which marks those lines used. So a run behaves the same whether or not it
was interrupted: a loop that drafts twice gets the script's first and second
draft, not the first one again.

Test hook: when the environment (``ProviderContext.env``) sets
``RAGC_SCRIPTED_LOG`` to a file path, every answered request appends one JSON
line ``{"model", "line", "when", "last_user", "pid"}`` to that file, so a
test can count real calls across processes (e.g. before and after a crash).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ragc.harness.errors import ConfigError, ProviderError
from ragc.harness.providers.base import ProviderContext
from ragc.harness.types import (
    DeltaCallback,
    Message,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    ToolCall,
    Usage,
)
from ragc.registry.model import ModelEntry

_KEYS = frozenset({"text", "tool_calls", "route", "json", "error", "when", "delay_ms", "repeat", "usage"})
_ANSWER_KEYS = ("text", "tool_calls", "route", "json", "error")


@dataclass(slots=True)
class ScriptLine:
    """One parsed script line. ``number`` is 1-based (for messages)."""

    number: int
    data: dict[str, Any]
    when: str | None
    delay_s: float
    repeat: bool
    used: bool = False

    @property
    def tag(self) -> str:
        """``NUMBER-HASH``: the line's number and 8 hex digits of the SHA-256 of
        its JSON (so a changed script does not match an old reply's line)."""
        digest = hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.number}-{digest}"


def load_script(path: Path) -> list[ScriptLine]:
    """Parse a script file into lines.

    Raises:
        ConfigError: the file is missing, a line is not a JSON object, has
            an unknown key, or gives no answer (``text``, ``tool_calls``,
            ``route``, ``json`` or ``error``).
    """
    from ragc.registry.files import ReferencedFileError, describe, read_referenced_text

    try:
        raw = read_referenced_text(path)  # regular files only, bounded: never a FIFO or a device
    except ReferencedFileError as e:
        reason = "does not exist" if e.missing else e.reason
        raise ConfigError(f"cannot read the script {describe(path)}: {reason}",
                          hint="`script` is relative to the registry file's directory") from None
    lines: list[ScriptLine] = []
    for number, text in enumerate(raw.splitlines(), start=1):
        text = text.strip()
        if not text or text.startswith("//") or text.startswith("#"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{number}: not valid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:{number}: each line must be a JSON object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ConfigError(f"{path}:{number}: unknown key `{unknown[0]}`",
                              hint="keys: " + ", ".join(sorted(_KEYS)))
        if not any(k in data for k in _ANSWER_KEYS):
            raise ConfigError(f"{path}:{number}: the line gives no response",
                              hint="give one of `text`, `tool_calls`, `route`, `json`, `error`")
        when = data.get("when")
        if when is not None and not isinstance(when, str):
            raise ConfigError(f"{path}:{number}: `when` must be a string")
        delay = data.get("delay_ms", 0)
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ConfigError(f"{path}:{number}: `delay_ms` must be a number >= 0")
        lines.append(ScriptLine(number, data, when, float(delay) / 1000.0, bool(data.get("repeat", False))))
    return lines


def _words(text: str) -> int:
    return len(text.split())


def _last_user(messages: list[Message]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            return m.content
    return ""


class ScriptedProvider:
    """A provider that answers from a JSONL script (see the module docs).

    Args:
        name: the registry model name.
        entry: its registry entry (``script`` is required by the schema).
        ctx: ``base_dir`` resolves a relative ``script``; ``env`` may set
            ``RAGC_SCRIPTED_LOG``.

    Raises:
        ConfigError: the script cannot be read or parsed.
    """

    def __init__(self, name: str, entry: ModelEntry, ctx: ProviderContext):
        self.name = name
        self.entry = entry
        script = Path(entry.script or "").expanduser()
        self.path = script if script.is_absolute() else Path(ctx.base_dir) / script
        self.lines = load_script(self.path)
        self._log_path = (ctx.env or {}).get("RAGC_SCRIPTED_LOG") or None
        self._calls = 0

    def _pick(self, last_user: str) -> ScriptLine:
        for line in self.lines:
            if line.used and not line.repeat:
                continue
            if line.when is not None and line.when not in last_user:
                continue
            if not line.repeat:
                line.used = True
            return line
        shown = last_user if len(last_user) <= 200 else last_user[:200] + "..."
        raise ProviderError(
            f"scripted model `{self.name}`: no line of {self.path.name} answers the message {shown!r}",
            kind="bad_request", provider="scripted", model=self.name,
            hint="add a line (or a `when` filter that matches) to the script, or mark a line `\"repeat\": true`")

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """Answer ``request`` with the next matching line (see module docs).

        Raises:
            ProviderError: no line matches (``bad_request``) or the line is
                an ``error`` line (its ``kind``).
        """
        last_user = _last_user(request.messages)
        line = self._pick(last_user)
        self._calls += 1
        call_no = self._calls
        if line.delay_s:
            await anyio.sleep(line.delay_s)
        if self._log_path:
            self._log(line, last_user)
        data = line.data
        if "error" in data:
            err = data["error"] if isinstance(data["error"], dict) else {"message": str(data["error"])}
            raise ProviderError(
                str(err.get("message") or f"scripted {err.get('kind', 'server')} error"),
                kind=str(err.get("kind", "server")), provider="scripted", model=self.name,
                status=err.get("status"), retry_after_s=err.get("retry_after"))
        text = data.get("text", "")
        structured: Any = None
        if "route" in data:
            structured = {"route": data["route"]}
            if not text:
                text = json.dumps(structured)
        elif "json" in data:
            structured = data["json"]
            if not text:
                text = json.dumps(structured)
        elif request.response_schema is not None and text:
            try:
                structured = json.loads(text)
            except json.JSONDecodeError:
                structured = None
        if not isinstance(text, str):
            text = json.dumps(text)
        calls = [
            ToolCall(id=f"call_{call_no}_{i}", name=str(c.get("name", "")), arguments=dict(c.get("arguments") or {}))
            for i, c in enumerate(data.get("tool_calls") or [], start=1)
        ]
        if on_delta is not None and text:
            on_delta(StreamDelta(text=text))
        usage_data = data.get("usage")
        if isinstance(usage_data, dict):
            inp = int(usage_data.get("input_tokens", 0))
            out = int(usage_data.get("output_tokens", 0))
        else:
            inp = sum(_words(m.content) for m in request.messages)
            out = _words(text) + sum(_words(json.dumps(c.arguments)) + 1 for c in calls)
        price = self.entry.price
        usage = Usage(input_tokens=inp, output_tokens=out, model_calls=1,
                      cost_usd=price.cost(inp, out) if price else 0.0)
        message = Message(role="assistant", content=text, tool_calls=calls, name=None)
        return ModelResponse(message=message, usage=usage, model=self.name,
                             provider_model=f"scripted:{self.path.name}:{line.tag}",
                             finish_reason="tool_calls" if calls else "stop", structured=structured)

    def restore(self, responses: list[ModelResponse]) -> None:
        """Mark the script lines that answered ``responses`` (journaled replies
        of an earlier leg of the run) as used, so a resumed run goes on with
        the next lines exactly as an uninterrupted run would. A reply names
        its line in ``provider_model`` (``scripted:FILE:NUMBER-HASH``, see
        :attr:`ScriptLine.tag`); replies of other scripts, or of a line that
        has changed since, are ignored."""
        prefix = f"scripted:{self.path.name}:"
        by_tag = {line.tag: line for line in self.lines}
        for r in responses:
            pm = r.provider_model or ""
            line = by_tag.get(pm[len(prefix):]) if pm.startswith(prefix) else None
            if line is not None and not line.repeat:
                line.used = True

    def _log(self, line: ScriptLine, last_user: str) -> None:
        record = {"model": self.name, "line": line.number, "when": line.when, "last_user": last_user[:500],
                  "pid": os.getpid()}
        with open(self._log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    async def aclose(self) -> None:
        """Nothing to release."""
        return None
