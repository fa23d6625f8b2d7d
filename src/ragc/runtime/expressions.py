"""Expressions of the IR, compiled once into Python closures.

:func:`compile_expr` turns an IR :data:`ragc.ir.model.Expr` into
``evaluate(scope) -> value``. The tree is walked once, when a workflow is
loaded; a run only calls closures (no per-call dispatch on node types).

Roots of paths (:class:`Scope` attributes): ``input`` (the run input, or a
subgraph's input), ``state`` (the channels as the current branch sees them),
``result`` (the node's own result: in ``update``, route conditions and
``send`` payloads), ``error`` (the failure, in error routes), and the
variables bound in a fan-out branch (``payload`` and the ``for`` variable)
in :attr:`Scope.vars`.

Semantics: segments index dicts by key and lists by integer (negative from
the end); a missing key, an index out of range or a type mismatch is an
:class:`ExprError`. Comparisons are Python's (``<`` between a number and a
string is an error); ``in`` tests membership (``x in null`` is false);
``and``/``or`` short-circuit and give booleans; ``len(x)`` is the length.

Copy-on-write: reading a whole channel (``state.items``) that holds a list
or dict removes it from the frame's owned set, so the value the expression
returned is never mutated afterwards by an in-place append
(:mod:`ragc.runtime.channels`).
"""

from __future__ import annotations

import copy
import operator
from typing import Any, Callable

from ragc.ir.model import (
    BoolExpr,
    CallExpr,
    CompareExpr,
    ListExpr,
    LitExpr,
    NotExpr,
    ObjectExpr,
    PathExpr,
    TemplateExpr,
)
from ragc.runtime.templates import TemplateError, compile_template

Evaluate = Callable[["Scope"], Any]


class ExprError(Exception):
    """An expression that cannot be evaluated; ``str()`` is one line."""


class Scope:
    """What an expression can see. ``owned`` is the frame's set of channels
    it may mutate in place (see module docs); ``vars`` holds ``payload`` and
    the ``for`` variable."""

    __slots__ = ("input", "state", "result", "vars", "owned", "error")

    def __init__(self, input: Any, state: dict, vars: dict, owned: set, result: Any = None, error: Any = None):
        self.input = input
        self.state = state
        self.vars = vars
        self.owned = owned
        self.result = result
        self.error = error

    def context(self) -> dict[str, Any]:
        """The template context: roots plus branch variables."""
        ctx = {"input": self.input, "state": self.state, "result": self.result, "error": self.error}
        if self.vars:
            ctx.update(self.vars)
        return ctx


def path_text(root: str, segments: list) -> str:
    """``state.items[0].title`` for messages."""
    out = root
    for s in segments:
        out += f"[{s}]" if isinstance(s, int) else f".{s}"
    return out


def _step(value: Any, seg: Any, root: str, segments: list) -> Any:
    try:
        if isinstance(seg, int):
            if isinstance(value, (list, tuple, str)):
                return value[seg]
            if isinstance(value, dict):
                return value[seg] if seg in value else value[str(seg)]
            raise ExprError(f"`{path_text(root, segments)}`: cannot index a {_tname(value)} with [{seg}]")
        if isinstance(value, dict):
            return value[seg]
        if value is None:
            raise ExprError(f"`{path_text(root, segments)}`: `{seg}` of null")
        if hasattr(value, "model_fields") or hasattr(value, "__dataclass_fields__"):
            return getattr(value, seg)
        raise ExprError(f"`{path_text(root, segments)}`: a {_tname(value)} has no field `{seg}`")
    except KeyError:
        raise ExprError(f"`{path_text(root, segments)}`: no key `{seg}`") from None
    except IndexError:
        raise ExprError(f"`{path_text(root, segments)}`: index {seg} out of range") from None
    except AttributeError:
        raise ExprError(f"`{path_text(root, segments)}`: no field `{seg}`") from None


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _walk(value: Any, segs: list, root: str) -> Any:
    for s in segs:
        value = _step(value, s, root, segs)
    return value


