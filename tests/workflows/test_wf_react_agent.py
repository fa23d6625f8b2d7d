"""``workflows/react_agent.rag`` (the seed agent-runtime's ReAct agent) with
a scripted ``react`` model that speaks the ReAct text protocol: it lists the
files, reads one, and answers from what it read."""

from __future__ import annotations

import pytest
from wfkit import CODE_BASE, run_workflow

pytestmark = pytest.mark.anyio

QUESTION = "Which discount codes does the shop accept?"
ANSWER = "SPRING10 (10%) and VIP25 (25%), from DISCOUNTS in shop/pricing.py."

SCRIPT = [
    {"when": QUESTION, "text": "Thought: I should see which files there are.\n"
                               "Action: list_files\nAction Input: {\"path\": \"shop\"}"},
    # matches only once list_files' result came back as an Observation
    {"when": "Observation: shop/__init__.py\nshop/cart.py\nshop/pricing.py",
     "text": "Thought: The codes are probably in the pricing module.\n"
             "Action: read_file\nAction Input: {\"path\": \"shop/pricing.py\"}"},
    # matches only once the file's content came back as an Observation
    {"when": 'DISCOUNTS = {"SPRING10": 0.10, "VIP25": 0.25}',
     "text": f"Thought: The file defines the codes.\nFinal Answer: {ANSWER}"},
]


async def test_react_agent_reads_a_file_and_answers_from_it(registry, code_base, model_requests):
    run = await run_workflow("react_agent", registry(react=SCRIPT), code_base, {"question": QUESTION})
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    assert result.output == {"answer": ANSWER}

    done = events.of("tool_call_completed", node="agent")
    assert [(e.tool, e.is_error) for e in done] == [("list_files", False), ("read_file", False)]
    started = events.of("tool_call_started", node="agent")
    assert started[1].arguments == {"path": "shop/pricing.py"}

    # the model saw the protocol and the tools as text, never native tool definitions
    assert [r.model for r in model_requests] == ["react"] * 3
    assert all(not r.request.tools for r in model_requests)
    system = model_requests[0].messages[0].content
    assert "Action Input:" in system and "read_file(" in system and "Final Answer:" in system
    assert f"Observation: {CODE_BASE['shop/pricing.py']}" in model_requests[2].text()
