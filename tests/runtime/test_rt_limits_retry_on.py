"""`retry { on [...] }`: every name the checker accepts matches the failures
it promises at run time."""

from __future__ import annotations

import pytest

from ragc.check.kinds import RETRY_ON
from ragc.ir.model import RetryIR
from ragc.runtime.errors import RunError
from ragc.runtime.limits import RETRY_ON_MATCHES, should_retry


def _err(kind: str) -> RunError:
    return RunError("E0909", "failed", kind=kind, retryable=True)


@pytest.mark.parametrize("on, kind, retried", [
    ("model", "rate_limit", True), ("model", "overloaded", True), ("model", "tool", False),
    ("network", "connect", True), ("network", "stream_cut", True), ("network", "server", False),
    ("timeout", "timeout", True), ("tool", "tool", True), ("tool", "timeout", False),
    ("any", "function", True), ("any", "budget", False),  # a budget failure fails the same way again
])
def test_retry_on_names_match_their_kinds(on: str, kind: str, retried: bool):
    assert should_retry(RetryIR(max_attempts=3, on=[on]), _err(kind), attempt=1) is retried


def test_every_name_the_checker_accepts_matches_a_kind_the_runtime_raises():
    from ragc.kinds import MODEL_CALL_KINDS

    raised = set(MODEL_CALL_KINDS) | {"tool", "function"}  # ToolError, and an exception in a function node
    for on in RETRY_ON:
        if on != "any":
            assert set(RETRY_ON_MATCHES.get(on, (on,))) & raised, f"`on [{on}]` can never match"
    assert set(RETRY_ON_MATCHES) <= set(RETRY_ON)
