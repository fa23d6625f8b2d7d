"""Errors raised by the harness, classified so retry, fallback, key rotation
and circuit breakers can decide what to do.

``kind`` values (also usable in a node's ``retry { on [...] }``):

============== ========== ====================================================
kind           retryable  meaning
============== ========== ====================================================
rate_limit     yes        HTTP 429 (``retry_after_s`` from ``Retry-After``)
overloaded     yes        Anthropic 529, or a provider's "overloaded"
server         yes        HTTP 5xx
timeout        yes        connect/read timeout or a stalled stream
connect        yes        connection refused/reset
stream_cut     yes        a stream ended before its terminator
malformed      yes        a reply that is not valid JSON / not the format
auth           no         401/403 (rotates to the next API key if any)
billing        no         402 or a quota/billing error (rotates keys)
bad_request    no         400/404/422
context_overflow no       the prompt exceeds the model's context window
not_found      no         unknown model at the provider
circuit_open   no         the model's circuit breaker is open
unavailable    no         the local model or a dependency is not installed
============== ========== ====================================================
"""

from __future__ import annotations

RETRYABLE_KINDS = frozenset({"rate_limit", "overloaded", "server", "timeout", "connect", "stream_cut", "malformed"})
KEY_ROTATION_KINDS = frozenset({"auth", "billing", "rate_limit"})


class HarnessError(Exception):
    """Base class. ``kind`` is a short classification (see module doc);
    ``hint`` tells the user what to do."""

    kind: str = "error"

    def __init__(self, message: str, *, kind: str | None = None, hint: str | None = None):
        from ragc.registry.secrets import redact

        # a library's message may quote a key whole (`Illegal header value b'Bearer ...'`)
        message, hint = redact(message), redact(hint) if hint else hint
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.hint = hint

    @property
    def retryable(self) -> bool:
        """Is ``kind`` one of :data:`RETRYABLE_KINDS`?"""
        return self.kind in RETRYABLE_KINDS


class ProviderError(HarnessError):
    """A failed model call. ``status`` is the HTTP status (if any),
    ``retry_after_s`` the server's ``Retry-After`` in seconds, ``provider``
    and ``model`` the registry names involved."""

    def __init__(self, message: str, *, kind: str, provider: str = "", model: str = "",
                 status: int | None = None, retry_after_s: float | None = None, hint: str | None = None):
        super().__init__(message, kind=kind, hint=hint)
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after_s = retry_after_s


class ToolError(HarnessError):
    """A tool call that failed (bad arguments, sandbox violation, timeout,
    exception in the tool). In an agent loop it goes back to the model as an
    error result; in a ``tool`` node it fails the node."""

    kind = "tool"


class BudgetExceeded(HarnessError):
    """A budget limit was hit. ``limit`` names it (``max_model_calls``...)."""

    kind = "budget"

    def __init__(self, message: str, *, limit: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.limit = limit


class ConfigError(HarnessError):
    """The registry entry cannot be used as configured (missing key, unset
    ``${VAR}``, unknown provider, model file missing)."""

    kind = "config"
