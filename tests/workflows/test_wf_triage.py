"""``workflows/triage.rag`` with scripted models: the classifier's route
picks the billing or the technical sub-agent (or a plain reply), then the
detached ``auditor`` runs in the background; its audit is merged into the
state and the run completes only after it ended."""

from __future__ import annotations

import pytest
from wfkit import run_workflow

pytestmark = pytest.mark.anyio

BILLING_TICKET = "I was charged twice for my March invoice."
TECH_TICKET = "The export button crashes the app on save."
BILLING_REPLY = "Sorry about that: the duplicate charge is refunded within 5 days."
TECH_REPLY = "Update to 2.3.1, then clear the export cache and retry."

SCRIPT_FAST = [
    {"when": f"Classify this ticket: {BILLING_TICKET}", "route": "billing"},
    {"when": f"Classify this ticket: {TECH_TICKET}", "route": "technical"},
    {"when": "Classify this ticket: ", "route": "other"},
    # the auditor is slow: the run must wait for it; each line only matches
    # when the reply it audits reached its prompt
    {"when": f"Replies: {BILLING_REPLY}", "text": "audit: billing reply is polite and correct", "delay_ms": 200},
    {"when": f"Replies: {TECH_REPLY}", "text": "audit: tech reply gives concrete steps", "delay_ms": 200},
]
SCRIPT_DEFAULT = [
    {"when": f"Answer this billing ticket: {BILLING_TICKET}", "text": BILLING_REPLY},
    {"when": f"Answer this technical ticket: {TECH_TICKET}", "text": TECH_REPLY},
    {"when": "Write a polite reply to:", "text": "Thanks, we will look into it."},
]


@pytest.mark.parametrize(("ticket", "route", "agent_node", "reply", "audit"), [
    (BILLING_TICKET, "billing", "billing", BILLING_REPLY, "audit: billing reply is polite and correct"),
    (TECH_TICKET, "technical", "technical", TECH_REPLY, "audit: tech reply gives concrete steps"),
], ids=["billing", "technical"])
async def test_ticket_is_routed_answered_and_audited_in_the_background(registry, tmp_path, model_requests, ticket,
                                                                       route, agent_node, reply, audit):
    ws = tmp_path / "ws"
    ws.mkdir()
    run = await run_workflow("triage", registry(fast=SCRIPT_FAST, default=SCRIPT_DEFAULT), ws, {"ticket": ticket})
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    assert result.state["replies"] == [reply]
    assert result.state["audit"] == [audit], "the detached audit merged into the root state"
    assert result.state["errors"] == []

    assert [e.label for e in events.of("route_chosen", node="classify")] == [route]
    ran = [e.node for e in events.of("node_started")]
    assert ran == ["classify", agent_node, "audit"]

    # the run finished only after the detached audit completed
    order = events.items.index
    (audit_done,) = events.of("node_completed", node="audit")
    assert order(audit_done) < order(events.of("run_finished")[0])
    assert audit_done.duration_s >= 0.19
    (audit_request,) = [r for r in model_requests if r.last_user().startswith("Ticket:")]
    assert audit_request.model == "fast" and f"Ticket: {ticket}" in audit_request.last_user()


async def test_other_tickets_get_a_plain_reply_without_audit(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    run = await run_workflow("triage", registry(fast=SCRIPT_FAST, default=SCRIPT_DEFAULT), ws,
                             {"ticket": "Do you have stickers?"})
    assert run.result.status == "completed", run.result.error
    assert run.result.state["replies"] == ["Thanks, we will look into it."]
    assert run.result.state["audit"] == []
    assert [e.node for e in run.events.of("node_started")] == ["classify", "reply"]


async def test_a_failing_billing_agent_falls_back_to_a_plain_reply(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    failing = [{"when": "Answer this billing ticket", "error": {"kind": "server", "status": 500}}, *SCRIPT_DEFAULT]
    run = await run_workflow("triage", registry(fast=SCRIPT_FAST, default=failing), ws, {"ticket": BILLING_TICKET})
    result = run.result
    assert result.status == "completed", result.error
    assert [e.label for e in run.events.of("route_chosen", node="billing")] == ["error"]
    assert result.state["replies"] == ["Thanks, we will look into it."]
    assert [(e["node"], e["error_kind"]) for e in result.state["errors"]] == [("billing", "server")]
    assert result.state["audit"] == []
