"""The one vocabulary of failure kinds: :class:`ErrorKind`.

Every failure that ragc classifies carries a kind: a provider's
:class:`~ragc.harness.errors.ProviderError`, a tool's
:class:`~ragc.harness.errors.ToolError`, a run's
:class:`~ragc.runtime.errors.RunError`. The kind decides what happens next:
whether the resilience layer retries a model call, whether a node's
``retry { on [...] }`` retries the node, and it is what the ``errors``
channel, the journal and ``ragc runs show`` record. The checker validates
``retry { on [...] }`` against :data:`RETRY_ON`, the runtime matches it with
:data:`RETRY_ON_MATCHES`, and the table in ``docs/runtime.md`` ("Error kinds")
is generated from this module (``python -m ragc.kinds``; a test keeps it
equal).

:class:`ErrorKind` is an :class:`enum.StrEnum`: a member equals its string
(``ErrorKind.TIMEOUT == "timeout"``), formats as it and serialises to JSON as
it, so journals written before the enum existed read the same.

This module is at the bottom of the import order (it imports nothing of
ragc), so the checker, the harness and the runtime may all use it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """A failure's classification. The groups are :data:`MODEL_CALL_KINDS`
    (a model call failed), :data:`TRANSIENT_KINDS` (another attempt may
    succeed) and :data:`NEVER_RETRIED_KINDS` (another attempt fails the same
    way); :data:`DESCRIPTIONS` says what each kind means."""

    # a model call (ragc.harness.providers, ragc.harness.resilience)
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECT = "connect"
    STREAM_CUT = "stream_cut"
    MALFORMED = "malformed"
    AUTH = "auth"
    BILLING = "billing"
    BAD_REQUEST = "bad_request"
    CONTEXT_OVERFLOW = "context_overflow"
    NOT_FOUND = "not_found"
    CIRCUIT_OPEN = "circuit_open"
    UNAVAILABLE = "unavailable"
    MODEL = "model"
    # the harness's tools, budgets and configuration
    TOOL = "tool"
    EXCEPTION = "exception"
    SANDBOX = "sandbox"
    INTEGRITY = "integrity"
    BUDGET = "budget"
    CONFIG = "config"
    ERROR = "error"
    # the runtime
    FUNCTION = "function"
    EXPRESSION = "expression"
    ROUTE = "route"
    JOIN = "join"
    LOOP = "loop"
    LIMIT = "limit"
    DEADLINE = "deadline"
    STATE = "state"
    INTERRUPT = "interrupt"
    INPUT = "input"
    OUTPUT = "output"
    JOURNAL = "journal"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


K = ErrorKind

DESCRIPTIONS: dict[ErrorKind, str] = {
    K.RATE_LIMIT: "HTTP 429 (the server's `Retry-After` is honoured)",
    K.OVERLOADED: "Anthropic 529, HTTP 503 \"overloaded\", `overloaded_error` events",
    K.SERVER: "other HTTP 5xx",
    K.TIMEOUT: "a connect/read timeout or stalled stream; a node attempt past its `timeout`; a tool that timed out",
    K.CONNECT: "connection refused or reset",
    K.STREAM_CUT: "a stream that ended before its terminator",
    K.MALFORMED: "a reply that is not JSON or not the API's shape",
    K.AUTH: "HTTP 401/403 (rotates to the next API key, if any)",
    K.BILLING: "HTTP 402 or a quota message (rotates keys)",
    K.BAD_REQUEST: "other HTTP 4xx",
    K.CONTEXT_OVERFLOW: "the prompt exceeds the model's context window (an agent compacts its history)",
    K.NOT_FOUND: "an unknown model at the provider; a tool's missing file or name",
    K.CIRCUIT_OPEN: "the model's circuit breaker is open",
    K.UNAVAILABLE: "a local model or an optional dependency is not installed",
    K.MODEL: "a model node's reply cannot be used (e.g. an undeclared route label)",
    K.TOOL: "a tool call failed (in a `tool` node or an agent's tool step)",
    K.EXCEPTION: "a tool crashed (an MCP server or a Python tool raised)",
    K.SANDBOX: "a tool left its workspace or sandbox",
    K.INTEGRITY: "a local model file does not match its recorded hash",
    K.BUDGET: "a `budget` limit (node, graph or policy)",
    K.CONFIG: "a registry entry that cannot be used as configured (missing key, unset `${VAR}`)",
    K.ERROR: "an unclassified failure of a node",
    K.FUNCTION: "a `function` node's or a router function's Python code raised",
    K.EXPRESSION: "an expression or template could not be evaluated",
    K.ROUTE: "no route matched, or a router chose an unknown one",
    K.JOIN: "a join or fan-out failed its policy (more failed branches than `tolerate`)",
    K.LOOP: "an agent repeated the same action and was stopped",
    K.LIMIT: "`max_steps`, `max_visits` or `max_subgraph_depth`",
    K.DEADLINE: "the run passed its `deadline`",
    K.STATE: "a write that a channel cannot take",
    K.INTERRUPT: "the run stopped for a human's answer (not a failure to retry)",
    K.INPUT: "bad run input, resume answer or run id",
    K.OUTPUT: "the graph's output does not match its declared shape",
    K.JOURNAL: "the journal could not be read or written",
    K.CANCELLED: "the run was cancelled",
    K.INTERNAL: "a bug in ragc (please report it)",
}
"""One line per kind: what produces it (the table in ``docs/runtime.md``)."""

MODEL_CALL_KINDS: tuple[ErrorKind, ...] = (
    K.RATE_LIMIT, K.OVERLOADED, K.SERVER, K.TIMEOUT, K.CONNECT, K.STREAM_CUT, K.MALFORMED, K.AUTH, K.BILLING,
    K.BAD_REQUEST, K.CONTEXT_OVERFLOW, K.NOT_FOUND, K.CIRCUIT_OPEN, K.UNAVAILABLE, K.MODEL)
"""Kinds of a failed model call: what ``retry { on [model] }`` matches."""

TRANSIENT_KINDS: frozenset[ErrorKind] = frozenset(
    {K.RATE_LIMIT, K.OVERLOADED, K.SERVER, K.TIMEOUT, K.CONNECT, K.STREAM_CUT, K.MALFORMED})
"""Model-call kinds another attempt may fix: the resilience layer retries
these itself (``max_retries``); ``HarnessError.retryable`` is membership."""

KEY_ROTATION_KINDS: frozenset[ErrorKind] = frozenset({K.AUTH, K.BILLING, K.RATE_LIMIT})
"""Kinds that take an API key out of rotation for a while."""

NEVER_RETRIED_KINDS: frozenset[ErrorKind] = frozenset(
    {K.BUDGET, K.CONFIG, K.LIMIT, K.EXPRESSION, K.STATE, K.INTERRUPT})
"""Kinds a node's ``retry`` never retries, even with ``on [any]``: another
attempt fails the same way."""

RUN_LEVEL_KINDS: frozenset[ErrorKind] = frozenset(
    {K.DEADLINE, K.INPUT, K.OUTPUT, K.JOURNAL, K.CANCELLED, K.INTERNAL})
"""Kinds of a failure of the run as a whole, raised outside any node's
attempt, so no node ``retry`` sees them."""

RETRY_ON_MATCHES: dict[str, tuple[ErrorKind, ...]] = {
    "any": tuple(ErrorKind),
    "model": MODEL_CALL_KINDS,
    "network": (K.CONNECT, K.STREAM_CUT),
}
"""The names of ``retry { on [...] }`` that stand for several kinds; every
other name in :data:`RETRY_ON` matches the kind of that name."""

RETRY_ON: tuple[str, ...] = (
    "any", K.MODEL, K.TOOL, K.FUNCTION, K.TIMEOUT, K.RATE_LIMIT, K.OVERLOADED, K.SERVER, "network", K.CONNECT,
    K.STREAM_CUT, K.MALFORMED, K.AUTH, K.BILLING, K.CONTEXT_OVERFLOW)
"""The names ``retry { on [...] }`` accepts, in the order the checker's help
and ``ragc spec`` list them (``E0206`` for any other)."""


BACKOFF_SCHEDULES: tuple[str, ...] = ("exponential", "linear", "fixed")
"""The delay schedules of ``retry { backoff }`` (the checker's ``E0206``
list; :func:`ragc.harness.resilience.backoff_delay` computes them)."""


def as_kind(kind: str) -> ErrorKind | str:
    """``kind`` as an :class:`ErrorKind` when it is one; an unknown string is
    kept as given, because a failure must never be masked by an error in its
    own classification (``tests/harness/test_h_error_kinds.py`` keeps every
    kind ragc's source raises in the enum)."""
    try:
        return ErrorKind(kind)
    except ValueError:
        return kind


def retry_on_matches(name: str, kind: str) -> bool:
    """Whether the ``retry { on [...] }`` entry ``name`` covers a failure of
    ``kind`` (both plain strings or :class:`ErrorKind`)."""
    return name == "any" or kind in RETRY_ON_MATCHES.get(name, (name,))


def markdown_table() -> str:
    """The "Error kinds" table of ``docs/runtime.md`` (GitHub markdown), one
    row per :class:`ErrorKind` in declaration order."""
    rows = ["| kind | retried by the provider layer | in `retry { on [...] }` | meaning |", "|---|---|---|---|"]
    for kind in ErrorKind:
        provider = "yes" if kind in TRANSIENT_KINDS else "no"
        if kind in NEVER_RETRIED_KINDS:
            on = "never retried"
        elif kind in RUN_LEVEL_KINDS:
            on = "— (fails the run, not a node)"
        elif kind in RETRY_ON:
            on = f"`{kind}`" + ", `model`" * (kind in MODEL_CALL_KINDS and kind != K.MODEL) \
                + ", `network`" * (kind in RETRY_ON_MATCHES["network"]) + ", `any`"
        else:
            on = "`model`, `any`" if kind in MODEL_CALL_KINDS else "`any`"
        rows.append(f"| `{kind}` | {provider} | {on} | {DESCRIPTIONS[kind]} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m ragc.kinds > the table in docs/runtime.md
    print(markdown_table(), end="")
