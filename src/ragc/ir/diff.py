"""Capability diff of two compiled workflows, for reviewers (``ragc diff``).

Compares two :class:`ragc.ir.model.ProgramIR` and lists what a reviewer
must see: graphs and nodes added, removed or changed (with the fields that
changed), edges (``next``, routes with labels and conditions, fan-outs,
joins), capabilities (the registry names in ``refs``: tools, models, agents,
functions, subgraphs, reducers), budgets and limits, and permissions
(``allow`` lists and each node's tools).

:func:`diff_programs` returns a JSON-ready dict; :func:`render_diff_text`
renders it.
"""

from __future__ import annotations

import json
from typing import Any

from ragc.ir.export import expr_text
from ragc.ir.model import GraphIR, NodeIR, ProgramIR

DIFF_FORMAT_VERSION = 1
CAPABILITIES = ("tools", "models", "agents", "functions", "graphs", "reducers", "stores")
_NODE_IGNORED = {"span", "routing", "name"}


def _edges(g: GraphIR) -> list[str]:
    out: list[str] = []
    for name, n in g.nodes.items():
        r = n.routing
        if r.kind == "next":
            for t in r.targets:
                out.append(f"{name} -> {t}")
        elif r.kind == "routes":
            for route in r.routes:
                cond = f" when {expr_text(route.when)}" if route.when is not None else ""
                out.append(f"{name} -> {route.target} [{route.label}{cond}]")
        elif r.kind == "fanout":
            for b in r.branches:
                loop = f" for {b.foreach.var} in {expr_text(b.foreach.source)}" if b.foreach else ""
                out.append(f"{name} -> {b.target} [send {b.target_kind}{loop}]")
    for j in g.joins.values():
        policy = j.policy + (f" {j.quorum}" if j.quorum else "")
        extra = (f" tolerate {j.tolerate}" if j.tolerate else "") + (f" timeout {j.timeout_s:g}s" if j.timeout_s else "")
        srcs = ", ".join(j.sources) if j.sources else f"branches of {j.fork}"
        out.append(f"join [{srcs}] -> {j.target} [{policy}{extra}]")
    return out


def _node_fields(n: NodeIR) -> dict[str, Any]:
    data = n.model_dump(mode="json", exclude=_NODE_IGNORED)
    for key in ("system", "prompt", "args", "input"):
        e = getattr(n, key)
        data[key] = expr_text(e) if e is not None else None
    data["update"] = {k: expr_text(v) for k, v in n.update.items()}
    return data


def _limits(g: GraphIR) -> dict[str, Any]:
    out = {f"limits.{k}": v for k, v in g.limits.model_dump(mode="json").items()}
    budget = g.budget.model_dump(mode="json") if g.budget else {}
    out.update({f"budget.{k}": v for k, v in budget.items()})
    return out


def _permissions(g: GraphIR) -> dict[str, Any]:
    out: dict[str, Any] = {f"allow.{k}": v for k, v in g.allow.model_dump(mode="json").items()}
    for name, n in g.nodes.items():
        if n.allow_tools is not None:
            out[f"node {name} allow.tools"] = n.allow_tools
        if n.tools:
            out[f"node {name} tools"] = n.tools
        if not n.blocking:
            out[f"node {name} blocking"] = False
    return out


def _changes(old: dict[str, Any], new: dict[str, Any], where: str) -> list[dict]:
    out = []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        if a != b:
            out.append({"where": where, "key": key, "old": a, "new": b})
    return out


