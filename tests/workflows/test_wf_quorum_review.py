"""``workflows/quorum_review.rag`` with scripted models: five ``reviewer``
branches with different latencies; the join fires at the third answer, the
two slow reviewers are cancelled mid-call, the three reviews merge in
branch order, and ``decide`` gives the verdict from exactly those three."""

from __future__ import annotations

import time

import pytest
from wfkit import run_workflow

pytestmark = pytest.mark.anyio

DIFF = "-    return a+b\n+    return a + b"
FOCUSES = ["security", "performance", "style", "tests", "docs"]
REVIEWS = {
    "security": ("approve: no input handling changed", 5000),
    "performance": ("approve: same complexity", 30),
    "style": ("approve: spacing now follows PEP 8", 10),
    "tests": ("request changes: add a test for negative numbers", 20),
    "docs": ("approve: nothing to document", 5000),
}
VERDICT = "Merge after adding the negative-number test."


async def test_quorum_of_three_merges_the_fastest_and_cancels_the_rest(registry, tmp_path, model_requests):
    fast = [{"when": "List the review focuses", "text": "\n".join(FOCUSES)}]
    fast += [{"when": f"Review this diff for {focus}:", "text": text, "delay_ms": delay}
             for focus, (text, delay) in REVIEWS.items()]
    default = [{"when": "Decide whether to merge", "text": VERDICT}]
    ws = tmp_path / "ws"
    ws.mkdir()
    started = time.monotonic()
    run = await run_workflow("quorum_review", registry(fast=fast, default=default), ws, {"diff": DIFF})
    elapsed = time.monotonic() - started
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    assert result.output == {"verdict": VERDICT}
    fastest = ["performance", "style", "tests"]          # in branch order, not finishing order
    assert result.state["reviews"] == [REVIEWS[f][0] for f in fastest]

    (fired,) = events.of("join_fired")
    assert (fired.policy, fired.succeeded, fired.failed, fired.cancelled, fired.outcome) == ("quorum", 3, 0, 2, "ok")
    cancelled = sorted(e.activation for e in events.of("node_cancelled", node="reviewer"))
    assert cancelled == ["dispatch#1/0:reviewer#1", "dispatch#1/4:reviewer#1"]
    statuses = {e.branch: e.status for e in events.of("branch_finished", node="reviewer")}
    assert statuses == {0: "cancelled", 1: "ok", 2: "ok", 3: "ok", 4: "cancelled"}
    assert elapsed < 4.0, "the slow reviewers' 5 s calls were cancelled, not awaited"

    # every reviewer got the diff and its focus; decide saw only the merged reviews
    reviewer_prompts = [r.last_user() for r in model_requests if r.last_user().startswith("Review this diff")]
    assert sorted(reviewer_prompts) == sorted(f"Review this diff for {f}:\n{DIFF}" for f in FOCUSES)
    (decide,) = [r for r in model_requests if "Decide whether to merge" in r.last_user()]
    assert all(REVIEWS[f][0] in decide.last_user() for f in fastest)
    assert not any(REVIEWS[f][0] in decide.last_user() for f in ("security", "docs"))
