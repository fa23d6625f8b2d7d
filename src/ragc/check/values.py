"""Value shapes: what a field's value must look like, and literal values.

Each field of a node or settings block expects one *shape*:

==============  ==========================================================
``string``      a string literal (``description "..."``)
``text``        a string or template, or a path (``prompt input.question``)
``duration``    ``250ms``, ``30s``, ``5m``, ``1h``
``int``         an integer (bounds checked separately)
``number``      an integer or a float
``bool``        ``true`` / ``false``
``name``        a bare word (a node, channel or label); a string is accepted
                leniently (``output "findings"``)
``names``       a bare word or a list of them (``next [a, b]``)
``registry``    a registry name: a string (``model "default"``); a bare word
                is accepted leniently
``registries``  a list of registry names (``tools ["search"]``)
``strings``     a list of strings or bare words (``options``, ``on``)
``object``      an object / settings block ``{ ... }``
``mapping``     an object, or a path evaluating to one (``input``, ``args``)
``literal``     any value without paths (``default``, ``metadata``)
==============  ==========================================================

A wrong shape is ``E0205``; a value out of range is ``E0206``.
"""

from __future__ import annotations

from typing import Any

from ragc.diagnostics.model import Applicability, Suggestion
from ragc.check.context import Ctx
from ragc.syntax import ast as A

NOT_LITERAL = object()
"""Returned by :func:`literal` for a value containing a path or call."""

_ARTICLE = {
    A.Str: "a string", A.Int: "an integer", A.Float: "a number", A.Duration: "a duration",
    A.Bool: "a boolean", A.Null: "`null`", A.ListV: "a list", A.ObjectV: "an object", A.Call: "a call",
}

SHAPE_WORDS = {
    "string": "a string", "text": "a string", "duration": "a duration like `30s`",
    "int": "an integer", "number": "a number", "bool": "`true` or `false`",
    "name": "a name", "names": "a name or a list of names", "registry": "a registry name (a string)",
    "registries": "a list of registry names", "strings": "a list of strings",
    "object": "a block `{ ... }`", "mapping": "an object `{ ... }`", "literal": "a literal value",
}


def describe(v: A.Value) -> str:
    """``"a string"``, ``"a name"``, ``"a path"``... for messages."""
    if isinstance(v, A.Path):
        return "a name" if v.is_bare else "a path"
    return _ARTICLE.get(type(v), "a value")


def as_name(v: A.Value) -> str | None:
    """The name of a bare word or (leniently) a string; else ``None``."""
    if isinstance(v, A.Path) and v.is_bare:
        return v.root.name
    if isinstance(v, A.Str) and not v.is_template:
        return v.value
    return None


def names_of(v: A.Value) -> list[tuple[str, A.Value]] | None:
    """Names of a name or a list of names, each with its value node;
    ``None`` if the shape is wrong."""
    items = v.items if isinstance(v, A.ListV) else (v,)
    out: list[tuple[str, A.Value]] = []
    for item in items:
        n = as_name(item)
        if n is None:
            return None
        out.append((n, item))
    return out


def literal(v: A.Value) -> Any:
    """The Python value of a literal (strings, numbers, durations in seconds,
    booleans, null, lists, objects; a bare word is its text); :data:`NOT_LITERAL`
    when it contains a path with segments or a call."""
    if isinstance(v, (A.Str, A.Int, A.Float, A.Bool)):
        return v.value
    if isinstance(v, A.Duration):
        return v.seconds
    if isinstance(v, A.Null):
        return None
    if isinstance(v, A.Path):
        return v.root.name if v.is_bare else NOT_LITERAL
    if isinstance(v, A.ListV):
        items = [literal(x) for x in v.items]
        return NOT_LITERAL if any(x is NOT_LITERAL for x in items) else items
    if isinstance(v, A.ObjectV):
        out = {}
        for p in v.pairs:
            val = literal(p.value)
            if val is NOT_LITERAL:
                return NOT_LITERAL
            out[p.key_name] = val
        return out
    return NOT_LITERAL


