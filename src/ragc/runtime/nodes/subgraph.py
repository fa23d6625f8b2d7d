"""``kind subgraph``: runs another graph (of the same file, or a registry
``[graphs.*]`` graph compiled into the program) as a child frame.

The child has its own, namespaced state (its channels, from their
defaults), its input is the node's evaluated ``input`` mapping (validated
against the subgraph's input schema), its activations are journaled under
the parent activation (``review#1>draft#1``), and it counts towards the
run's ``max_steps`` and budget. Nesting is bounded by
``max_subgraph_depth``. The result is the subgraph's output (its ``output``
channels, else its whole state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.runtime.activation import NodeOutput
from ragc.runtime.expressions import compile_optional

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def build(cn: "CNode", prog: "CProgram") -> Any:
    key = cn.ir.graph or ""
    if key not in prog.ir.graphs:
        raise cn.error("E0909", f"subgraph `{key}` is not part of the compiled program", kind="config")
    mapping = compile_optional(cn.ir.input)

    async def run_subgraph(act: "Activation") -> NodeOutput:
        sub_input = mapping(act.scope) if mapping is not None else {}
        out = await act.services.run_subgraph(act, key, sub_input)
        return NodeOutput(out)

    return run_subgraph
