"""Attempts of one activation: per-attempt timeout, retry with backoff, and
the mapping of every failure to a :class:`~ragc.runtime.errors.RunError`.

Backoff (:class:`ragc.ir.model.RetryIR`) is
:func:`ragc.harness.resilience.backoff_delay`, the one the provider retries
use too: the delay before attempt k+1 is ``initial * 2**(k-1)``
(exponential), ``initial * k`` (linear) or ``initial`` (fixed), capped at
``max``; with ``jitter`` it is drawn uniformly from ``[0, delay]``. A
provider's ``Retry-After`` raises the delay to at least that many seconds.

Which failures are retried: ``retry.on`` lists error kinds
(:class:`ragc.kinds.ErrorKind`: ``timeout``, ``rate_limit``, ``server``,
``tool``, ``function``...) or names for several (``model``, ``network``,
``any``: :data:`ragc.kinds.RETRY_ON_MATCHES`); empty means every *retryable*
failure. :data:`ragc.kinds.NEVER_RETRIED_KINDS` (budget, configuration,
limit, expression, state, interrupt) are never retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

import anyio

from ragc.harness.errors import BudgetExceeded, ConfigError, HarnessError, ProviderError, ToolError
from ragc.harness.resilience import backoff_delay, node_retried_kinds, node_retries
from ragc.ir.model import RetryIR
from ragc.kinds import NEVER_RETRIED_KINDS, RETRY_ON_MATCHES, TRANSIENT_KINDS, ErrorKind, retry_on_matches
from ragc.runtime.errors import RunError, RunStop
from ragc.runtime.expressions import ExprError

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation, NodeOutput

_NOT_RETRYABLE_KINDS = NEVER_RETRIED_KINDS
__all__ = ["RETRY_ON_MATCHES", "kinds_owned_by_node_retry", "run_attempts", "should_retry", "to_run_error"]


def kinds_owned_by_node_retry(retry: RetryIR | None) -> frozenset[ErrorKind]:
    """The transient model-call kinds a node's ``retry`` retries itself, so
    the provider layer must not retry them too (one layer per kind;
    ``docs/runtime.md``, "How node and provider retries compose").

    Empty without ``retry`` or with ``max_attempts 1`` (the provider layer
    keeps all its retries); every transient kind with ``retry`` but no ``on``
    (the node retries every retryable failure); else the transient kinds its
    ``on`` names match (``on [model]``: all of them, ``on [timeout]``: only
    ``timeout``)."""
    if retry is None or retry.max_attempts <= 1:
        return frozenset()
    if not retry.on:
        return TRANSIENT_KINDS
    return frozenset(k for k in TRANSIENT_KINDS if any(retry_on_matches(on, k) for on in retry.on))


def should_retry(retry: RetryIR | None, err: RunError, attempt: int) -> bool:
    """Whether a failed ``attempt`` (1-based) is retried under ``retry``.

    Budget, configuration, limit, expression and state failures are never
    retried, even with ``on [any]``: another attempt fails the same way."""
    if retry is None or attempt >= retry.max_attempts:
        return False
    if err.kind in _NOT_RETRYABLE_KINDS:
        return False
    if retry.on:
        return any(retry_on_matches(on, err.kind) for on in retry.on)
    return err.retryable


def to_run_error(act: "Activation", e: BaseException) -> RunError:
    """Map any failure of an attempt to a :class:`RunError` naming the node."""
    cn = act.node
    if isinstance(e, RunError):
        err = e
    elif isinstance(e, TimeoutError):
        t = act.services.timeout_for(cn)  # the effective (policy-capped) attempt timeout
        err = RunError("E0904", f"node `{cn.name}` timed out after {t:g}s" if t else f"node `{cn.name}` timed out",
                       kind=ErrorKind.TIMEOUT, retryable=True,
                       hint="raise the node's `timeout`, or add `retry { on [timeout] }`")
    elif isinstance(e, BudgetExceeded):
        message = str(e)  # a node's own budget already names the node
        err = RunError("E0905", message if message.startswith(f"node `{cn.name}`") else f"node `{cn.name}`: {message}",
                       kind=ErrorKind.BUDGET, hint=e.hint)
    elif isinstance(e, ProviderError):
        err = RunError("E0909", f"node `{cn.name}`: model call failed ({e.kind}): {e}", kind=e.kind,
                       retryable=e.retryable, hint=e.hint)
    elif isinstance(e, ToolError):
        err = RunError("E0909", f"node `{cn.name}`: tool failed: {e}", kind=ErrorKind.TOOL, retryable=True, hint=e.hint)
    elif isinstance(e, ConfigError):
        err = RunError("E0909", f"node `{cn.name}`: {e}", kind=ErrorKind.CONFIG, hint=e.hint)
    elif isinstance(e, HarnessError):
        err = RunError("E0909", f"node `{cn.name}`: {e}", kind=e.kind, retryable=e.retryable, hint=e.hint)
    elif isinstance(e, ExprError):
        err = RunError("E0908", f"node `{cn.name}`: {e}", kind=ErrorKind.EXPRESSION)
    else:
        what = f"function `{cn.ir.function}`" if cn.kind == "function" and cn.ir.function else f"node `{cn.name}`"
        err = RunError("E0909", f"{what} raised {type(e).__name__}: {e}",
                       kind=ErrorKind.FUNCTION if cn.kind in ("function", "router") else ErrorKind.ERROR, retryable=True)
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

    Model calls inside an attempt do not retry the kinds this node's
    ``retry`` (or an enclosing node's) retries
    (:func:`kinds_owned_by_node_retry`, :func:`ragc.harness.resilience.node_retries`).
    Each attempt gets a fresh :class:`~ragc.runtime.replay.ActivationEffects`
    (keys of attempt k > 1 are prefixed ``a{k}/``) and, if ``timeout_s`` is
    set, an ``anyio.fail_after`` scope. :class:`~ragc.runtime.errors.RunStop`
    (an interrupt, the end of an inspection) passes through untouched.

    Raises:
        RunError: the last attempt's failure.
    """
    run = act.services
    # kinds an enclosing node's retry owns (a subgraph or subagent node with `retry`) stay owned
    owned = node_retried_kinds() | kinds_owned_by_node_retry(retry)
    attempt = 1
    while True:
        act.new_attempt(attempt)
        try:
            with node_retries(owned):
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
