"""Schemas and types: graph ``input``/``output`` blocks, node ``schema``
blocks, and their JSON-schema form.

Types: ``string int float bool any list[T] dict[T]``, object types
``{ name: T, ... }``, ``T?`` optional. A field without default or ``?`` is
required. JSON Schema mapping (draft 2020-12 vocabulary):
``string``/``integer``/``number``/``boolean``, ``any`` -> ``{}``,
``list[T]`` -> ``{"type": "array", "items": T}``, ``dict[T]`` ->
``{"type": "object", "additionalProperties": T}``, an object type -> a
closed object (``properties``, ``required``, ``additionalProperties:
false``); ``T?`` adds ``"null"``.

Codes: ``E0701`` unknown type, ``E0702`` wrong arity, ``E0703`` duplicate
field, ``E0704`` default of the wrong type, ``E0705`` output field that is
not a channel, ``E0707`` subgraph input mapping mismatch, ``E0709`` a
default inside an object type.
"""

from __future__ import annotations

from typing import Any

from ragc.check.context import Ctx
from ragc.check.model import GraphInfo, ModuleInfo
from ragc.check.names import unknown
from ragc.check.values import NOT_LITERAL, as_name, literal
from ragc.diagnostics.model import Label, Span
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

SCALARS = {"string": "string", "int": "integer", "float": "number", "bool": "boolean"}
TYPES = ("string", "int", "float", "bool", "any", "list", "dict")


def check_type(ctx: Ctx, t: A.Type) -> bool:
    """``E0701``/``E0702`` for ``t`` and its arguments (``E0703``/``E0709``
    for the fields of object types); returns validity."""
    if isinstance(t, A.ObjectType):
        before = ctx.bag.error_count
        for f in t.fields:
            if f.default is not None:
                ctx.bag.error("E0709", f"field `{f.name.name}` of an object type cannot have a default",
                              f.default.span, "default not allowed here",
                              help="defaults are for the top-level fields of `input` and `schema` blocks")
        check_fields(ctx, t.fields, "object type")
        return ctx.bag.error_count == before
    name = t.name.name
    ok = True
    if name not in TYPES:
        unknown(ctx, "E0701", f"unknown type `{name}`", t.name.span, "not a type", name, TYPES,
                fallback_help="types: " + ", ".join(f"`{x}`" for x in TYPES))
        return False
    want = 1 if name in ("list", "dict") else 0
    if len(t.args) != want:
        if want:
            ctx.bag.error("E0702", f"`{name}` takes one type argument, found {len(t.args)}", t.span,
                          f"write `{name}[T]`", help=f"e.g. `{name}[string]`")
        else:
            ctx.bag.error("E0702", f"`{name}` takes no type arguments", t.span, "unexpected type arguments")
        ok = False
    for a in t.args:
        ok = check_type(ctx, a) and ok
    return ok


