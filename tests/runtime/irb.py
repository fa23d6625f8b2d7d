"""A terse builder of IR programs for runtime tests (no parser involved).

    g = graph("g", start="a", channels={"items": "append"},
              nodes=[fn("a", "f", output="items", routing=nxt("b")), fn("b", "f", output="items")])
    prog = program(g)
"""

from __future__ import annotations

import re
from typing import Any

from ragc.ir.model import (
    BoolExpr,
    BranchIR,
    BudgetIR,
    CallExpr,
    ChannelIR,
    CompareExpr,
    ForEachIR,
    GraphIR,
    JoinIR,
    LimitsIR,
    ListExpr,
    LitExpr,
    NodeIR,
    NotExpr,
    ObjectExpr,
    PathExpr,
    ProgramIR,
    RetryIR,
    RouteIR,
    RoutingIR,
    SpanIR,
    TemplateExpr,
)

_SEG = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")


def path(text: str) -> PathExpr:
    """``"state.items[0].title"`` -> PathExpr."""
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    assert m, text
    root = m.group(0)
    segs: list[str | int] = []
    for s in _SEG.finditer(text, m.end()):
        segs.append(s.group(1) if s.group(1) is not None else int(s.group(2)))
    return PathExpr(root=root, segments=segs)


def lit(v: Any) -> LitExpr:
    return LitExpr(value=v)


def tpl(s: str) -> TemplateExpr:
    return TemplateExpr(source=s)


def obj(**fields: Any) -> ObjectExpr:
    return ObjectExpr(fields={k: expr(v) for k, v in fields.items()})


def lst(*items: Any) -> ListExpr:
    return ListExpr(items=[expr(x) for x in items])


def cmp(op: str, left: Any, right: Any) -> CompareExpr:
    return CompareExpr(op=op, left=expr(left), right=expr(right))


def band(*xs: Any) -> BoolExpr:
    return BoolExpr(op="and", operands=[expr(x) for x in xs])


def bor(*xs: Any) -> BoolExpr:
    return BoolExpr(op="or", operands=[expr(x) for x in xs])


def bnot(x: Any) -> NotExpr:
    return NotExpr(operand=expr(x))


def length(x: Any) -> CallExpr:
    return CallExpr(func="len", args=[expr(x)])


def expr(v: Any) -> Any:
    """Strings starting with ``$`` are paths (``"$state.x"``); strings with
    ``{{`` are templates; other values are literals; IR nodes pass through."""
    if hasattr(v, "model_dump"):
        return v
    if isinstance(v, str) and v.startswith("$"):
        return path(v[1:])
    if isinstance(v, str) and ("{{" in v or "{%" in v):
        return tpl(v)
    return lit(v)


def span(line: int = 1, col: int = 1, file: str = "test.rag") -> SpanIR:
    return SpanIR(file=file, line=line, column=col, end_line=line, end_column=col + 4)


# ---------------------------------------------------------------- routing


def nxt(*targets: str, join: str | None = None) -> RoutingIR:
    return RoutingIR(kind="next", targets=list(targets), join=join)


def end() -> RoutingIR:
    return RoutingIR(kind="end")


def routes(chooser: str, *items: tuple, function: str | None = None) -> RoutingIR:
    """``routes("condition", ("big", "a", cond), ("small", "b"))``."""
    rs = []
    for it in items:
        label, target = it[0], it[1]
        when = expr(it[2]) if len(it) > 2 and it[2] is not None else None
        rs.append(RouteIR(label=label, target=target, when=when))
    return RoutingIR(kind="routes", routes=rs, chooser=chooser, function=function)


def send(target: str, payload: dict[str, Any] | None = None, *, foreach: tuple[str, Any] | None = None,
         agent: bool = False, output: str | None = None) -> BranchIR:
    return BranchIR(target=target, target_kind="agent" if agent else "node",
                    payload=obj(**payload) if payload is not None else None,
                    foreach=ForEachIR(var=foreach[0], source=expr(foreach[1])) if foreach else None, output=output)


def fanout(*branches: BranchIR, join: str | None = None, max_concurrency: int | None = None) -> RoutingIR:
    return RoutingIR(kind="fanout", branches=list(branches), join=join, max_concurrency=max_concurrency)


# ---------------------------------------------------------------- nodes


def node(name: str, kind: str, routing: RoutingIR | None = None, **kw: Any) -> NodeIR:
    for k in ("prompt", "system", "args", "input"):
        if k in kw and kw[k] is not None and not hasattr(kw[k], "model_dump"):
            kw[k] = expr(kw[k]) if not isinstance(kw[k], dict) else obj(**kw[k])
    if "update" in kw:
        kw["update"] = {k: expr(v) for k, v in kw["update"].items()}
    if "retry" in kw and isinstance(kw["retry"], dict):
        kw["retry"] = RetryIR(**kw["retry"])
    if "budget" in kw and isinstance(kw["budget"], dict):
        kw["budget"] = BudgetIR(**kw["budget"])
    kw.setdefault("span", span())
    return NodeIR(name=name, kind=kind, routing=routing or end(), **kw)


def fn(name: str, function: str | None = None, routing: RoutingIR | None = None, **kw: Any) -> NodeIR:
    return node(name, "function", routing, function=function or name, **kw)


def join(id: str, fork: str, target: str, *, sources: list[str] | None = None, node: str | None = None,
         policy: str = "all", quorum: int | None = None, tolerate: int | None = None,
         timeout_s: float | None = None, optional: list[str] | None = None) -> JoinIR:
    return JoinIR(id=id, fork=fork, sources=sources or [], target=target, node=node, policy=policy, quorum=quorum,
                  tolerate=tolerate, timeout_s=timeout_s, optional=optional or [])


def graph(name: str, start: str, nodes: list[NodeIR], *, channels: dict[str, Any] | None = None,
          joins: list[JoinIR] | None = None, inputs: dict[str, Any] | None = None, required: list[str] | None = None,
          output: list[str] | None = None, budget: dict[str, Any] | None = None, retry: dict | None = None,
          **limits: Any) -> GraphIR:
    chans = {}
    for cname, spec in (channels or {}).items():
        if isinstance(spec, str):
            chans[cname] = ChannelIR(name=cname, reducer=spec)
        else:
            chans[cname] = ChannelIR(name=cname, **spec)
    schema = {"type": "object", "properties": dict(inputs or {}), "required": list(required or []),
              "additionalProperties": False}
    return GraphIR(name=name, start=start, nodes={n.name: n for n in nodes}, channels=chans,
                   joins={j.id: j for j in (joins or [])}, input_schema=schema, output=output,
                   budget=BudgetIR(**budget) if budget else None, retry=RetryIR(**retry) if retry else None,
                   limits=LimitsIR(**limits), span=span())


def program(*graphs: GraphIR, entry: str | None = None) -> ProgramIR:
    return ProgramIR(entry=entry or graphs[0].name, graphs={g.name: g for g in graphs}).with_hash()
