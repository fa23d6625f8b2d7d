"""``workflows/research_review.rag`` (the seed README example) with scripted
models over a tiny code base: the supervisor fans out to the registry's
``research_agent`` and ``verifier_agent``, each searches and reads a real
file with ``search`` / ``read_repo``, the join waits for both, and the
``final_reviewer`` sub-agent writes the report from their answers."""

from __future__ import annotations

import pytest
from wfkit import CODE_BASE, run_workflow

pytestmark = pytest.mark.anyio

QUESTION = "How are discount codes applied to a cart total?"
FINDING = "shop/pricing.py maps codes to rates in DISCOUNTS; apply_discount applies the rate."
CRITIQUE = "Confirmed: shop/cart.py total() sums the items and calls apply_discount."
REPORT = "Report: Cart.total (shop/cart.py) applies DISCOUNTS rates via apply_discount (shop/pricing.py)."

RESEARCH = "Question about the code in the current directory"   # research_agent's prompt (registry)
VERIFY = "Explain, from the source code, how this works"          # verifier_agent's prompt (registry)

SCRIPT = [
    # the supervisor gets the run input as `key: value` lines
    {"when": f"question: {QUESTION}", "text": "Dispatching a researcher and a verifier."},
    {"when": RESEARCH, "tool_calls": [{"name": "search", "arguments": {"query": "discount"}}]},
    {"when": RESEARCH, "tool_calls": [{"name": "read_repo", "arguments": {"path": "shop/pricing.py"}}]},
    {"when": RESEARCH, "text": FINDING},
    {"when": VERIFY, "tool_calls": [{"name": "search", "arguments": {"query": "apply_discount"}}]},
    {"when": VERIFY, "tool_calls": [{"name": "read_repo", "arguments": {"path": "shop/cart.py"}}]},
    {"when": VERIFY, "text": CRITIQUE},
    # only matches when the findings reached the reviewer's prompt
    {"when": FINDING, "text": REPORT},
]


async def test_agents_read_the_code_base_and_the_reviewer_reports(registry, code_base, model_requests):
    run = await run_workflow("research_review", registry(default=SCRIPT), code_base, {"question": QUESTION})
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    assert result.state["findings"] == [FINDING]
    assert result.state["critiques"] == [CRITIQUE]
    final = result.state["messages"][-1]
    assert (final["name"], final["content"]) == ("review", REPORT)

    # the join waited for both branches before the review started
    fired = events.of("join_fired")
    assert [(j.succeeded, j.failed, j.cancelled, j.outcome) for j in fired] == [(2, 0, 0, "ok")]
    order = events.items.index
    review_started = order(events.of("node_started", node="review")[0])
    assert all(order(e) < review_started for e in [*fired, *events.of("branch_finished")])

    # each agent searched, then read a real file, successfully
    for node, path in (("research_agent", "shop/pricing.py"), ("verifier_agent", "shop/cart.py")):
        started = [(e.tool, e.arguments) for e in events.of("tool_call_started", node=node)]
        assert [t for t, _ in started] == ["search", "read_repo"]
        assert started[1][1] == {"path": path}
        done = events.of("tool_call_completed", node=node)
        assert [(e.tool, e.is_error) for e in done] == [("search", False), ("read_repo", False)]
        assert path in done[0].summary, "search found the file"

    # the real registry agents ran (their system prompts), and the file's
    # content reached the model request that followed the read_repo call
    research = [r for r in model_requests if RESEARCH in r.last_user()]
    verify = [r for r in model_requests if VERIFY in r.last_user()]
    assert len(research) == 3 and len(verify) == 3
    assert research[0].messages[0].role == "system"
    assert research[0].messages[0].content.startswith("You are a careful code researcher")
    assert verify[0].messages[0].content.startswith("You check claims against source code")
    for reqs, path in ((research, "shop/pricing.py"), (verify, "shop/cart.py")):
        read = [m.content for m in reqs[2].messages if m.role == "tool" and m.name == "read_repo"]
        assert read == [CODE_BASE[path]]
        assert not any(m.role == "tool" and m.name == "read_repo" for m in reqs[1].messages)

    # the reviewer saw both the findings and the critiques
    review = [r for r in model_requests if "Research findings:" in r.last_user()]
    assert len(review) == 1
    assert FINDING in review[0].last_user() and CRITIQUE in review[0].last_user()
    assert QUESTION in review[0].last_user()
    assert result.usage["model_calls"] == 8 and result.usage["tool_calls"] == 4
