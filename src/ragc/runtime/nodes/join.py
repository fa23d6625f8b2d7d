"""``kind join``: the node a static join continues at.

When the join of its fork fires, the frame continues at this node, whose
result is ``{"succeeded", "failed", "cancelled", "skipped"}`` (branch counts)
and whose route label is the join's outcome (``ok`` or ``error``; a failed
join reaches this node only when it has an ``error`` route). Reached any
other way (e.g. by a loop back), it reports zero counts and ``ok``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.activation import NodeOutput

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram

_ZERO = {"succeeded": 0, "failed": 0, "cancelled": 0, "skipped": 0}


def build(cn: "CNode", prog: "CProgram") -> Any:
    async def run_join(act: "Activation") -> NodeOutput:
        jr = act.frame.join_result  # the core clears it once this activation completes
        counts, outcome = jr if jr is not None else (dict(_ZERO), "ok")
        return NodeOutput(counts, outcome if cn.chooser == "outcome" else None)

    return run_join
