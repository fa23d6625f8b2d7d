"""Node executors, one module per node kind.

Each module exposes ``build(cn, prog) -> executor``: it prepares what does
not change between activations (compiled prompts, response schemas, the
resolved Python function...) and returns ``async executor(act) ->
NodeOutput``. :func:`build_executor` picks the module by ``cn.kind``.

Executors raise on failure (any exception; the scheduler's attempt loop,
:mod:`ragc.runtime.limits`, classifies it, retries, times out and maps it to
a :class:`~ragc.runtime.errors.RunError`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.compiled import CNode, CProgram

_MODULES = {
    "model": "model",
    "agent": "agent",
    "subagent": "agent",
    "tool": "tool",
    "router": "router",
    "subgraph": "subgraph",
    "interrupt": "interrupt",
    "join": "join",
    "function": "function",
    "repl": "repl",
}


def build_executor(cn: "CNode", prog: "CProgram") -> Any:
    """The executor of ``cn`` (see module docs)."""
    mod = importlib.import_module(f"ragc.runtime.nodes.{_MODULES[cn.kind]}")
    if cn.kind == "subagent":
        return mod.build_subagent(cn, prog)
    return mod.build(cn, prog)
