"""The messages of the authoring loop: the language reference as the system
prompt, the goal, and the repair request that quotes the checker's
diagnostics. Kept short: the embedded model has an 8k-token context and the
reference takes about half of it."""

from __future__ import annotations

from typing import Any, Sequence

INSTRUCTIONS = """\
You write workflows in the .rag language described below. Answer with the \
.rag file only: no explanation, no Markdown fence. Use only registry names \
listed at the end. Declare every channel you write. Every node must run: \
`start` names the first node and each node's `next` (or routes) names the \
node that runs after it; only the last node of a path has `next END`. Give \
each loop a `max_visits`.

"""


def system_prompt(spec: str) -> str:
    """The system message: the instructions, then the ``ragc spec`` text."""
    return INSTRUCTIONS + spec


def goal_message(goal: str, requirements: Sequence[str] = ()) -> str:
    """The first user message: the goal, then the registry names and inputs
    it states explicitly (:func:`ragc.author.goal.requirements`), one per
    line, so the first draft wires them in."""
    text = f"Write a .rag workflow for this goal:\n{goal}\n"
    if requirements:
        text += "The workflow must, on a path that runs from `start`:\n" + "".join(f"- {r}\n" for r in requirements)
    return text


def diagnostics_text(diagnostics: Sequence[dict[str, Any]], limit: int = 8) -> str:
    """The first ``limit`` errors of ``ragc check --format json`` (its
    ``diagnostics`` entries) as short lines: ``line:col CODE message (help)``."""
    lines = []
    for d in [d for d in diagnostics if d.get("severity") == "error"][:limit]:
        span = d.get("span") or {}
        where = f"{span.get('line', '?')}:{span.get('column', '?')} " if span else ""
        text = f"{where}{d.get('code')} {d.get('message')}"
        if d.get("help"):
            text += f" (help: {d['help']})"
        lines.append(text)
    return "\n".join(lines)


def repair_message(diagnostics: Sequence[dict[str, Any]]) -> str:
    """The user message of a repair round: the checker's errors, or (for a
    file that passed) its gaps against the goal (code ``GOAL``)."""
    from ragc.author.goal import GOAL_CODE

    if diagnostics and all(d.get("code") == GOAL_CODE for d in diagnostics):
        head = "Your file passes `ragc check` but does not do what the goal asks:\n"
    else:
        head = "`ragc check` reports these errors in your file:\n"
    return head + diagnostics_text(diagnostics) + "\nWrite the whole corrected .rag file.\n"


def strip_fences(text: str) -> str:
    """The file inside a Markdown code fence, if the model wrote one (an
    unconstrained model often does); else ``text`` trimmed."""
    t = text.strip()
    if "```" in t:
        inside = t.split("```", 2)
        if len(inside) >= 2:
            body = inside[1]
            first, _, rest = body.partition("\n")
            body = rest if first.strip().isidentifier() or not first.strip() else body
            return body.strip() + "\n"
    return t + "\n"
