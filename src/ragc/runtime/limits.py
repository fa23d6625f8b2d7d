"""Attempts of one activation: per-attempt timeout, retry with backoff, and
the mapping of every failure to a :class:`~ragc.runtime.errors.RunError`.

Backoff (:class:`ragc.ir.model.RetryIR`) is
:func:`ragc.harness.resilience.backoff_delay`, the one the provider retries
use too: the delay before attempt k+1 is ``initial * 2**(k-1)``
(exponential), ``initial * k`` (linear) or ``initial`` (fixed), capped at
``max``; with ``jitter`` it is drawn uniformly from ``[0, delay]``. A
provider's ``Retry-After`` raises the delay to at least that many seconds.

Which failures are retried: ``retry.on`` lists error kinds (``timeout``,
``rate_limit``, ``server``, ``tool``, ``model``, ``function``, ``any``...);
empty means every *retryable* failure -- everything except budget,
configuration, limit and expression errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

import anyio

from ragc.harness.errors import BudgetExceeded, ConfigError, HarnessError, ProviderError, ToolError
from ragc.harness.resilience import backoff_delay
from ragc.ir.model import RetryIR
from ragc.runtime.errors import RunError, RunStop
from ragc.runtime.expressions import ExprError

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation, NodeOutput

_NOT_RETRYABLE_KINDS = frozenset({"budget", "config", "limit", "expression", "state", "interrupt"})

_PROVIDER_KINDS = ("rate_limit", "overloaded", "server", "timeout", "connect", "stream_cut", "malformed", "auth",
                   "billing", "bad_request", "context_overflow", "not_found", "circuit_open", "unavailable", "model")

RETRY_ON_MATCHES: dict[str, tuple[str, ...]] = {
    "model": _PROVIDER_KINDS,
    "network": ("connect", "stream_cut"),
}
"""The failure kinds a ``retry { on [...] }`` name matches, where it is not
just the kind itself (``any`` matches every kind) (the names are checked by ``ragc.check.kinds.RETRY_ON``;
the provider kinds are :mod:`ragc.harness.errors`'s)."""


def should_retry(retry: RetryIR | None, err: RunError, attempt: int) -> bool:
    """Whether a failed ``attempt`` (1-based) is retried under ``retry``.

    Budget, configuration, limit, expression and state failures are never
    retried, even with ``on [any]``: another attempt fails the same way."""
    if retry is None or attempt >= retry.max_attempts:
        return False
    if err.kind in _NOT_RETRYABLE_KINDS:
        return False
    if retry.on:
        return "any" in retry.on or any(err.kind in RETRY_ON_MATCHES.get(on, (on,)) for on in retry.on)
    return err.retryable


def to_run_error(act: "Activation", e: BaseException) -> RunError:
    """Map any failure of an attempt to a :class:`RunError` naming the node."""
    cn = act.node
    if isinstance(e, RunError):
        err = e
    elif isinstance(e, TimeoutError):
        t = act.run.timeout_for(cn)  # the effective (policy-capped) attempt timeout
        err = RunError("E0904", f"node `{cn.name}` timed out after {t:g}s" if t else f"node `{cn.name}` timed out",
                       kind="timeout", retryable=True,
                       hint="raise the node's `timeout`, or add `retry { on [timeout] }`")
    elif isinstance(e, BudgetExceeded):
        message = str(e)  # a node's own budget already names the node
        err = RunError("E0905", message if message.startswith(f"node `{cn.name}`") else f"node `{cn.name}`: {message}",
                       kind="budget", hint=e.hint)
    elif isinstance(e, ProviderError):
        err = RunError("E0909", f"node `{cn.name}`: model call failed ({e.kind}): {e}", kind=e.kind,
                       retryable=e.retryable, hint=e.hint)
    elif isinstance(e, ToolError):
        err = RunError("E0909", f"node `{cn.name}`: tool failed: {e}", kind="tool", retryable=True, hint=e.hint)
    elif isinstance(e, ConfigError):
        err = RunError("E0909", f"node `{cn.name}`: {e}", kind="config", hint=e.hint)
    elif isinstance(e, HarnessError):
        err = RunError("E0909", f"node `{cn.name}`: {e}", kind=e.kind, retryable=e.retryable, hint=e.hint)
    elif isinstance(e, ExprError):
        err = RunError("E0908", f"node `{cn.name}`: {e}", kind="expression")
    else:
        what = f"function `{cn.ir.function}`" if cn.kind == "function" and cn.ir.function else f"node `{cn.name}`"
        err = RunError("E0909", f"{what} raised {type(e).__name__}: {e}",
                       kind="function" if cn.kind in ("function", "router") else "error", retryable=True)
    if err is not e:
        err.__cause__ = e
    if err.node is None:
        err.node = cn.name
    if err.activation is None:
        err.activation = act.id
    if err.span is None:
        err.span = cn.span
    if err.kind in _NOT_RETRYABLE_KINDS:
        err.retryable = False
    return err


async def run_attempts(act: "Activation", body: Callable[["Activation"], Awaitable["NodeOutput"]], *,
                       retry: RetryIR | None, timeout_s: float | None) -> Any:
    """Run ``body(act)`` until it succeeds or retries are exhausted.

    Each attempt gets a fresh :class:`~ragc.runtime.replay.ActivationEffects`
    (keys of attempt k > 1 are prefixed ``a{k}/``) and, if ``timeout_s`` is
    set, an ``anyio.fail_after`` scope. :class:`~ragc.runtime.errors.RunStop`
    (an interrupt, the end of an inspection) passes through untouched.

    Raises:
        RunError: the last attempt's failure.
    """
    run = act.run
    attempt = 1
    while True:
        act.attempt = attempt
        act._effects = None
        try:
            if timeout_s is not None:
                with anyio.fail_after(timeout_s):
                    return await body(act)
            return await body(act)
        except RunStop:
            raise
        except Exception as e:  # noqa: BLE001 - every failure is classified below
            err = to_run_error(act, e)
        if not should_retry(retry, err, attempt):
            raise err
        assert retry is not None  # should_retry is False without a retry block
        delay = backoff_delay(attempt, initial_s=retry.initial_s, max_s=retry.max_s, schedule=retry.backoff,
                              jitter=retry.jitter, retry_after_s=getattr(err.__cause__, "retry_after_s", None))
        run.node_retrying(act, err, attempt, delay)
        if delay > 0:
            await anyio.sleep(delay)
        attempt += 1
