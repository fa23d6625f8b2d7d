"""Policy: a workflow may only narrow what the registry grants.

Active policies: ``[policies.default]`` always, plus ``[policies.untrusted]``
when checking with ``--untrusted``. A policy grants a tool, model, agent or
function when its ``allow_*`` list is absent (everything in the registry) or
names it, and (tools) ``deny_tools`` does not.

*Uses* of a graph: the models, tools, agents and functions its nodes name,
the models and tools of the registry agents it runs (subagent nodes, agent
send targets), the tools of the skills an agent node names (``skills
[...]``), and the fallbacks of the models it uses. Checks:

* ``E0601``: a use not granted by an active policy;
* ``E0602``: an ``allow`` list (graph or node) naming something the active
  policies (or, for a node, the graph's ``allow``) do not grant;
* ``E0603``: a use outside the graph's (or the node's own) ``allow``;
* ``E0604``: a limit or budget above a policy's cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragc.check.context import Ctx
from ragc.check.model import GraphInfo, NodeInfo
from ragc.check.values import as_name
from ragc.diagnostics.model import Applicability, Label, Span, Suggestion
from ragc.registry.model import PolicyEntry, Registry
from ragc.syntax import ast as A

TABLE_WORD = {"tools": "tool", "models": "model", "agents": "agent", "functions": "function"}
POLICY_ALLOW = {"tools": "allow_tools", "models": "allow_models", "agents": "allow_agents",
                "functions": "allow_functions"}


@dataclass(frozen=True)
class Use:
    """One capability a graph uses: registry ``table`` and ``name``, where
    (``span``), through which node, ``via`` (e.g. ``"agent `x`"``) when it
    is indirect, and ``branch`` when a send branch of the node uses it (a
    node's own ``allow tools`` does not apply to its branches)."""

    table: str
    name: str
    span: Span
    node: str
    via: str | None = None
    branch: bool = False


def active_policies(ctx: Ctx) -> list[tuple[str, PolicyEntry]]:
    """``[("default", ...), ("untrusted", ...)]`` as applicable (absent
    policies grant everything)."""
    assert ctx.registry is not None
    out = [("default", ctx.registry.policy("default"))]
    if ctx.untrusted:
        out.append(("untrusted", ctx.registry.policy("untrusted")))
    return out


def grants(reg: Registry, pol: PolicyEntry, table: str, name: str) -> bool:
    """Whether ``pol`` grants ``name`` of ``table``."""
    allowed = getattr(pol, POLICY_ALLOW[table])
    if allowed is not None and name not in allowed:
        return False
    if table == "tools" and name in pol.deny_tools:
        return False
    return True


def uses(ctx: Ctx, g: GraphInfo) -> list[Use]:
    """Every capability ``g`` uses (see the module docstring), in node order."""
    reg = ctx.registry
    assert reg is not None
    out: list[Use] = []

    def agent_uses(agent: str, span: Span, node: str, branch: bool = False, model: A.Value | None = None) -> None:
        entry = reg.agents.get(agent)
        out.append(Use("agents", agent, span, node, branch=branch))
        if model is not None:  # the node's `model` replaces the agent's registry model
            out.append(Use("models", as_name(model) or "", model.span, node, f"agent `{agent}` on this node",
                           branch))
        if entry is None:
            return
        if model is None:
            out.append(Use("models", entry.model, span, node, f"agent `{agent}`", branch))
        for t in entry.tools:
            out.append(Use("tools", t, span, node, f"agent `{agent}`", branch))

    for info in g.nodes.values():
        k = info.kind
        if k in ("model", "agent", "repl"):
            f = info.fields.get("model")
            if f is not None:
                out.append(Use("models", as_name(f.value) or "", f.value.span, info.name))
            else:
                span = info.fields["kind"].value.span if "kind" in info.fields else info.span
                out.append(Use("models", "default", span, info.name, "the default model"))
        if k in ("model", "agent", "tool", "repl") and "tools" in info.fields:
            v = info.fields["tools"].value
            if isinstance(v, A.ListV):
                for item in v.items:
                    out.append(Use("tools", as_name(item) or "", item.span, info.name))
        if k == "agent" and "skills" in info.fields:  # a skill's tools are added to the node's
            v = info.fields["skills"].value
            for item in v.items if isinstance(v, A.ListV) else (v,):
                skill = reg.skills.get(as_name(item) or "")
                for t in skill.tools if skill is not None else ():
                    out.append(Use("tools", t, item.span, info.name, f"skill `{as_name(item)}`"))
        if k == "repl":  # what its cells may call: model_query, agent_query
            for table in ("models", "agents"):
                v = info.fields[table].value if table in info.fields else None
                for item in v.items if isinstance(v, A.ListV) else ():
                    if table == "agents":
                        agent_uses(as_name(item) or "", item.span, info.name)
                    else:
                        out.append(Use("models", as_name(item) or "", item.span, info.name,
                                       "`model_query` in its cells"))
        if k == "tool" and "tool" in info.fields:
            v = info.fields["tool"].value
            out.append(Use("tools", as_name(v) or "", v.span, info.name))
        if k == "subagent" and "agent" in info.fields:
            v = info.fields["agent"].value
            override = info.fields.get("model")
            agent_uses(as_name(v) or "", v.span, info.name, model=override.value if override else None)
        if k in ("router", "function") and "function" in info.fields:
            v = info.fields["function"].value
            out.append(Use("functions", as_name(v) or "", v.span, info.name))
        for b in info.branches:
            if b.target_kind == "agent":
                agent_uses(b.target, b.entry.target.span, info.name, branch=True)
    # fallbacks of the models used, transitively
    seen = {u.name for u in out if u.table == "models"}
    queue = [u for u in out if u.table == "models"]
    while queue:
        u = queue.pop(0)
        entry = reg.models.get(u.name)
        for fb in entry.fallbacks if entry else ():
            if fb not in seen:
                seen.add(fb)
                nu = Use("models", fb, u.span, u.node, f"the fallbacks of model `{u.name}`", u.branch)
                out.append(nu)
                queue.append(nu)
    return [u for u in out if u.name and (u.name in getattr(reg, u.table)
                                          or (u.table == "tools" and reg.mcp_tool(u.name) is not None))]


def _allow_list(v: A.Value) -> list[tuple[str, A.Value]]:
    if not isinstance(v, A.ListV):
        return []
    return [(as_name(x) or "", x) for x in v.items if as_name(x)]


def check(ctx: Ctx, g: GraphInfo) -> None:
    """All policy checks of one graph (no-op without a registry)."""
    reg = ctx.registry
    if reg is None:
        return
    pols = active_policies(ctx)
    graph_allow: dict[str, set[str]] = {}
    for what, allow in g.allows.items():
        if what not in ("tools", "models", "agents"):
            continue
        items = _allow_list(allow.value)
        graph_allow[what] = {n for n, _ in items}
        for n, v in items:
            for pname, pol in pols:
                if n in getattr(reg, what) and not grants(reg, pol, what, n):
                    ctx.bag.error("E0602", f"`allow {what}` lists `{n}`, which policy `{pname}` does not grant",
                                  v.span, f"not granted by `[policies.{pname}]`",
                                  help="a workflow may only narrow the registry policy; remove it from the list")
    node_allow: dict[str, set[str]] = {}
    for info in g.nodes.values():
        for allow in info.allows:
            items = _allow_list(allow.value)
            node_allow.setdefault(info.name, set()).update(n for n, _ in items)
            for n, v in items:
                if "tools" in graph_allow and n not in graph_allow["tools"]:
                    ctx.bag.error("E0602", f"node `{info.name}` allows tool `{n}`, which the graph's `allow` excludes",
                                  v.span, "not in the graph's `allow tools`",
                                  help="a node may only narrow the graph's `allow`")
                    continue
                for pname, pol in pols:
                    if n in reg.tools and not grants(reg, pol, "tools", n):
                        ctx.bag.error("E0602", f"node `{info.name}` allows tool `{n}`, which policy `{pname}` "
                                      "does not grant", v.span, f"not granted by `[policies.{pname}]`",
                                      help="a workflow may only narrow the registry policy")
    seen: set[tuple] = set()
    outside: dict[tuple, list[Use]] = {}
    for u in uses(ctx, g):
        key = (u.table, u.name, u.span.offset)
        if key in seen:
            continue
        seen.add(key)
        word = TABLE_WORD[u.table]
        notes = (f"used through {u.via}",) if u.via else ()
        denied = False
        for pname, pol in pols:
            if not grants(reg, pol, u.table, u.name):
                ctx.bag.error("E0601", f"{word} `{u.name}` is not granted by policy `{pname}`", u.span,
                              f"`[policies.{pname}]` does not grant this {word}", notes=notes,
                              help=f"use a {word} the policy grants"
                                   + (" (see `[policies.untrusted]` in the registry)" if pname == "untrusted" else ""))
                denied = True
                break
        if denied:
            continue
        if u.table in graph_allow and u.name not in graph_allow[u.table]:
            outside.setdefault((u.table, u.node, u.via), []).append(u)
        elif u.table == "tools" and not u.branch and u.node in node_allow and u.name not in node_allow[u.node]:
            ctx.bag.error("E0603", f"tool `{u.name}` is not in node `{u.node}`'s `allow tools`", u.span,
                          "excluded by the node's `allow`", notes=notes,
                          help=f"add \"{u.name}\" to the node's `allow tools`")
    _outside_allow(ctx, g, outside)
    _limits(ctx, g, pols)


def _outside_allow(ctx: Ctx, g: GraphInfo, outside: dict[tuple, list[Use]]) -> None:
    """``E0603`` for uses outside the graph's ``allow``: one diagnostic per
    node and agent listing every missing name, with a machine-applicable
    fix that rewrites the ``allow`` list with every name the graph misses
    (the same edit in each diagnostic, so ``--fix`` applies it once)."""
    missing_by_table: dict[str, list[str]] = {}
    for (table, _node, _via), us in outside.items():
        for u in us:
            if u.name not in missing_by_table.setdefault(table, []):
                missing_by_table[table].append(u.name)
    for (table, node, via), us in outside.items():
        word = TABLE_WORD[table]
        names = list(dict.fromkeys(u.name for u in us))
        shown = ", ".join(f"`{n}`" for n in names)
        allow = g.allows[table]
        current = [n for n, _ in _allow_list(allow.value)]
        fixed = "[" + ", ".join(f'"{n}"' for n in current + missing_by_table[table]) + "]"
        plural = "s" if len(names) > 1 else ""
        where = f" ({via})" if via else ""
        ctx.bag.error("E0603", f"{word}{plural} {shown} of node `{node}`{where} {'are' if plural else 'is'} not in the graph's "
                      f"`allow {table}`",
                      us[0].span, "excluded by the graph's `allow`",
                      secondary=tuple(Label(u.span, "also used here") for u in us[1:] if u.span != us[0].span)
                      + (Label(allow.value.span, f"the graph's `allow {table}`"),),
                      help=f"add {', '.join(repr(n).replace(chr(39), chr(34)) for n in names)} to `allow {table}`, "
                           f"or use an allowed {word}",
                      suggestions=(Suggestion(f"allow {shown}", allow.value.span, fixed,
                                              Applicability.MACHINE_APPLICABLE),))


LIMIT_KEYS = {
    "max_steps": "max_steps", "max_concurrency": "max_concurrency", "max_visits": "max_visits",
    "timeout": "timeout", "max_subgraph_depth": "max_subgraph_depth",
}
BUDGET_KEYS = ("max_model_calls", "max_tool_calls", "max_tokens", "max_cost_usd")


def _number(v: A.Value) -> float | None:
    if isinstance(v, (A.Int, A.Float)):
        return float(v.value)
    if isinstance(v, A.Duration):
        return v.seconds
    return None


def _cap(ctx: Ctx, pols, key: str, v: A.Value, where: str) -> None:
    x = _number(v)
    if x is None:
        return
    for pname, pol in pols:
        cap = getattr(pol, key)
        if cap is not None and x > cap:
            shown = f"{cap:g}s" if isinstance(v, A.Duration) else f"{cap:g}"
            ctx.bag.error("E0604", f"`{where}` exceeds policy `{pname}` ({key} = {shown})", v.span,
                          f"at most {shown} allowed", help=f"lower it to {shown} or less")
            return


def _limits(ctx: Ctx, g: GraphInfo, pols) -> None:
    defaults = g.setting("defaults")
    if isinstance(defaults, A.ObjectV):
        for p in defaults.pairs:
            if p.key_name in LIMIT_KEYS:
                _cap(ctx, pols, LIMIT_KEYS[p.key_name], p.value, f"defaults.{p.key_name}")
    budget = g.setting("budget")
    if isinstance(budget, A.ObjectV):
        for p in budget.pairs:
            if p.key_name in BUDGET_KEYS:
                _cap(ctx, pols, p.key_name, p.value, f"budget.{p.key_name}")
    for info in g.nodes.values():
        _node_limits(ctx, info, pols)


def _node_limits(ctx: Ctx, info: NodeInfo, pols) -> None:
    for key in ("max_concurrency", "max_visits", "timeout"):
        f = info.fields.get(key)
        if f is None or (key == "timeout" and info.kind == "interrupt"):
            continue
        _cap(ctx, pols, key, f.value, f"{key}` of `{info.name}")
    b = info.fields.get("budget")
    if b is not None and isinstance(b.value, A.ObjectV):
        for p in b.value.pairs:
            if p.key_name in BUDGET_KEYS:
                _cap(ctx, pols, p.key_name, p.value, f"budget.{p.key_name}` of `{info.name}")