def _compile_path(e: PathExpr) -> Evaluate:
    root, segs = e.root, list(e.segments)
    if root == "state":
        if not segs:
            def whole_state(sc: Scope) -> Any:
                sc.owned.clear()
                return dict(sc.state)
            return whole_state
        ch, rest = segs[0], segs[1:]
        if not isinstance(ch, str):
            raise ExprError(f"`{path_text(root, segs)}`: a channel name is expected after `state`")

        def channel_value(sc: Scope) -> Any:
            try:
                v = sc.state[ch]
            except KeyError:
                raise ExprError(f"`state.{ch}`: no channel `{ch}`") from None
            if sc.owned and ch in sc.owned and isinstance(v, (list, dict)):
                sc.owned.discard(ch)
            return v

        if not rest:
            return channel_value

        def channel_path(sc: Scope) -> Any:
            v = sc.state.get(ch, _MISSING)
            if v is _MISSING:
                raise ExprError(f"`state.{ch}`: no channel `{ch}`")
            return _walk(v, rest, f"state.{ch}")

        return channel_path
    if root in ("input", "result", "error"):
        get = operator.attrgetter(root)
        if not segs:
            return get
        if len(segs) == 1 and isinstance(segs[0], str):
            key = segs[0]

            def one(sc: Scope) -> Any:
                v = get(sc)
                if type(v) is dict:
                    try:
                        return v[key]
                    except KeyError:
                        pass
                return _step(v, key, root, segs)

            return one
        return lambda sc: _walk(get(sc), segs, root)

    def var_path(sc: Scope) -> Any:
        try:
            v = sc.vars[root]
        except KeyError:
            raise ExprError(f"`{root}` is not bound here (only inside a fan-out branch that binds it)") from None
        return _walk(v, segs, root) if segs else v

    if len(segs) == 1 and isinstance(segs[0], str):
        key = segs[0]

        def var_key(sc: Scope) -> Any:
            try:
                v = sc.vars[root]
            except KeyError:
                raise ExprError(f"`{root}` is not bound here (only inside a fan-out branch that binds it)") from None
            if type(v) is dict:
                try:
                    return v[key]
                except KeyError:
                    pass
            return _step(v, key, root, segs)

        return var_key
    return var_path


_MISSING = object()

_CMP = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compile_compare(e: CompareExpr) -> Evaluate:
    left, right = compile_expr(e.left), compile_expr(e.right)
    op = e.op
    if op in ("in", "not_in"):
        negate = op == "not_in"

        def member(sc: Scope) -> bool:
            container = right(sc)
            item = left(sc)
            if container is None:
                found = False
            else:
                try:
                    found = item in container
                except TypeError:
                    raise ExprError(f"`in`: cannot look for a {_tname(item)} in a {_tname(container)}") from None
            return not found if negate else found

        return member
    fn = _CMP[op]

    def compare(sc: Scope) -> bool:
        a, b = left(sc), right(sc)
        try:
            return bool(fn(a, b))
        except TypeError:
            raise ExprError(f"cannot compare a {_tname(a)} with a {_tname(b)} using `{op}`") from None

    return compare


def compile_expr(e: Any) -> Evaluate:
    """Compile one IR expression into ``evaluate(scope) -> value``.

    Raises:
        ExprError: a malformed expression (e.g. a template with a syntax
            error) -- found at load time, before any run.
    """
    if isinstance(e, LitExpr):
        value = e.value
        if isinstance(value, (list, dict)):
            return lambda sc: copy.deepcopy(value)
        return lambda sc: value
    if isinstance(e, PathExpr):
        return _compile_path(e)
    if isinstance(e, TemplateExpr):
        try:
            render = compile_template(e.source)
        except TemplateError as err:
            raise ExprError(str(err)) from None

        def template(sc: Scope) -> str:
            try:
                return render(sc.context())
            except TemplateError as err:
                raise ExprError(str(err)) from None

        return template
    if isinstance(e, ListExpr):
        items = [compile_expr(x) for x in e.items]
        return lambda sc: [f(sc) for f in items]
    if isinstance(e, ObjectExpr):
        fields = [(k, compile_expr(v)) for k, v in e.fields.items()]
        return lambda sc: {k: f(sc) for k, f in fields}
    if isinstance(e, CallExpr):
        args = [compile_expr(x) for x in e.args]
        if e.func == "len":
            if len(args) != 1:
                raise ExprError("`len` takes one argument")
            arg = args[0]

            def length(sc: Scope) -> int:
                v = arg(sc)
                if v is None:
                    return 0
                try:
                    return len(v)
                except TypeError:
                    raise ExprError(f"`len` of a {_tname(v)}") from None

            return length
        raise ExprError(f"unknown function `{e.func}`")
    if isinstance(e, CompareExpr):
        return _compile_compare(e)
    if isinstance(e, BoolExpr):
        ops = [compile_expr(x) for x in e.operands]
        if e.op == "and":
            return lambda sc: all(f(sc) for f in ops)
        return lambda sc: any(f(sc) for f in ops)
    if isinstance(e, NotExpr):
        inner = compile_expr(e.operand)
        return lambda sc: not inner(sc)
    raise ExprError(f"unknown expression type {type(e).__name__}")


def compile_optional(e: Any) -> Evaluate | None:
    """:func:`compile_expr`, or ``None`` for a missing expression."""
    return None if e is None else compile_expr(e)