def type_schema(t: A.Type) -> dict[str, Any]:
    """The JSON schema of a (valid) type."""
    if isinstance(t, A.ObjectType):
        out: dict[str, Any] = object_schema(t.fields, closed=True)
        return {"anyOf": [out, {"type": "null"}]} if t.optional else out
    name = t.name.name
    if name in SCALARS:
        out = {"type": SCALARS[name]}
    elif name == "list":
        out = {"type": "array", "items": type_schema(t.args[0]) if t.args else {}}
    elif name == "dict":
        out = {"type": "object", "additionalProperties": type_schema(t.args[0]) if t.args else {}}
    else:
        out = {}
    if t.optional and out:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def object_schema(fields: tuple[A.SchemaField, ...], *, closed: bool) -> dict[str, Any]:
    """The JSON schema of an object with ``fields`` (first definition wins;
    defaults included; ``closed``: no other properties)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        name = f.name.name
        if name in props:
            continue
        s = type_schema(f.type)
        if f.default is not None:
            d = literal(f.default)
            if d is not NOT_LITERAL:
                s = {**s, "default": d}
        props[name] = s
        if f.default is None and not f.type.optional:
            required.append(name)
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _matches(t: A.Type, v: A.Value) -> bool:
    if isinstance(v, A.Null):
        return t.optional or (isinstance(t, A.TypeRef) and t.name.name == "any")
    if isinstance(t, A.ObjectType):
        if not isinstance(v, A.ObjectV):
            return False
        fields = {f.name.name: f for f in t.fields}
        given = {p.key_name: p.value for p in v.pairs}
        if any(k not in fields for k in given):
            return False
        return all(_matches(f.type, given[n]) if n in given else f.type.optional for n, f in fields.items())
    name = t.name.name
    if name == "any":
        return literal(v) is not NOT_LITERAL
    if name == "string":
        return isinstance(v, A.Str) and not v.is_template
    if name == "int":
        return isinstance(v, A.Int)
    if name == "float":
        return isinstance(v, (A.Int, A.Float))
    if name == "bool":
        return isinstance(v, A.Bool)
    if name == "list":
        return isinstance(v, A.ListV) and all(_matches(t.args[0], x) for x in v.items) if t.args else False
    if name == "dict":
        return isinstance(v, A.ObjectV) and all(_matches(t.args[0], p.value) for p in v.pairs) if t.args else False
    return True


def check_fields(ctx: Ctx, fields: tuple[A.SchemaField, ...], where: str) -> None:
    """Types, duplicates and defaults of one schema block."""
    seen: dict[str, A.SchemaField] = {}
    for f in fields:
        name = f.name.name
        if name in seen:
            ctx.bag.error("E0703", f"duplicate field `{name}` in `{where}`", f.name.span, "declared again here",
                          secondary=(Label(seen[name].name.span, "first declared here"),))
            continue
        seen[name] = f
        if not check_type(ctx, f.type):
            continue
        if f.default is not None and not _matches(f.type, f.default):
            from ragc.syntax.formatter import type_text  # only on this error: the formatter is slow to import

            ctx.bag.error("E0704", f"default of `{name}` is not of type `{type_text(f.type)}`", f.default.span,
                          f"expected `{type_text(f.type)}`",
                          secondary=(Label(f.type.span, "the declared type"),))


def check_graph(ctx: Ctx, g: GraphInfo) -> None:
    """The graph's input/output blocks and its nodes' ``schema`` blocks."""
    if g.input_block is not None:
        check_fields(ctx, g.input_block.fields, "input")
    if g.output_block is not None:
        check_fields(ctx, g.output_block.fields, "output")
        for f in g.output_block.fields:
            name = f.name.name
            if name not in g.channels and name != "errors":
                unknown(ctx, "E0705", f"output field `{name}` is not a channel", f.name.span,
                        f"not a channel of graph `{g.name}`", name, g.channels,
                        fallback_help=f"the run returns channels: declare `channel {name} last` and write it")
    for info in g.nodes.values():
        if info.schema is not None:
            check_fields(ctx, info.schema.fields, "schema")


def check_subgraph_inputs(ctx: Ctx, m: ModuleInfo) -> None:
    """``E0707``: a subgraph node's ``input { ... }`` against the input schema
    of a graph of the same file (registry graphs are checked by the compiler
    once they are compiled)."""
    for g in m.graphs.values():
        for info in g.nodes.values():
            if info.kind != "subgraph" or "graph" not in info.fields:
                continue
            target = as_name(info.fields["graph"].value)
            callee = m.graphs.get(target or "")
            if callee is None:
                continue
            check_mapping(ctx, info.node.name.span, info.fields.get("input"), callee.input_fields(), target or "")


def check_mapping(ctx: Ctx, node_span: Span, f: A.Field | None, fields: dict[str, A.SchemaField] | None,
                  graph: str, *, required: list[str] | None = None, names: list[str] | None = None) -> None:
    """Check a subgraph node's ``input`` mapping ``f`` against the callee's
    input fields: from the AST (``fields``), or ``required``/``names`` taken
    from a compiled input schema. ``node_span`` is where to report a missing
    mapping."""
    if fields is not None:
        names = list(fields)
        required = [n for n, sf in fields.items() if sf.default is None and not sf.type.optional]
    if names is None:
        return
    if f is None or not isinstance(f.value, A.ObjectV):
        if required and f is None:
            ctx.bag.error("E0707", f"subgraph `{graph}` needs input " + ", ".join(f"`{r}`" for r in required),
                          node_span, "no `input` mapping",
                          help="add `input { " + ", ".join(f"{r}: ..." for r in required) + " }`")
        return
    given = {p.key_name: p for p in f.value.pairs}
    for key, p in given.items():
        if key not in names:
            guess = did_you_mean(key, names)
            ctx.bag.error("E0707", f"subgraph `{graph}` has no input field `{key}`", p.key.span, "unknown input field",
                          help=f"did you mean `{guess}`?" if guess else
                          ("its input fields: " + ", ".join(f"`{n}`" for n in names)) if names else
                          f"`{graph}` declares no input fields")
    missing = [r for r in (required or []) if r not in given]
    if missing:
        ctx.bag.error("E0707", f"subgraph `{graph}` needs input " + ", ".join(f"`{r}`" for r in missing),
                      f.key.span, "missing required fields",
                      help="add " + ", ".join(f"`{r}: ...`" for r in missing))
