"""The authoring task set: goals written for ``ragc new`` with the properties
a faithful workflow must have, checked on the compiled IR (never on text).

Each :class:`Task` has a ``goal`` (plain words, as a user would ask) and
``props``: named predicates over the entry graph of the
:class:`~ragc.ir.model.ProgramIR`. Fidelity of a file = the share of its
task's properties that hold. The names the goals mention are the
repository registry's (``registry.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ragc.author.goal import reachable_nodes

Prop = Callable[[Any], bool]


# ----------------------------------------------------------------------------- predicates


def _nodes(g: Any) -> list[Any]:
    # only nodes that can run count: a dead node meets no property
    return reachable_nodes(g)


def kind(k: str, n: int = 1) -> Prop:
    """At least ``n`` nodes of kind ``k``."""
    return lambda g: sum(1 for x in _nodes(g) if x.kind == k) >= n


def agent_used(name: str) -> Prop:
    """Registry agent ``name`` runs: a subagent node or a send target."""
    def p(g: Any) -> bool:
        return any(x.kind == "subagent" and x.agent == name for x in _nodes(g)) or any(
            b.target == name for x in _nodes(g) for b in x.routing.branches)
    return p


def tool_used(name: str) -> Prop:
    """A ``tool`` node calls ``name``, or a model/agent node may call it."""
    return lambda g: any(x.tool == name or name in x.tools for x in _nodes(g))


def join_policy(policy: str, quorum: int | None = None) -> Prop:
    """Some join has ``policy`` (``any`` covers ``first``) and the quorum size."""
    return lambda g: any(j.policy == policy and (quorum is None or j.quorum == quorum) for j in g.joins.values())


def join_timeout() -> Prop:
    return lambda g: any(j.timeout_s for j in g.joins.values())


def fanout(min_branches: int = 2, foreach: bool = False) -> Prop:
    """A fork: ``send`` with ``min_branches`` entries (or a ``for`` entry when
    ``foreach``), or ``next [a, b, ...]``."""
    def p(g: Any) -> bool:
        for x in _nodes(g):
            r = x.routing
            if r.kind == "fanout":
                if foreach and any(b.foreach is not None for b in r.branches):
                    return True
                if not foreach and (len(r.branches) >= min_branches or any(b.foreach for b in r.branches)):
                    return True
            if not foreach and r.kind == "next" and len(r.targets) >= min_branches:
                return True
        return False
    return p


def fork_without_call() -> Prop:
    """The fork node calls nothing (a routing-only router)."""
    return lambda g: any(x.kind == "router" and x.routing.kind in ("fanout", "next") for x in _nodes(g))


def interrupt(options: int = 2, timeout: bool = False, default: bool = False) -> Prop:
    return lambda g: any(x.kind == "interrupt" and len(x.options) >= options and (not timeout or x.timeout_s)
                         and (not default or x.default is not None) for x in _nodes(g))


def routes(min_labels: int = 2, chooser: str | None = None) -> Prop:
    return lambda g: any(x.routing.kind == "routes" and len(x.routing.routes) >= min_labels
                         and (chooser is None or x.routing.chooser == chooser) for x in _nodes(g))


def error_route() -> Prop:
    """Some node catches failures with an ``error`` route."""
    return lambda g: any(x.routing.kind == "routes" and any(r.label == "error" for r in x.routing.routes)
                         for x in _nodes(g))


def retry(min_attempts: int = 2) -> Prop:
    return lambda g: any(x.retry is not None and x.retry.max_attempts >= min_attempts for x in _nodes(g)) or (
        g.retry is not None and g.retry.max_attempts >= min_attempts)


def loop_bound(at_most: int | None = None) -> Prop:
    """A node has ``max_visits`` (at most ``at_most``), or the graph default."""
    def ok(v: Any) -> bool:
        return v is not None and (at_most is None or v <= at_most)
    return lambda g: any(ok(x.max_visits) for x in _nodes(g)) or ok(g.limits.max_visits)


def has_cycle() -> Prop:
    """Control can come back to a node (a loop)."""
    def succ(x: Any) -> list[str]:
        r = x.routing
        return list(r.targets) + [t.target for t in r.routes] + [b.target for b in r.branches] + (
            [r.join] if r.join else [])

    def p(g: Any) -> bool:
        for start in g.nodes:
            seen, stack = set(), [start]
            while stack:
                n = stack.pop()
                for t in succ(g.nodes[n]) if n in g.nodes else []:
                    if t == start:
                        return True
                    if t not in seen:
                        seen.add(t)
                        stack.append(t)
        return False
    return p


def budget(field_: str | None = None) -> Prop:
    def has(b: Any) -> bool:
        return b is not None and (getattr(b, field_) is not None if field_ else any(
            getattr(b, k) is not None for k in ("max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd")))
    return lambda g: has(g.budget) or any(has(x.budget) for x in _nodes(g))


def detached() -> Prop:
    return lambda g: any(not x.blocking for x in _nodes(g))


def schema_on(k: str) -> Prop:
    """A node of kind ``k`` asks for structured output."""
    return lambda g: any(x.kind == k and x.output_schema for x in _nodes(g))


def channel(reducer: str) -> Prop:
    return lambda g: any(c.reducer == reducer for c in g.channels.values())


def input_field(name: str) -> Prop:
    return lambda g: name in (g.input_schema.get("properties") or {})


def model_used(name: str) -> Prop:
    return lambda g: any(x.model == name for x in _nodes(g))


def subgraph() -> Prop:
    return kind("subgraph")


def node_timeout() -> Prop:
    return lambda g: any(x.timeout_s for x in _nodes(g)) or bool(g.limits.timeout_s)


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One goal and the properties its workflow must have."""

    id: str
    goal: str
    props: dict[str, Prop] = field(default_factory=dict)

    def fidelity(self, program: Any) -> dict[str, bool]:
        """Each property's truth on ``program``'s entry graph (a property
        that raises is false)."""
        g = program.graphs[program.entry]
        out = {}
        for name, p in self.props.items():
            try:
                out[name] = bool(p(g))
            except Exception:
                out[name] = False
        return out


