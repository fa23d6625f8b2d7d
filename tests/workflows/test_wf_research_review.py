"""``workflows/research_review.rag`` (the seed README example) with scripted
models over a tiny code base: the supervisor searches, then fans out to the
registry's ``research_agent`` and ``verifier_agent``; each gets the best
passages for the question from the ``search`` tool before its first model
call (``prefetch``: docs for the researcher, code for the verifier); the join
waits for both; the ``final_reviewer`` writes the report from their answers,
and the citation guard removes what it cites that no tool of the run returned."""

from __future__ import annotations

import pytest
from wfkit import CODE_BASE, run_workflow

pytestmark = pytest.mark.anyio

QUESTION = "How are discount codes applied to a cart total?"
DOC = "# Discounts\n\nA discount code maps to a rate in DISCOUNTS; the cart total applies it.\n"
FINDING = "Discount codes map to rates in DISCOUNTS and the total applies the rate. Source: docs/pricing.md"
CRITIQUE = "Cart.total sums the items and calls apply_discount. Source: src/cart.py"
REPORT = ("Answer: Cart.total applies the DISCOUNTS rate of the code through apply_discount.\n\n"
          "Sources:\n- docs/pricing.md: the discount rates\n- src/cart.py: total() applies them\n"
          "- shop/coupons.py: coupon handling")

SCRIPT = [
    # the supervisor gets the run input as `key: value` lines
    {"when": f"question: {QUESTION}", "tool_calls": [{"name": "search", "arguments": {"query": "discount"}}]},
    {"when": f"question: {QUESTION}", "text": "Dispatching a researcher and a verifier."},
    # each branch answers only when its prefetched passages reached its prompt
    {"when": "A discount code maps to a rate", "text": FINDING},
    {"when": "return apply_discount(subtotal, code)", "text": CRITIQUE},
    {"when": FINDING, "text": REPORT},
]


async def test_agents_answer_from_prefetched_passages_and_the_guard_removes_an_unread_source(
        registry, code_base, model_requests):
    (code_base / "docs").mkdir()
    (code_base / "docs" / "pricing.md").write_text(DOC, encoding="utf-8")
    # the verifier's prefetch searches `src`
    (code_base / "src").mkdir()
    (code_base / "src" / "cart.py").write_text(CODE_BASE["shop/cart.py"], encoding="utf-8")
    run = await run_workflow("research_review", registry(default=SCRIPT), code_base, {"question": QUESTION})
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    assert result.state["findings"] == [FINDING]
    assert result.state["critiques"] == [CRITIQUE]
    final = result.state["messages"][-1]
    assert final["name"] == "review"
    report = final["content"]
    # shop/coupons.py does not exist and no tool returned it: its source line is gone, and the
    # note says so; the two sources the tools did return stay
    assert "- docs/pricing.md: the discount rates" in report and "- src/cart.py: total() applies them" in report
    assert "- shop/coupons.py" not in report
    assert report.endswith("no tool of this run returned them: shop/coupons.py)")
    warnings = events.of("warning", node="review")
    assert len(warnings) == 1 and "shop/coupons.py" in warnings[0].message

    # the join waited for both branches before the review started
    fired = events.of("join_fired")
    assert [(j.succeeded, j.failed, j.cancelled, j.outcome) for j in fired] == [(2, 0, 0, "ok")]
    order = events.items.index
    review_started = order(events.of("node_started", node="review")[0])
    assert all(order(e) < review_started for e in [*fired, *events.of("branch_finished")])

    # each agent's prefetch searched its part of the workspace, before its one model call
    for node, path, hit in (("research_agent", "docs", "docs/pricing.md"), ("verifier_agent", "src", "src/cart.py")):
        started = [(e.tool, e.call, e.arguments) for e in events.of("tool_call_started", node=node)]
        assert started == [("search", "p1", {"query": QUESTION, "path": path, "max_results": 2})]
        (done,) = events.of("tool_call_completed", node=node)
        assert done.is_error is False and hit in done.summary

    # the real registry agents ran (their system prompts); the passages are in their prompts
    research_req = next(r for r in model_requests if "A discount code maps to a rate" in r.last_user())
    assert research_req.messages[0].content.startswith("You answer questions about the code")
    assert research_req.last_user().startswith(f"Question: {QUESTION}")
    verify_req = next(r for r in model_requests if "return apply_discount(subtotal, code)" in r.last_user())
    assert verify_req.messages[0].content.startswith("You check how the code")

    # the reviewer saw both the findings and the critiques
    review = [r for r in model_requests if "Research findings" in r.last_user()]
    assert len(review) == 1
    assert FINDING in review[0].last_user() and CRITIQUE in review[0].last_user()
    assert QUESTION in review[0].last_user()
    assert result.usage["model_calls"] == 5