def diff_programs(old: ProgramIR, new: ProgramIR, *, old_file: str = "", new_file: str = "") -> dict:
    """The capability diff of two programs (all graphs, matched by name).

    Returns a dict with ``format_version``, ``old``/``new`` (file and hash),
    ``graphs`` (added/removed), ``nodes`` (added/removed/changed with the
    changed fields' old and new values), ``edges`` (added/removed, one text
    per edge), ``capabilities`` (per registry table: added/removed names),
    ``budgets`` (changed limits and budgets), ``permissions`` (changed
    ``allow`` lists, node tools and detached nodes) and ``changed``.
    """
    out: dict[str, Any] = {
        "format_version": DIFF_FORMAT_VERSION,
        "old": {"file": old_file, "hash": old.hash},
        "new": {"file": new_file, "hash": new.hash},
        "graphs": {"added": sorted(set(new.graphs) - set(old.graphs)),
                   "removed": sorted(set(old.graphs) - set(new.graphs))},
        "nodes": {"added": [], "removed": [], "changed": []},
        "edges": {"added": [], "removed": []},
        "capabilities": {},
        "budgets": [],
        "permissions": [],
    }
    for gname in list(old.graphs) + [g for g in new.graphs if g not in old.graphs]:
        og, ng = old.graphs.get(gname), new.graphs.get(gname)
        onodes = og.nodes if og else {}
        nnodes = ng.nodes if ng else {}
        for name, n in nnodes.items():
            if name not in onodes:
                out["nodes"]["added"].append({"graph": gname, "node": name, "kind": n.kind})
        for name, n in onodes.items():
            if name not in nnodes:
                out["nodes"]["removed"].append({"graph": gname, "node": name, "kind": n.kind})
            else:
                a, b = _node_fields(n), _node_fields(nnodes[name])
                fields = {k: {"old": a.get(k), "new": b.get(k)} for k in a if a.get(k) != b.get(k)}
                if fields:
                    out["nodes"]["changed"].append({"graph": gname, "node": name, "fields": fields})
        oe, ne = (_edges(og) if og else []), (_edges(ng) if ng else [])
        out["edges"]["added"] += [{"graph": gname, "edge": e} for e in ne if e not in oe]
        out["edges"]["removed"] += [{"graph": gname, "edge": e} for e in oe if e not in ne]
        if og and ng:
            out["budgets"] += _changes(_limits(og), _limits(ng), f"graph {gname}")
            for name in onodes.keys() & nnodes.keys():
                ob, nb = onodes[name].budget, nnodes[name].budget
                if ob != nb:
                    out["budgets"] += _changes(ob.model_dump(mode="json") if ob else {},
                                               nb.model_dump(mode="json") if nb else {}, f"node {gname}.{name}")
            out["permissions"] += _changes(_permissions(og), _permissions(ng), f"graph {gname}")
    for table in CAPABILITIES:
        a, b = set(getattr(old.refs, table)), set(getattr(new.refs, table))
        out["capabilities"][table] = {"added": sorted(b - a), "removed": sorted(a - b)}
    out["changed"] = old.hash != new.hash
    return out


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, str):
        return v if len(v) <= 60 else v[:59] + "…"
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def render_diff_text(d: dict) -> str:
    """Human-readable form of :func:`diff_programs`' result."""
    lines = [f"--- {d['old']['file']} ({d['old']['hash']})", f"+++ {d['new']['file']} ({d['new']['hash']})"]
    if not d["changed"]:
        return "\n".join(lines + ["no changes"]) + "\n"
    multi = len({n["graph"] for n in d["nodes"]["added"] + d["nodes"]["removed"] + d["nodes"]["changed"]}) > 1

    def where(item: dict) -> str:
        return f"{item['graph']}.{item['node']}" if multi else item["node"]

    section: list[str] = []
    for g in d["graphs"]["added"]:
        section.append(f"  + graph {g}")
    for g in d["graphs"]["removed"]:
        section.append(f"  - graph {g}")
    if section:
        lines += ["graphs:"] + section
    section = [f"  + {where(n)} ({n['kind']})" for n in d["nodes"]["added"]]
    section += [f"  - {where(n)} ({n['kind']})" for n in d["nodes"]["removed"]]
    for n in d["nodes"]["changed"]:
        section.append(f"  ~ {where(n)}: " + ", ".join(n["fields"]))
        for k, v in n["fields"].items():
            section.append(f"      {k}: {_value(v['old'])} -> {_value(v['new'])}")
    if section:
        lines += ["nodes:"] + section
    def edge(e: dict) -> str:
        return f"{e['graph']}: {e['edge']}" if multi else e["edge"]

    section = [f"  + {edge(e)}" for e in d["edges"]["added"]] + [f"  - {edge(e)}" for e in d["edges"]["removed"]]
    if section:
        lines += ["edges:"] + section
    section = []
    for table, ch in d["capabilities"].items():
        word = table[:-1]
        section += [f"  + {word} {n}" for n in ch["added"]] + [f"  - {word} {n}" for n in ch["removed"]]
    if section:
        lines += ["capabilities:"] + section
    for title, key in (("budgets and limits:", "budgets"), ("permissions:", "permissions")):
        section = [f"  ~ {c['where']} {c['key']}: {_value(c['old'])} -> {_value(c['new'])}" for c in d[key]]
        if section:
            lines += [title] + section
    return "\n".join(lines) + "\n"
