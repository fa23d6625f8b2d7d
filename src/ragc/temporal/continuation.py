"""Long runs as a chain of workflow runs (``continue_as_new``).

Temporal limits one workflow run's history (50 000 events, 50 MB; it
suggests continuing as new from about 4 000 events). A ragc run whose
history passes the limit continues as a new run of the same workflow id,
whose input is the old one plus ``resume``: the snapshot of
:func:`snapshot`. Clients see one run: ``client.wait`` follows the chain,
queries and updates go to its latest run.

When: before an activation of the workflow's top frame (the entry graph's
root frame; in a child workflow, the subgraph's root frame), when this
workflow run has made at least one activation (so every run of the chain
makes progress, whatever the limit), no detached node is running, and either the server suggests it
(``workflow.info().is_continue_as_new_suggested()``) or the history is at
least ``history_limit`` events long (:class:`HistoryGauge`) (the workflow input's
``history_limit``; ``None``: the suggestion only). At that point nothing
else is in flight in the workflow: the top frame is one sequential
cursor, a fork returns only when its branches have ended, and an
interrupt is answered inside its activation. So a run continues between
the iterations of an agent loop written as graph nodes, between the
nodes of a long chain, and after a fan-out; not inside a fan-out (every
branch of one fork lives in one history: a fan-out of more than about
15 000 activations must be split), not inside an inline subgraph (one
with an ``interrupt``), and not while a detached node runs.

What the new run carries (:func:`snapshot`): the node the top frame goes
on with; the frame's state, visits per node (so activation ids go on as
they were), variables, the ``error`` an error route handles and the last
join's result; the run's activation count and visits per node; every
budget scope's counters; the last result; the activity count; and the
time the run has been running (the ``deadline`` counts from the first
run's start).
"""

from __future__ import annotations

from typing import Any, Callable

from ragc.runtime.errors import RunStop
from ragc.runtime.frames import Frame
from ragc.temporal.children import adopt_scopes, chain_of, scope_table, visit_table


class ContinueAsNew(RunStop):
    """Raised at a safe point (module docs): the run goes on in a new
    workflow run from ``snapshot``."""

    def __init__(self, snapshot: dict[str, Any]):
        super().__init__("continue as new")
        self.snapshot = snapshot


class HistoryGauge:
    """Whether the workflow run should continue as new: suggested by the
    server, or its history at least ``limit`` events long (``None``: no
    limit of ragc's own).

    Both are read from the start of the current workflow task, so the
    decision is the same on replay. Local activities (function nodes)
    complete inside a workflow task and add their markers when it ends, so
    a stretch of them is seen at the next workflow task (the SDK ends one
    after about 8 s of local activities at the latest).

    Args:
        info: ``temporalio.workflow.info`` (called at each check).
        limit: history events, or ``None``.
    """

    def __init__(self, info: Callable[[], Any], limit: int | None):
        self.info = info
        self.limit = limit

    def __call__(self) -> bool:
        i = self.info()
        if i.is_continue_as_new_suggested():
            return True
        return self.limit is not None and i.get_current_history_length() >= self.limit


def snapshot(run: Any, frame: Frame, node: str, elapsed: float) -> dict[str, Any]:
    """What the next workflow run needs to go on at ``node`` in top frame
    ``frame`` of ``run`` after ``elapsed`` seconds (module docs); JSON."""
    return {"node": node, "values": frame.values, "frame_visits": frame.visits, "vars": frame.vars,
            "error": frame.error, "join_result": list(frame.join_result) if frame.join_result else None,
            "steps": run.counters.steps, "visits": visit_table(run), "scopes": scope_table(run),
            "chain": chain_of(run, frame.scopes), "result": run.result, "activities": run.activities,
            "elapsed": elapsed}


def restore(run: Any, snap: dict[str, Any], graph: Any, *, input: Any, prefix: str = "", depth: int = 0) -> Frame:
    """The top frame of graph ``graph`` as :func:`snapshot` left it, with
    ``run``'s counters, scopes, last result and activity count restored."""
    chain = adopt_scopes(run, snap)
    frame = Frame(graph, dict(snap["values"]), input=input, prefix=prefix, vars=snap.get("vars") or {},
                  depth=depth, scopes=chain)
    frame.visits = dict(snap.get("frame_visits") or {})
    frame.error = snap.get("error")
    jr = snap.get("join_result")
    frame.join_result = (jr[0], jr[1]) if jr else None
    run.result = snap.get("result")
    run.activities = int(snap.get("activities") or 0)
    return frame
