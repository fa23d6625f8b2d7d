"""Semantic diff of two compiled workflows, for reviewers (``ragc diff``).

Compares two :class:`ragc.ir.model.ProgramIR` and lists every change that
can change a run -- the same content the IR hash covers
(:meth:`ProgramIR.semantic_dict`: everything but source spans and file
names):

* ``program``: the entry graph and the IR format version;
* ``graphs``: graphs added or removed, and each graph's own settings
  (input schema, output, start node, retry, store, metadata...);
* ``channels``: state channels added, removed or changed (reducer, default...);
* ``nodes``: nodes added, removed or changed, with every changed field;
  routing is flattened (``routing.branches``, ``routing.routes``,
  ``routing.join``, ``routing.max_concurrency``...), list fields are shown
  item by item, prompts (``system``/``prompt``) as a unified text diff;
* ``edges``: one text per edge, counted as a multiset, so a sixth identical
  ``send`` branch or one changed payload shows (``dispatch -> reviewer
  [send {focus: "docs"}]``);
* ``joins``: join barriers added, removed or changed (policy, quorum,
  tolerate, timeout, sources...);
* ``capabilities``: the registry names in ``refs`` (tools, models, agents,
  functions, graphs, reducers, stores) added or removed;
* ``budgets``: graph limits and budgets, node budgets;
* ``permissions``: graph ``allow`` lists, node tools, ``allow tools`` and
  detached nodes.

Fields are compared generically (every pydantic field of the IR models,
flattened to dotted keys), so a field added to the IR later is diffed
without changes here; ``tests/ir/test_ir_diff_fields.py`` mutates every
field of every IR model to prove it. As a last guard, two programs with
different hashes whose sections are all empty get an ``other`` entry.

:func:`diff_programs` returns a JSON-ready dict; :func:`render_diff_text`
renders it. Text diffs of prompts follow :func:`difflib.unified_diff`.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from typing import Any

from pydantic import BaseModel

from ragc.ir.export import expr_text
from ragc.ir.model import BranchIR, GraphIR, NodeIR, ProgramIR, RouteIR

DIFF_FORMAT_VERSION = 2
CAPABILITIES = ("tools", "models", "agents", "functions", "graphs", "reducers", "stores")
PROMPT_FIELDS = ("system", "prompt")
"""Node fields shown as a unified text diff."""

# Not meaning (spans), or the key the object is stored under (a rename is an
# add plus a remove), or shown in its own section.
_SKIP = {"span"}
_NODE_SKIP = {"span", "name", "budget"}
_GRAPH_SKIP = {"span", "name", "nodes", "joins", "channels", "limits", "budget", "allow"}
_EXPR_TYPES = {"lit", "path", "template", "list", "object", "call", "compare", "bool", "not"}


# --------------------------------------------------------------------------- flattening


def _is_expr(v: Any) -> bool:
    return isinstance(v, BaseModel) and getattr(v, "type", None) in _EXPR_TYPES and "type" in type(v).model_fields


def _jsonable(v: Any) -> Any:
    """A JSON-ready value: expressions as source-like text, models as dicts."""
    if _is_expr(v):
        return expr_text(v)
    if isinstance(v, BaseModel):
        return {k: _jsonable(getattr(v, k)) for k in type(v).model_fields if k not in _SKIP}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _extras(m: BaseModel, known: set[str]) -> str:
    """`` key=value`` for the fields of ``m`` that its text form does not
    spell (so a field added to the model later still shows in the text)."""
    out = []
    for k in type(m).model_fields:
        if k in known or k in _SKIP:
            continue
        v = getattr(m, k)
        if v != type(m).model_fields[k].get_default(call_default_factory=True):
            out.append(f" {k}={json.dumps(_jsonable(v), ensure_ascii=False, sort_keys=True)}")
    return "".join(out)


def branch_text(b: BranchIR, *, with_target: bool = True) -> str:
    """One ``send`` entry as text: ``send reviewer {focus: "docs"} for x in state.xs -> out``
    (``with_target=False``: without the target, ``send {focus: "docs"}``)."""
    text = "send" + (f" {b.target}" if with_target else "") + (" (agent)" if b.target_kind == "agent" else "")
    if b.payload is not None:
        text += " " + expr_text(b.payload)
    if b.foreach is not None:
        text += f" for {b.foreach.var} in {expr_text(b.foreach.source)}" + _extras(b.foreach, {"var", "source"})
    if b.output:
        text += f" -> {b.output}"
    return text + _extras(b, {"target", "target_kind", "payload", "foreach", "output"})


def route_text(r: RouteIR) -> str:
    """``label -> target [when condition]``."""
    cond = f" when {expr_text(r.when)}" if r.when is not None else ""
    return f"{r.label} -> {r.target}{cond}" + _extras(r, {"label", "target", "when"})


def _item(v: Any) -> Any:
    if isinstance(v, BranchIR):
        return branch_text(v)
    if isinstance(v, RouteIR):
        return route_text(v)
    return _jsonable(v)


def flatten(m: BaseModel, skip: set[str] = _SKIP, prefix: str = "") -> dict[str, Any]:
    """The fields of an IR model as ``{dotted key: JSON-ready value}``.

    Nested IR models (``retry``, ``routing``, ``budget``...) are flattened
    into ``retry.max_attempts`` etc.; a nested model that is ``None`` is one
    key with ``None``. Expressions become their source-like text, lists of
    branches and routes lists of texts (:func:`branch_text`,
    :func:`route_text`); user data (schemas, params, metadata) stays a value.
    """
    out: dict[str, Any] = {}
    for k in type(m).model_fields:
        if k in skip:
            continue
        v = getattr(m, k)
        key = prefix + k
        if isinstance(v, BaseModel) and not _is_expr(v):
            out.update(flatten(v, _SKIP, key + "."))
        elif isinstance(v, list):
            out[key] = [_item(x) for x in v]
        else:
            out[key] = _jsonable(v)
    return out


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = list(old) + [k for k in new if k not in old]
    return {k: {"old": old.get(k), "new": new.get(k)} for k in keys if old.get(k) != new.get(k)}


def _keyed(old: dict[str, BaseModel], new: dict[str, BaseModel], graph: str, what: str,
           skip: set[str]) -> dict[str, list]:
    out: dict[str, list] = {"added": [], "removed": [], "changed": []}
    for name, m in new.items():
        if name not in old:
            out["added"].append({"graph": graph, what: name, **({"kind": m.kind} if isinstance(m, NodeIR) else {})})
    for name, m in old.items():
        if name not in new:
            out["removed"].append({"graph": graph, what: name, **({"kind": m.kind} if isinstance(m, NodeIR) else {})})
        else:
            fields = _field_changes(flatten(m, skip), flatten(new[name], skip))
            if fields:
                out["changed"].append({"graph": graph, what: name, "fields": fields})
    return out


# --------------------------------------------------------------------------- sections


def _edges(g: GraphIR) -> list[str]:
    out: list[str] = []
    for name, n in g.nodes.items():
        r = n.routing
        if r.kind == "next":
            for t in r.targets:
                out.append(f"{name} -> {t}")
        elif r.kind == "routes":
            by = f" by {r.chooser}" + (f" {r.function}" if r.function else "") if r.chooser else ""
            for route in r.routes:
                cond = f" when {expr_text(route.when)}" if route.when is not None else ""
                out.append(f"{name} -> {route.target} [{route.label}{cond}{by}]")
        elif r.kind == "fanout":
            for b in r.branches:
                out.append(f"{name} -> {b.target} [{branch_text(b, with_target=False)}]")
        elif r.kind == "end":
            out.append(f"{name} -> END")
    for j in g.joins.values():
        policy = j.policy + (f" {j.quorum}" if j.quorum else "")
        extra = (f" tolerate {j.tolerate}" if j.tolerate else "") + (f" timeout {j.timeout_s:g}s" if j.timeout_s else "")
        srcs = ", ".join(j.sources) if j.sources else f"branches of {j.fork}"
        out.append(f"join [{srcs}] -> {j.target} [{policy}{extra}]")
    return out


def _limits(g: GraphIR) -> dict[str, Any]:
    out = {f"limits.{k}": v for k, v in flatten(g.limits).items()}
    budget = flatten(g.budget) if g.budget else {}
    out.update({f"budget.{k}": v for k, v in budget.items()})
    return out


def _permissions(g: GraphIR) -> dict[str, Any]:
    out: dict[str, Any] = {f"allow.{k}": v for k, v in flatten(g.allow).items()}
    for name, n in g.nodes.items():
        if n.allow_tools is not None:
            out[f"node {name} allow.tools"] = n.allow_tools
        if n.tools:
            out[f"node {name} tools"] = n.tools
        if not n.blocking:
            out[f"node {name} blocking"] = False
    return out


def _changes(old: dict[str, Any], new: dict[str, Any], where: str) -> list[dict]:
    return [{"where": where, "key": k, **v} for k, v in _field_changes(old, new).items()]


def _multiset(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    """(added, removed) counting repeats: a repeated item added once more shows."""
    a, b = Counter(old), Counter(new)
    added = [e for e in dict.fromkeys(new) for _ in range(b[e] - a[e])]
    removed = [e for e in dict.fromkeys(old) for _ in range(a[e] - b[e])]
    return added, removed


def diff_programs(old: ProgramIR, new: ProgramIR, *, old_file: str = "", new_file: str = "") -> dict:
    """The semantic diff of two programs (all graphs, matched by name).

    Returns a dict with ``format_version``, ``old``/``new`` (file and hash),
    ``program`` (entry and format changes), ``graphs`` (added/removed, and
    ``changed`` settings per graph), ``channels``, ``nodes`` and ``joins``
    (each added/removed/changed; a change lists ``fields``: ``{key: {old,
    new}}``), ``edges`` (added/removed edge texts), ``prompts`` (one entry
    per changed ``system``/``prompt`` with its unified ``diff`` lines),
    ``capabilities`` (per registry table: added/removed names), ``budgets``
    and ``permissions`` (``{where, key, old, new}``), ``other`` (only if the
    hashes differ and nothing above did) and ``changed`` (the hashes differ).
    """
    out: dict[str, Any] = {
        "format_version": DIFF_FORMAT_VERSION,
        "old": {"file": old_file, "hash": old.hash},
        "new": {"file": new_file, "hash": new.hash},
        "program": _changes({"entry": old.entry, "format_version": old.format_version},
                            {"entry": new.entry, "format_version": new.format_version}, "program"),
        "graphs": {"added": sorted(set(new.graphs) - set(old.graphs)),
                   "removed": sorted(set(old.graphs) - set(new.graphs)), "changed": []},
        "channels": {"added": [], "removed": [], "changed": []},
        "nodes": {"added": [], "removed": [], "changed": []},
        "joins": {"added": [], "removed": [], "changed": []},
        "edges": {"added": [], "removed": []},
        "prompts": [],
        "capabilities": {},
        "budgets": [],
        "permissions": [],
    }
    for gname in list(old.graphs) + [g for g in new.graphs if g not in old.graphs]:
        og, ng = old.graphs.get(gname), new.graphs.get(gname)
        for section, what, skip, get in (("channels", "channel", _SKIP, lambda g: g.channels),
                                         ("nodes", "node", _NODE_SKIP, lambda g: g.nodes),
                                         ("joins", "join", _SKIP, lambda g: g.joins)):
            part = _keyed(get(og) if og else {}, get(ng) if ng else {}, gname, what, skip)
            for k in ("added", "removed", "changed"):
                out[section][k] += part[k]
        added, removed = _multiset(_edges(og) if og else [], _edges(ng) if ng else [])
        out["edges"]["added"] += [{"graph": gname, "edge": e} for e in added]
        out["edges"]["removed"] += [{"graph": gname, "edge": e} for e in removed]
        if og and ng:
            fields = _field_changes(flatten(og, _GRAPH_SKIP), flatten(ng, _GRAPH_SKIP))
            if fields:
                out["graphs"]["changed"].append({"graph": gname, "fields": fields})
            out["budgets"] += _changes(_limits(og), _limits(ng), f"graph {gname}")
            for name in [n for n in og.nodes if n in ng.nodes]:
                ob, nb = og.nodes[name].budget, ng.nodes[name].budget
                if ob != nb:
                    out["budgets"] += _changes(flatten(ob) if ob else {}, flatten(nb) if nb else {},
                                               f"node {gname}.{name}")
            out["permissions"] += _changes(_permissions(og), _permissions(ng), f"graph {gname}")
    for n in out["nodes"]["changed"]:
        for key in PROMPT_FIELDS:
            if key in n["fields"]:
                a, b = n["fields"][key]["old"], n["fields"][key]["new"]
                lines = list(difflib.unified_diff(_text_lines(a), _text_lines(b), lineterm="", n=1))[2:]
                out["prompts"].append({"graph": n["graph"], "node": n["node"], "field": key, "old": a, "new": b,
                                       "diff": lines})
    for table in CAPABILITIES:
        a, b = set(getattr(old.refs, table)), set(getattr(new.refs, table))
        out["capabilities"][table] = {"added": sorted(b - a), "removed": sorted(a - b)}
    for k in type(old.refs).model_fields:
        if k not in CAPABILITIES:  # a registry table added to RegistryRefs later
            a, b = set(getattr(old.refs, k)), set(getattr(new.refs, k))
            out["capabilities"][k] = {"added": sorted(b - a), "removed": sorted(a - b)}
    out["changed"] = old.hash != new.hash
    if out["changed"] and not _has_body(out):
        # The hash says the meaning changed but no section saw it: never print an empty diff.
        out["other"] = [{"key": "semantic content", "old": old.hash, "new": new.hash}]
    return out


def _text_lines(v: Any) -> list[str]:
    if v is None:
        return []
    text = v[1:-1] if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"' else str(v)
    return text.split("\n")


def _has_body(d: dict) -> bool:
    if d["program"] or d["graphs"]["added"] or d["graphs"]["removed"] or d["graphs"]["changed"]:
        return True
    for section in ("channels", "nodes", "joins"):
        if any(d[section].values()):
            return True
    if d["edges"]["added"] or d["edges"]["removed"] or d["prompts"] or d["budgets"] or d["permissions"]:
        return True
    return any(c["added"] or c["removed"] for c in d["capabilities"].values())


# --------------------------------------------------------------------------- text


def _value(v: Any, limit: int = 72) -> str:
    if v is None:
        return "none"
    if isinstance(v, str):
        text = " ".join(v.split())
    else:
        text = json.dumps(v, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_lines(key: str, change: dict[str, Any], indent: str) -> list[str]:
    a, b = change["old"], change["new"]
    if key in PROMPT_FIELDS:
        return [f"{indent}{key}: (text diff below, under prompts:)"]
    if isinstance(a, list) and isinstance(b, list) or (a is None and isinstance(b, list)) or \
            (b is None and isinstance(a, list)):
        added, removed = _multiset([_value(x, 200) for x in a or []], [_value(x, 200) for x in b or []])
        if a is None or b is None:
            return [f"{indent}{key}: {_value(a)} -> {_value(b)}"]
        return [f"{indent}{key}:"] + [f"{indent}  + {x}" for x in added] + [f"{indent}  - {x}" for x in removed]
    return [f"{indent}{key}: {_value(a)} -> {_value(b)}"]


def render_diff_text(d: dict) -> str:
    """Human-readable form of :func:`diff_programs`' result: one section per
    kind of change (``nodes:``, ``edges:``, ``prompts:``...), ``+`` added,
    ``-`` removed, ``~`` changed; ``no changes`` when the hashes agree."""
    lines = [f"--- {d['old']['file']} ({d['old']['hash']})", f"+++ {d['new']['file']} ({d['new']['hash']})"]
    if not d["changed"]:
        return "\n".join(lines + ["no changes"]) + "\n"
    keyed = [x for s in ("channels", "nodes", "joins") for k in ("added", "removed", "changed") for x in d[s][k]]
    multi = len({x["graph"] for x in keyed} | {e["graph"] for e in d["edges"]["added"] + d["edges"]["removed"]}
                | {g["graph"] for g in d["graphs"]["changed"]}) > 1

    def where(item: dict, what: str) -> str:
        return f"{item['graph']}.{item[what]}" if multi else item[what]

    def add(title: str, section: list[str]) -> None:
        if section:
            lines.extend([title] + section)

    add("program:", [f"  ~ {c['key']}: {_value(c['old'])} -> {_value(c['new'])}" for c in d["program"]])
    section = [f"  + graph {g}" for g in d["graphs"]["added"]] + [f"  - graph {g}" for g in d["graphs"]["removed"]]
    for g in d["graphs"]["changed"]:
        section.append(f"  ~ graph {g['graph']}: " + ", ".join(g["fields"]))
        for k, v in g["fields"].items():
            section += _field_lines(k, v, "      ")
    add("graphs:", section)
    for title, key, what in (("state channels:", "channels", "channel"), ("nodes:", "nodes", "node"),
                             ("joins:", "joins", "join")):
        part = d[key]
        section = [f"  + {where(n, what)}" + (f" ({n['kind']})" if "kind" in n else "") for n in part["added"]]
        section += [f"  - {where(n, what)}" + (f" ({n['kind']})" if "kind" in n else "") for n in part["removed"]]
        for n in part["changed"]:
            section.append(f"  ~ {where(n, what)}: " + ", ".join(n["fields"]))
            for k, v in n["fields"].items():
                section += _field_lines(k, v, "      ")
        add(title, section)

    def edge(e: dict) -> str:
        return f"{e['graph']}: {e['edge']}" if multi else e["edge"]

    add("edges:", [f"  + {edge(e)}" for e in d["edges"]["added"]] + [f"  - {edge(e)}" for e in d["edges"]["removed"]])
    section = []
    for p in d["prompts"]:
        section.append(f"  ~ {where(p, 'node')} {p['field']}:")
        section += [f"      {x}" for x in p["diff"]]
    add("prompts:", section)
    section = []
    for table, ch in d["capabilities"].items():
        word = table[:-1]
        section += [f"  + {word} {n}" for n in ch["added"]] + [f"  - {word} {n}" for n in ch["removed"]]
    add("capabilities:", section)
    for title, key in (("budgets and limits:", "budgets"), ("permissions:", "permissions")):
        add(title, [f"  ~ {c['where']} {c['key']}: {_value(c['old'])} -> {_value(c['new'])}" for c in d[key]])
    add("other:", [f"  ~ {c['key']}: {c['old']} -> {c['new']}" for c in d.get("other", [])])
    return "\n".join(lines) + "\n"
