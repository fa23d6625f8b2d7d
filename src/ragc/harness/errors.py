"""Errors raised by the harness, classified so retry, fallback, key rotation
and circuit breakers can decide what to do.

Every error has a ``kind``, an :class:`~ragc.kinds.ErrorKind` (the one
vocabulary of failure kinds, shared with the runtime and the checker's
``retry { on [...] }``; the table with what produces each kind is in
``docs/runtime.md``, "Error kinds"). A model call's kinds are
:data:`~ragc.kinds.MODEL_CALL_KINDS`; the resilience layer retries the
transient ones (:data:`RETRYABLE_KINDS`) itself and rotates API keys on
:data:`KEY_ROTATION_KINDS`.
"""

from __future__ import annotations

from ragc.kinds import KEY_ROTATION_KINDS, TRANSIENT_KINDS, ErrorKind, as_kind

RETRYABLE_KINDS = TRANSIENT_KINDS
"""Kinds another attempt of the same call may fix (``rate_limit``,
``overloaded``, ``server``, ``timeout``, ``connect``, ``stream_cut``,
``malformed``)."""

__all__ = ["KEY_ROTATION_KINDS", "RETRYABLE_KINDS", "BudgetExceeded", "ConfigError", "ErrorKind", "HarnessError",
           "ProviderError", "ToolError"]


class HarnessError(Exception):
    """Base class. ``kind`` is a short classification (see module doc);
    ``hint`` tells the user what to do."""

    kind: ErrorKind | str = ErrorKind.ERROR

    def __init__(self, message: str, *, kind: ErrorKind | str | None = None, hint: str | None = None):
        from ragc.registry.secrets import redact

        # a library's message may quote a key whole (`Illegal header value b'Bearer ...'`)
        message, hint = redact(message), redact(hint) if hint else hint
        super().__init__(message)
        if kind is not None:
            self.kind = as_kind(kind)
        self.hint = hint

    @property
    def retryable(self) -> bool:
        """Is ``kind`` one of :data:`RETRYABLE_KINDS`?"""
        return self.kind in RETRYABLE_KINDS


class ProviderError(HarnessError):
    """A failed model call. ``status`` is the HTTP status (if any),
    ``retry_after_s`` the server's ``Retry-After`` in seconds, ``provider``
    and ``model`` the registry names involved."""

    def __init__(self, message: str, *, kind: ErrorKind | str, provider: str = "", model: str = "",
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

    kind = ErrorKind.TOOL


class BudgetExceeded(HarnessError):
    """A budget limit was hit. ``limit`` names it (``max_model_calls``...)."""

    kind = ErrorKind.BUDGET

    def __init__(self, message: str, *, limit: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.limit = limit


class ConfigError(HarnessError):
    """The registry entry cannot be used as configured (missing key, unset
    ``${VAR}``, unknown provider, model file missing)."""

    kind = ErrorKind.CONFIG
