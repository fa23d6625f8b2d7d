"""HTTP mechanics shared by the OpenAI, Anthropic and Ollama providers:
error classification (status, body and transport errors to a
:class:`~ragc.harness.errors.ProviderError` kind), ``Retry-After`` parsing,
Server-Sent Events and NDJSON readers, timeouts, and request sending.

References: RFC 9110 §10.2.3 (``Retry-After``: delay-seconds or an
HTTP-date) and the WHATWG HTML "Server-sent events" section (event stream
parsing: ``event:``/``data:`` fields, blank line dispatches, ``:`` comments).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, AsyncIterator, Callable, Iterator, Mapping

import anyio
import httpx

from ragc.harness.errors import ProviderError
from ragc.harness.types import ModelRequest
from ragc.registry.model import ModelEntry

OVERFLOW_MARKERS = (
    "context_length_exceeded", "maximum context length", "context length", "context window",
    "prompt is too long", "exceeds the available context", "exceed_context_size", "too many tokens",
    "input is too long", "exceeds the context", "context size",
)
"""Lower-case phrases by which servers report a prompt that does not fit."""

BILLING_MARKERS = ("insufficient_quota", "billing", "credit balance", "quota exceeded", "payment required")
"""Lower-case phrases by which servers report billing / quota problems."""

MAX_MESSAGE_CHARS = 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value.

    Accepts delay-seconds (also with a fraction, e.g. ``"0.5"``) or an
    HTTP-date in any of RFC 9110's three formats, always GMT (a date without
    a zone, as in the asctime format, is read as UTC, not local time); a date
    in the past gives ``0``. Returns ``None`` for a missing or unparseable
    value (``inf``/``nan`` included). ``now`` is the current Unix time
    (default ``time.time()``).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_message(body: str) -> str:
    """The human message inside an error body (``{"error": {"message"}}``,
    ``{"error": "..."}``, ``{"message"}``), else the body itself; bounded."""
    text = body.strip()
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text[:MAX_MESSAGE_CHARS]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("type") or json.dumps(err)
            code = err.get("code") or err.get("type")
            out = f"{msg} ({code})" if code and str(code) not in str(msg) else str(msg)
            return out[:MAX_MESSAGE_CHARS]
        if isinstance(err, str):
            return err[:MAX_MESSAGE_CHARS]
        if "message" in data:
            return str(data["message"])[:MAX_MESSAGE_CHARS]
    return text[:MAX_MESSAGE_CHARS]


def classify_status(status: int, message: str) -> str:
    """The error kind of an HTTP status plus the error message text."""
    low = message.lower()
    if any(m in low for m in OVERFLOW_MARKERS) and status in (400, 413, 422, 500):
        return "context_overflow"
    if status in (401, 403):
        return "auth"
    if status == 402 or (status in (400, 403, 429) and any(m in low for m in BILLING_MARKERS)):
        return "billing"
    if status == 429:
        return "rate_limit"
    if status == 529 or (status == 503 and "overloaded" in low):
        return "overloaded"
    if status == 408:
        return "timeout"
    if status == 413:
        return "context_overflow"
    if status == 404:
        return "not_found"
    if status >= 500:
        return "server"
    return "bad_request"


_HINTS = {
    "auth": "check the API key (registry `api_key` / `api_keys` and the variables they name)",
    "billing": "the account has no credit or quota left",
    "not_found": "check the `model` id and `base_url` in registry.toml",
    "context_overflow": "shorten the prompt or use a model with a larger context window",
    "bad_request": "the provider rejected the request; check `params` in registry.toml",
}


def status_error(response_status: int, body: str, headers: Mapping[str, str], *, provider: str,
                 model: str, kind: str | None = None) -> ProviderError:
    """A :class:`ProviderError` for an HTTP error response."""
    message = error_message(body)
    kind = kind or classify_status(response_status, message)
    return ProviderError(f"{provider} model `{model}`: HTTP {response_status}: {message}", kind=kind,
                         provider=provider, model=model, status=response_status,
                         retry_after_s=parse_retry_after(headers.get("retry-after")), hint=_HINTS.get(kind))


def transport_error(exc: Exception, *, provider: str, model: str, streaming: bool = False) -> ProviderError:
    """A :class:`ProviderError` for an httpx transport failure or a timeout."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        kind, what = "timeout", "timed out"
    elif isinstance(exc, httpx.RemoteProtocolError) and streaming:
        kind, what = "stream_cut", "the stream was cut off"
    elif isinstance(exc, (httpx.ReadError,)) and streaming:
        kind, what = "stream_cut", "the stream was cut off"
    else:
        kind, what = "connect", "connection failed"
    detail = str(exc) or type(exc).__name__
    return ProviderError(f"{provider} model `{model}`: {what}: {detail}", kind=kind, provider=provider, model=model,
                         hint="is the server running and reachable?" if kind == "connect" else None)


def malformed(provider: str, model: str, what: str) -> ProviderError:
    """A ``malformed`` error: the reply is not what the API reference says."""
    return ProviderError(f"{provider} model `{model}`: malformed reply: {what}"[:MAX_MESSAGE_CHARS + 100],
                         kind="malformed", provider=provider, model=model)


