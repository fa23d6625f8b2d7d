"""``args`` of a ``tool`` node against the tool's argument schema.

The schemas (JSON Schema objects, as the model sees them) are built by the
harness, which the checker may not import; the caller passes them
(``check_module(..., tool_schemas=...)``, filled by :mod:`ragc.compiler` from
:func:`ragc.harness.tools.registry.argument_schemas`). Without them nothing
is checked here.

Codes (warnings: the file still compiles; the harness ignores unknown
arguments and fails the call on the other two at run time): ``W0290``
unknown argument (with "did you mean"), ``W0291`` missing required
argument, ``W0292`` a literal of the wrong JSON type (``"3"`` for an
integer). Values that are paths or templates are not typed until run time.
"""

from __future__ import annotations

from typing import Any, Mapping

from ragc.check.context import Ctx
from ragc.check.model import GraphInfo
from ragc.check.values import as_name
from ragc.diagnostics.model import Label
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A

_LITERAL_TYPES = {A.Str: "string", A.Int: "integer", A.Float: "number", A.Bool: "boolean", A.ListV: "array",
                  A.ObjectV: "object", A.Null: "null"}


def _json_type(v: A.Value) -> str | None:
    """The JSON type of a literal value; ``None`` for paths, calls and templates."""
    if isinstance(v, A.Str) and ("{{" in v.value or "{%" in v.value):
        return None
    for cls, name in _LITERAL_TYPES.items():
        if isinstance(v, cls):
            return name
    return None


def _accepts(schema: Mapping[str, Any], found: str) -> bool:
    if "anyOf" in schema:
        return any(_accepts(s, found) for s in schema["anyOf"])
    t = schema.get("type")
    if t is None:
        return True
    allowed = set(t) if isinstance(t, list) else {t}
    return found in allowed or (found == "integer" and "number" in allowed)


def check(ctx: Ctx, g: GraphInfo, schemas: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Check every ``tool`` node of ``g`` whose tool has a schema in ``schemas``
    (which may be computed on first access: it is consulted only at a ``tool`` node)."""
    if schemas is None:
        return
    for info in g.nodes.values():
        if info.kind != "tool" or "tool" not in info.fields or "args" not in info.fields:
            continue
        tool = as_name(info.fields["tool"].value)
        schema = schemas.get(tool or "")
        args = info.fields["args"].value
        if not schema or not isinstance(args, A.ObjectV):
            continue
        props: Mapping[str, Any] = schema.get("properties") or {}
        given = {p.key_name: p for p in args.pairs}
        for name, p in given.items():
            if name not in props:
                guess = did_you_mean(name, list(props))
                ctx.bag.warning("W0290", f"tool `{tool}` has no argument `{name}`", p.key.span, "unknown argument",
                              help=f"did you mean `{guess}`?" if guess else
                              f"`{tool}` takes " + (", ".join(f"`{k}`" for k in props) or "no arguments"))
                continue
            found = _json_type(p.value)
            if found is not None and not _accepts(props[name], found):
                want = props[name].get("type", "a value")
                ctx.bag.warning("W0292", f"argument `{name}` of tool `{tool}` must be {want}, found {found}",
                              p.value.span, f"a {found}", help=f"give `{name}` a {want} value")
        missing = [r for r in schema.get("required") or () if r not in given]
        if missing:
            shown = ", ".join(f"`{m}`" for m in missing)
            ctx.bag.warning("W0291", f"tool `{tool}` needs argument{'s' if len(missing) > 1 else ''} {shown}",
                          info.fields["args"].key.span, "in these arguments",
                          secondary=(Label(info.fields["tool"].value.span, "the tool"),),
                          help="add " + ", ".join(f"`{m}: ...`" for m in missing) + " to `args`")
