"""What a workflow may do, for ``ragc approve``: a capability summary.

Lists, from the compiled program and the registry: the models it may call
(provider and model id; whether it leaves the machine), the tools it may use
-- named in the file or through the agents it runs -- with what each tool
is (a built-in such as ``run_command``/``write_file``, a Python function, an
MCP server), the agents, functions, subgraphs and stores, and the limits the
untrusted policy and the graph set. Effects that reach outside the workspace
or the machine are marked (``shell``, ``writes files``, ``network``), so a
reviewer sees them before the approval is recorded.
"""

from __future__ import annotations

from typing import Any

from ragc.ir.model import ProgramIR

LOCAL_PROVIDERS = ("local", "scripted")
TOOL_EFFECTS = {"run_command": "shell: runs commands", "write_file": "writes files in the workspace",
                "read_file": "reads files in the workspace", "list_files": "lists files in the workspace",
                "search": "searches the workspace", "signal_completion": "ends the agent loop"}


def _model(name: str, registry: Any) -> str:
    entry = registry.models.get(name) if registry is not None else None
    if entry is None:
        return f"model {name}"
    where = "on this machine" if entry.provider in LOCAL_PROVIDERS else "network"
    ident = f"{entry.provider}" + (f" {entry.model}" if getattr(entry, "model", None) else "")
    return f"model {name}: {ident} ({where})"


def _tool(name: str, registry: Any) -> str:
    entry = registry.tools.get(name) if registry is not None else None
    served = registry.mcp_tool(name) if registry is not None and hasattr(registry, "mcp_tool") else None
    if served is not None:
        key, server, remote = served
        where = " ".join(server.command) if server.command else server.url
        return f"tool {name}: `{remote}` of MCP server `{key}` ({where}; a separate process)"
    if entry is None:
        return f"tool {name}"
    if entry.builtin:
        effect = TOOL_EFFECTS.get(entry.builtin, "built-in")
        return f"tool {name}: builtin {entry.builtin} ({effect})"
    if entry.python:
        return f"tool {name}: Python {entry.python} (runs in this process)"
    if entry.mcp:
        return f"tool {name}: MCP server `{entry.mcp}` (a separate process)"
    return f"tool {name}"


def capability_lines(program: ProgramIR, registry: Any, policy: Any = None) -> list[str]:
    """The summary as lines (``may use:`` then one indented line per
    capability); ``policy`` is the registry's ``[policies.untrusted]`` entry,
    if any, whose limits are listed too."""
    refs = program.refs
    tools = list(refs.tools)
    models = list(refs.models)
    for a in refs.agents:  # what the agents it runs may use
        entry = registry.agents.get(a) if registry is not None else None
        if entry is not None:
            tools += [t for t in entry.tools if t not in tools]
            if entry.model not in models:
                models.append(entry.model)
    out = ["may use:"]
    out += [f"  {_model(m, registry)}" for m in sorted(models)]
    out += [f"  {_tool(t, registry)}" for t in sorted(tools)]
    for a in sorted(refs.agents):
        entry = registry.agents.get(a) if registry is not None else None
        detail = f": model {entry.model}" + (f", tools {', '.join(entry.tools)}" if entry.tools else "") \
            if entry is not None else ""
        out.append(f"  agent {a}{detail}")
    out += [f"  function {f}" for f in sorted(refs.functions)]
    out += [f"  subgraph {g}" for g in sorted(refs.graphs)]
    out += [f"  store {s}" for s in sorted(refs.stores)]
    if len(out) == 1:
        out.append("  no models, tools or agents")
    limits = []
    g = program.entry_graph
    if g.budget is not None:
        limits += [f"graph {k} {v}" for k, v in g.budget.model_dump().items() if v is not None]
    if policy is not None:
        for k in ("max_steps", "max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd", "timeout"):
            v = getattr(policy, k, None)
            if v is not None:
                limits.append(f"policy {k} {v:g}" if isinstance(v, float) else f"policy {k} {v}")
    limits.append(f"graph max_steps {g.limits.max_steps}")
    out.append("within: " + ", ".join(limits))
    return out
