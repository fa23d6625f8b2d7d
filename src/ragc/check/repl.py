"""Checks of ``kind repl`` nodes (a model-driven CodeAct loop of ``.ragsh``
cells, ``docs/repl.md``): ``max_turns``, ``limits { ... }`` and whether the
Starlark interpreter is installed.

Codes: ``E0917`` an unknown limit in ``limits``, or a limit value that is not
a positive number; ``E0918`` ``max_turns`` out of range; ``E0919`` the
``starlark-pyo3`` package (the ``repl`` extra) is not installed, so no cell
could run.
"""

from __future__ import annotations

import importlib.util

from ragc.check.context import Ctx
from ragc.check.model import NodeInfo
from ragc.check.names import unknown
from ragc.repl.policy import LIMIT_NAMES
from ragc.syntax import ast as A

MAX_TURNS = (1, 100)
"""The range of ``max_turns`` (model turns of one activation), inclusive."""

DEFAULT_MAX_TURNS = 8
"""Model turns when the node gives no ``max_turns``."""

FLOAT_LIMITS = frozenset({"timeout_s"})
"""Limits that take a number of seconds (a duration like ``30s`` too); the
others take a positive integer."""


def starlark_available() -> bool:
    """Whether ``starlark-pyo3`` (import name ``starlark``) is importable."""
    return importlib.util.find_spec("starlark") is not None


def limit_values(obj: A.ObjectV) -> dict[str, float | int]:
    """The valid entries of a checked ``limits { ... }`` block, as
    :class:`ragc.repl.policy.ReplPolicy` keyword arguments (durations in
    seconds); invalid entries (already reported) are left out."""
    out: dict[str, float | int] = {}
    for p in obj.pairs:
        key = p.key_name
        v = p.value
        if key not in LIMIT_NAMES:
            continue
        if isinstance(v, A.Duration) and key in FLOAT_LIMITS and v.seconds > 0:
            out[key] = v.seconds
        elif isinstance(v, A.Int) and v.value > 0:
            out[key] = v.value
        elif isinstance(v, A.Float) and key in FLOAT_LIMITS and v.value > 0:
            out[key] = v.value
    return out


def check_repl_node(ctx: Ctx, info: NodeInfo, kind_field: A.Field | None) -> None:
    """``E0917``/``E0918``/``E0919`` for the ``repl`` node ``info`` (its
    fields were collected and shape-checked by :func:`ragc.check.kinds.check_node`)."""
    turns = info.fields.get("max_turns")
    if turns is not None and isinstance(turns.value, A.Int):
        lo, hi = MAX_TURNS
        if not lo <= turns.value.value <= hi:
            ctx.bag.error("E0918", f"`max_turns` must be between {lo} and {hi}, found {turns.value.value}",
                          turns.value.span, f"must be {lo}..{hi}",
                          help=f"each turn is one model call and one cell; the default is {DEFAULT_MAX_TURNS}")
    limits = info.fields.get("limits")
    if limits is not None and isinstance(limits.value, A.ObjectV):
        seen: set[str] = set()
        for p in limits.value.pairs:
            key = p.key_name
            if key not in LIMIT_NAMES:
                unknown(ctx, "E0917", f"unknown limit `{key}` in `limits`", p.key.span, "not a ReplPolicy limit",
                        key, LIMIT_NAMES,
                        fallback_help="limits: " + ", ".join(f"`{k}`" for k in LIMIT_NAMES))
                continue
            if key in seen:
                ctx.bag.error("E0207", f"duplicate setting `{key}` in `limits`", p.key.span, "given again here")
                continue
            seen.add(key)
            v = p.value
            ok = (isinstance(v, A.Int) and v.value > 0) or (
                key in FLOAT_LIMITS and ((isinstance(v, A.Float) and v.value > 0)
                                         or (isinstance(v, A.Duration) and v.seconds > 0)))
            if not ok:
                want = "a positive number of seconds (or a duration like `30s`)" if key in FLOAT_LIMITS \
                    else "a positive integer"
                ctx.bag.error("E0917", f"limit `{key}` must be {want}", v.span, "not a valid limit value",
                              help=f"`{key}` bounds the node's cells; see `ragc explain E0917`")
    if kind_field is not None and not starlark_available():
        ctx.bag.error("E0919", "`repl` nodes need the Starlark interpreter, which is not installed",
                      kind_field.value.span, "its cells could not run",
                      help="install the extra: pip install 'ragc[repl]' (the `starlark-pyo3` package)")