def _fits(shape: str, v: A.Value) -> bool:
    if shape == "string":
        return isinstance(v, A.Str)
    if shape == "text":
        return isinstance(v, A.Str) or (isinstance(v, A.Path) and not v.is_bare) or (
            isinstance(v, A.Path) and v.root.name in ("input", "state", "result", "payload", "error"))
    if shape == "duration":
        return isinstance(v, A.Duration)
    if shape == "int":
        return isinstance(v, A.Int)
    if shape == "number":
        return isinstance(v, (A.Int, A.Float))
    if shape == "bool":
        return isinstance(v, A.Bool)
    if shape in ("name", "registry"):
        return as_name(v) is not None
    if shape == "names":
        return names_of(v) is not None
    if shape in ("registries", "strings"):
        return isinstance(v, A.ListV) and all(as_name(x) is not None for x in v.items)
    if shape == "object":
        return isinstance(v, A.ObjectV)
    if shape == "mapping":
        return isinstance(v, A.ObjectV) or (isinstance(v, A.Path) and not v.is_bare)
    if shape == "literal":
        return literal(v) is not NOT_LITERAL
    raise ValueError(f"unknown shape {shape!r}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_shape(ctx: Ctx, key: str, v: A.Value, shape: str) -> bool:
    """Report ``E0205`` unless ``v`` has ``shape``; returns whether it fits.

    Suggestions: a number where a duration is expected gets the same number
    of seconds (``30`` -> ``30s``), a bare word where a string is expected
    gets quoted (both machine-applicable); a single registry name where a
    list is expected gets brackets.
    """
    if _fits(shape, v):
        return True
    suggestions: tuple[Suggestion, ...] = ()
    help_ = None
    if shape == "duration" and isinstance(v, (A.Int, A.Float)) and v.value >= 0:
        text = f"{v.value:g}s"
        suggestions = (Suggestion(f"write the duration with a unit: `{text}`", v.span, text,
                                  Applicability.MACHINE_APPLICABLE),)
        help_ = "durations need a unit: `ms`, `s`, `m` or `h`"
    elif shape in ("string", "text") and isinstance(v, A.Path) and v.is_bare:
        q = _quote(v.root.name)
        suggestions = (Suggestion("quote the text", v.span, q, Applicability.MACHINE_APPLICABLE),)
        help_ = f"to pass the text, quote it: `{q}`"
    elif shape in ("registries", "strings") and as_name(v) is not None:
        text = f"[{_quote(as_name(v))}]"
        suggestions = (Suggestion("make it a list", v.span, text, Applicability.MACHINE_APPLICABLE),)
        help_ = f"write a list: `{text}`"
    ctx.bag.error("E0205", f"`{key}` expects {SHAPE_WORDS[shape]}, found {describe(v)}", v.span,
                  f"expected {SHAPE_WORDS[shape]}", help=help_, suggestions=suggestions)
    return False


def check_range(ctx: Ctx, key: str, v: A.Value, *, lo: float | None = None, hi: float | None = None) -> bool:
    """Report ``E0206`` unless ``lo <= value <= hi`` (for int, float and
    duration values; other shapes pass). Returns whether it is in range."""
    if isinstance(v, (A.Int, A.Float)):
        x: float = v.value
    elif isinstance(v, A.Duration):
        x = v.seconds
    else:
        return True
    if lo is not None and x < lo:
        bound = f"at least {lo:g}" if not (isinstance(v, A.Duration) and lo == 0) else "positive"
        ctx.bag.error("E0206", f"`{key}` must be {bound}, found {_shown(v)}", v.span, f"must be {bound}")
        return False
    if hi is not None and x > hi:
        ctx.bag.error("E0206", f"`{key}` must be at most {hi:g}, found {_shown(v)}", v.span, f"must be at most {hi:g}")
        return False
    return True


def _shown(v: A.Value) -> str:
    if isinstance(v, A.Duration):
        return v.text
    return f"{v.value}"  # type: ignore[union-attr]