TASKS: list[Task] = [
    Task("ticket_router", "Take a support `ticket` as input. A model decides whether it is about billing or a "
         "technical problem and routes it to the registry agent billing_agent or tech_agent.",
         {"input ticket": input_field("ticket"), "model picks": routes(2, "model"),
          "billing_agent": agent_used("billing_agent"), "tech_agent": agent_used("tech_agent")}),
    Task("two_angles", "For an input `question`, run research_agent and verifier_agent in parallel on it, wait for "
         "both, then a model writes a short answer from their findings and critiques.",
         {"fan-out": fanout(2), "join all": join_policy("all"), "research_agent": agent_used("research_agent"),
          "verifier_agent": agent_used("verifier_agent"), "model node": kind("model")}),
    Task("first_answer", "Ask the research_agent and the verifier_agent the same input `question` at the same time "
         "and continue with whichever answers first; cancel the other. Then stop.",
         {"fan-out": fanout(2), "join any": join_policy("any")}),
    Task("review_quorum", "Send an input `diff` to the reviewer agent four times, once per focus (security, speed, "
         "style, tests), continue when three reviews are in, then a model decides whether to merge.",
         {"fan-out 4": fanout(4), "quorum 3": join_policy("quorum", 3), "reviewer": agent_used("reviewer"),
          "decision model": kind("model")}),
    Task("draft_loop", "A model drafts a tweet about an input `topic`; a second model critiques it and says `good` "
         "or `again`; redo the draft at most 3 times.",
         {"loop": has_cycle(), "bounded": loop_bound(3), "model picks": routes(2, "model")}),
    Task("approve_publish", "A model writes a release note from input `changes`; a human approves it with yes or "
         "no; on yes a model formats it, on no the run ends.",
         {"interrupt": interrupt(2), "human picks": routes(2, "human"), "models": kind("model", 2)}),
    Task("timed_approval", "Ask a human whether to deploy (options deploy or hold). If nobody answers within 10 "
         "minutes, hold. On deploy run the `run_checks` tool.",
         {"interrupt timeout": interrupt(2, timeout=True), "default": interrupt(2, default=True),
          "run_checks": tool_used("run_checks")}),
    Task("read_then_summarise", "Read the file named by the input `path` with the read_file tool, then a model "
         "summarises it in three bullet points.",
         {"input path": input_field("path"), "read_file": tool_used("read_file"), "tool node": kind("tool"),
          "model": kind("model")}),
    Task("search_fallback", "Use the search tool for the input `query`; if the tool fails, a model answers from "
         "its own knowledge instead.",
         {"search": tool_used("search"), "error route": error_route()}),
    Task("retry_model", "Summarise the input `text` with a model, retrying the call up to 4 attempts with "
         "exponential backoff when it times out or is rate limited.",
         {"retry 4": retry(4), "model": kind("model")}),
    Task("budgeted_agent", "An agent with the search and read_file tools answers an input `question` about the "
         "code. It may use at most 10 model calls and 20 tool calls in the whole run.",
         {"agent": kind("agent"), "search": tool_used("search"), "budget calls": budget("max_model_calls"),
          "budget tools": budget("max_tool_calls")}),
    Task("map_files", "For each path in the input list `paths`, run the summarizer agent on it in parallel (one "
         "branch per path), then a model merges the summaries.",
         {"input paths": input_field("paths"), "for each": fanout(foreach=True),
          "summarizer": agent_used("summarizer"), "append channel": channel("append")}),
    Task("audit_in_background", "Answer a support `ticket` with the tech_agent, and without waiting run the "
         "auditor agent on the reply in the background; the run ends after the answer.",
         {"tech_agent": agent_used("tech_agent"), "auditor": agent_used("auditor"), "detached": detached()}),
    Task("structured_triage", "Run the billing_agent on the input `ticket` using the `fast` model, asking it for "
         "a structured answer with a boolean `refund` field; if refund is true ask a human to confirm (yes/no).",
         {"billing_agent": agent_used("billing_agent"), "fast model": model_used("fast"),
          "structured": schema_on("subagent"), "interrupt": interrupt(2)}),
    Task("translate_three", "Translate the input `text` into French, German and Spanish in parallel with three "
         "model nodes, and collect all translations in one list channel.",
         {"fan-out 3": fanout(3), "three models": kind("model", 3), "append channel": channel("append")}),
    Task("plain_fanout", "Start two model nodes in parallel directly from the beginning, without any node doing "
         "work before the fork: one lists risks, one lists benefits of the input `plan`.",
         {"fork without call": fork_without_call(), "two models": kind("model", 2)}),
    Task("quality_gate", "A model rates an input `essay` from 1 to 10 as a structured number `score`; a router "
         "sends scores of 7 or more to `accept` and the rest to `reject` (both are model nodes).",
         {"structured": schema_on("model"), "router": routes(2, "condition"), "models": kind("model", 3)}),
    Task("step_limit", "An agent with the list_files tool explores the workspace and reports what it finds; the "
         "whole run may take at most 20 steps and each node at most 2 minutes.",
         {"agent": kind("agent"), "list_files": tool_used("list_files"), "timeout": node_timeout(),
          "steps": lambda g: g.limits.max_steps <= 20}),
    Task("write_report", "A model writes a report on the input `topic`, then the write_file tool saves it to "
         "report.md.",
         {"write_file": tool_used("write_file"), "model": kind("model"), "tool node": kind("tool")}),
    Task("classify_three_ways", "A router looks at the input `priority` (a string) and sends `high` to an agent "
         "with the run_command tool, `low` to a model that writes a reply, and anything else to the end.",
         {"input priority": input_field("priority"), "router": routes(3, "condition"), "agent": kind("agent")}),
    Task("tolerant_fanout", "Ask the reviewer agent to review the input `diff` for security and for style in "
         "parallel; tolerate one failed review, and give the reviews at most 2 minutes.",
         {"fan-out": fanout(2), "tolerate": lambda g: any(j.tolerate for j in g.joins.values()),
          "timeout": join_timeout()}),
]
"""21 goals (more than the 20 the issue asks)."""