@contextmanager
def reply_shape_guard(provider: str, model: str) -> Iterator[None]:
    """Turn a reply of the wrong shape into a ``malformed`` error.

    Provider code reads replies with ``dict.get``, ``int()`` and friends; a
    server that sends, say, a string where an object belongs makes them raise
    ``AttributeError``/``TypeError``/``ValueError`` (pydantic's
    ``ValidationError`` included) or ``KeyError``/``IndexError``. Inside this
    block those become a :class:`ProviderError` of kind ``malformed`` (retried)
    instead of a traceback; a ``ProviderError`` passes through unchanged.
    """
    try:
        yield
    except ProviderError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise malformed(provider, model, f"unexpected reply shape ({type(exc).__name__}: {exc})") from None


def loads(text: str, *, provider: str, model: str) -> Any:
    """``json.loads`` that raises a ``malformed`` :class:`ProviderError`."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise malformed(provider, model, f"not JSON ({exc}): {text[:200]!r}") from None


def timeout_s(entry: ModelEntry, request: ModelRequest) -> float:
    """The request's timeout in seconds (``request.timeout_s`` or the entry's)."""
    return float(request.timeout_s or entry.timeout)


def httpx_timeout(entry: ModelEntry, request: ModelRequest) -> httpx.Timeout:
    """Per-operation httpx timeouts: connect from the entry, read/write/pool
    from the request timeout (a stalled stream fails after that long
    without a byte)."""
    return httpx.Timeout(timeout_s(entry, request), connect=entry.connect_timeout)


@dataclass
class SseEvent:
    """One server-sent event: ``event`` name (``None`` = ``message``) and ``data``."""

    event: str | None
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of an SSE response body, dispatched at blank lines; an
    unterminated event at the end of the body is dropped (as the spec says)."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


async def iter_ndjson(response: httpx.Response) -> AsyncIterator[str]:
    """The non-blank lines of an NDJSON response body."""
    async for line in response.aiter_lines():
        if line.strip():
            yield line


class HttpCaller:
    """Sends JSON requests for one provider instance with the shared client,
    mapping every failure to a :class:`ProviderError`.

    Args:
        provider: provider name for messages (``openai``...).
        model: registry model name.
        http: the shared client (or ``None``: one owned by this caller).
        classify: ``classify(status, body) -> kind`` for error responses
            (default :func:`classify_status` on the body's message).
    """

    def __init__(self, provider: str, model: str, http: httpx.AsyncClient | None,
                 classify: Callable[[int, str], str] | None = None):
        self.provider = provider
        self.model = model
        self.classify = classify
        self._own = http is None
        self.http = http or httpx.AsyncClient(follow_redirects=False)

    async def post_json(self, url: str, body: dict[str, Any], headers: dict[str, str], *,
                        timeout: httpx.Timeout, deadline_s: float) -> Any:
        """POST ``body``; the parsed JSON reply of a 2xx response.

        Raises:
            ProviderError: HTTP error status, transport failure, timeout
                (``deadline_s`` bounds the whole exchange), or a body that is
                not JSON (``malformed``).
        """
        try:
            with anyio.fail_after(deadline_s):
                response = await self.http.post(url, json=body, headers=headers, timeout=timeout)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise transport_error(exc, provider=self.provider, model=self.model) from None
        if response.status_code >= 400:
            raise self.error(response.status_code, response.text, response.headers)
        return loads(response.text, provider=self.provider, model=self.model)

    def error(self, status: int, body: str, headers: Mapping[str, str]) -> ProviderError:
        """The :class:`ProviderError` for an error response."""
        kind = self.classify(status, body) if self.classify else None
        return status_error(status, body, headers, provider=self.provider, model=self.model, kind=kind)

    def stream(self, url: str, body: dict[str, Any], headers: dict[str, str], *, timeout: httpx.Timeout):
        """An async context manager over a streamed POST response (see :class:`_Stream`)."""
        return _Stream(self, url, body, headers, timeout)

    async def aclose(self) -> None:
        """Close the client if this caller created it."""
        if self._own:
            await self.http.aclose()


class _Stream:
    """``async with caller.stream(...) as response``: raises a
    :class:`ProviderError` for transport failures and error statuses (the
    error body is read first)."""

    def __init__(self, caller: HttpCaller, url: str, body: dict[str, Any], headers: dict[str, str],
                 timeout: httpx.Timeout):
        self.caller = caller
        self.request = caller.http.build_request("POST", url, json=body, headers=headers, timeout=timeout)
        self.response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        c = self.caller
        try:
            self.response = await c.http.send(self.request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, provider=c.provider, model=c.model) from None
        if self.response.status_code >= 400:
            try:
                text = (await self.response.aread()).decode("utf-8", errors="replace")
            except httpx.HTTPError:
                text = ""
            finally:
                await self.response.aclose()
            raise c.error(self.response.status_code, text, self.response.headers)
        return self.response

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if self.response is not None:
            await self.response.aclose()
        if isinstance(exc, (httpx.HTTPError, TimeoutError)):
            raise transport_error(exc, provider=self.caller.provider, model=self.caller.model,
                                  streaming=True) from None
        return False
