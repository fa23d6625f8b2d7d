"""The typed, immutable syntax tree of a ``.rag`` file.

Every node is a frozen dataclass with a ``span`` (see
:class:`ragc.diagnostics.Span`). The tree mirrors the source: lenient spellings
are kept as written (``kind sub_agent``, ``sends [...]``, a top-level
``a -> b``), so the formatter can rewrite them and the checker can point at
them. :mod:`ragc.syntax.canon` maps a tree to its canonical form;
:func:`strip_spans` gives the span-free view used to compare two trees
("AST before == AST after" for ``ragc fmt``).

Grammar: ``grammar/rag.lark``. Names of the node classes follow its rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Union

from ragc.diagnostics.model import Span

# --------------------------------------------------------------------------- names


@dataclass(frozen=True, slots=True)
class Ident:
    """A name as written: a node, channel, key, label, reducer, kind value..."""

    name: str
    span: Span


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Str:
    """A string literal. ``value`` is the decoded text (escapes resolved and,
    for ``\"\"\"`` strings, the dedent rule applied); ``triple`` records the
    spelling. A string containing ``{{`` or ``{%`` is a prompt template,
    rendered at run time in a Jinja2 sandbox."""

    value: str
    triple: bool
    span: Span

    @property
    def is_template(self) -> bool:
        """True when the value holds ``{{`` or ``{%`` (a Jinja2 template)."""
        return "{{" in self.value or "{%" in self.value


@dataclass(frozen=True, slots=True)
class Int:
    """An integer literal (``3``, ``-1``)."""

    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class Float:
    """A decimal literal (``0.5``, ``-2.0``; no exponent in the grammar)."""

    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class Duration:
    """``250ms``, ``30s``, ``5m``, ``1h``, ``1.5s``. ``seconds`` is the value in
    seconds; ``text`` the spelling (kept so the formatter does not rewrite
    ``90s`` as ``1.5m``)."""

    seconds: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    """``true`` or ``false``."""

    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Null:
    """``null``."""

    span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    """``.name`` in a path."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """``[0]``, ``[-1]`` or ``["key"]`` in a path."""

    key: int | str
    span: Span


@dataclass(frozen=True, slots=True)
class Path:
    """A pure path: ``state.findings``, ``input.question``, ``item.title``,
    ``result.text``, ``state.drafts[-1]``. A bare word is a path with no
    segments: the value of ``kind agent`` or ``next END`` is ``Path(agent)``.
    """

    root: Ident
    segments: tuple[Attr | Index, ...]
    span: Span

    @property
    def is_bare(self) -> bool:
        """True for a single word (``agent``, ``END``): no ``.x`` or ``[i]``."""
        return not self.segments

    def dotted(self) -> str:
        """The path as text for messages: ``state.drafts[-1]``, ``x["k"]`` (not an
        exact spelling: a key with quotes or escapes is not re-escaped)."""
        out = self.root.name
        for s in self.segments:
            out += f".{s.name}" if isinstance(s, Attr) else f"[{s.key!r}]".replace("'", '"')
        return out


@dataclass(frozen=True, slots=True)
class ListV:
    """``[a, b, ...]``."""

    items: tuple["Value", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Pair:
    """``key: value`` or ``key value`` inside an object or block. ``key`` is an
    :class:`Ident` (bare word) or a :class:`Str` (quoted key)."""

    key: Ident | Str
    value: "Value"
    colon: bool
    span: Span

    @property
    def key_name(self) -> str:
        """The key as a plain string, whether bare or quoted."""
        return self.key.name if isinstance(self.key, Ident) else self.key.value


@dataclass(frozen=True, slots=True)
class ObjectV:
    """``{ k: v, ... }`` or a settings block ``{ k v ... }`` (same syntax)."""

    pairs: tuple[Pair, ...]
    span: Span

    def get(self, key: str) -> Pair | None:
        """The first pair whose key (bare or quoted) is ``key``, else None."""
        for p in self.pairs:
            if p.key_name == key:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Call:
    """``len(state.items)``: a call of one of the checker's pure built-ins."""

    func: Ident
    args: tuple["Value", ...]
    span: Span


Value = Union[Str, Int, Float, Duration, Bool, Null, Path, ListV, ObjectV, Call]


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a and b and c`` / ``a or b``: ``op`` is ``"and"`` or ``"or"``."""

    op: str
    operands: tuple["Condition", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    """``not condition``."""

    operand: "Condition"
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    """``left OP right`` with OP one of ``== != < <= > >= in not_in``."""

    op: str
    left: "Condition"
    right: "Condition"
    span: Span


Condition = Union[BoolOp, Not, Compare, Value]


# --------------------------------------------------------------------------- schemas


@dataclass(frozen=True, slots=True)
class TypeRef:
    """``string``, ``int``, ``float``, ``bool``, ``any``, ``list[T]``,
    ``dict[T]``; ``optional`` for a trailing ``?``."""

    name: Ident
    args: tuple["Type", ...]
    optional: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ObjectType:
    """``{ title: string, tags: list[string] }``: an object with these
    fields (and no others); ``optional`` for a trailing ``?``."""

    fields: tuple["SchemaField", ...]
    optional: bool
    span: Span


Type = Union[TypeRef, ObjectType]


@dataclass(frozen=True, slots=True)
class SchemaField:
    """``name: type`` or ``name type``, optionally ``= default``, in an
    ``input``/``output``/``schema`` block or an object type (where the checker
    rejects a default, ``E0709``); ``colon`` records the spelling."""

    name: Ident
    type: Type
    default: Value | None
    colon: bool
    span: Span


# --------------------------------------------------------------------------- node items


@dataclass(frozen=True, slots=True)
class Field:
    """A generic setting ``key value`` / ``key: value``: ``kind agent``,
    ``model "default"``, ``next [a, b]``, ``retry { ... }``. The checker knows
    which keys each node kind allows and what each value must be."""

    key: Ident
    value: Value
    colon: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ForClause:
    """``for item in state.files``."""

    var: Ident
    source: Value
    span: Span


@dataclass(frozen=True, slots=True)
class SendEntry:
    """One entry of a ``send``: ``target { payload }`` optionally followed by a
    ``for`` clause (dynamic fan-out: one branch per element).

    ``mapping``: upstream's ``send target "name"`` (a named input mapping,
    which ragc does not have: the checker reports ``E0294``); else ``None``."""

    target: Ident
    payload: ObjectV | None
    loop: ForClause | None
    span: Span
    mapping: Str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """A fan-out. ``spelling`` records the form written:

    * ``"list"``: ``send [ a { ... }, b { ... } ]`` (canonical);
    * ``"single"``: ``send a { ... } for item in xs`` (lenient);
    * ``"sends"``: ``sends [ send a { ... } send b { ... } ]`` (lenient).
    """

    entries: tuple[SendEntry, ...]
    spelling: str
    span: Span


@dataclass(frozen=True, slots=True)
class Policy:
    """``policy all``, ``policy any``, ``policy first``, ``policy quorum 3``."""

    name: Ident
    count: Int | None
    span: Span


@dataclass(frozen=True, slots=True)
class JoinBlock:
    """The ``{ policy ... tolerate N timeout D }`` block of a join."""

    policy: Policy | None
    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class JoinRef:
    """Node-level ``join X { ... }`` after a ``send``: continue at X once the
    branches satisfy the join policy."""

    target: Ident
    block: JoinBlock | None
    span: Span


@dataclass(frozen=True, slots=True)
class Route:
    """``label -> target`` or ``label -> target when condition``."""

    label: Ident
    target: Ident
    when: Condition | None
    span: Span


@dataclass(frozen=True, slots=True)
class Routes:
    """``routes { label -> target ... }``."""

    routes: tuple[Route, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """Node-level ``schema { field: type ... }``: structured output."""

    fields: tuple[SchemaField, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Allow:
    """``allow tools ["search"]``: narrows what the registry grants."""

    what: Ident
    value: Value
    span: Span


NodeItem = Union[Field, Send, JoinRef, Routes, Policy, OutputSchema, Allow]


@dataclass(frozen=True, slots=True)
class Node:
    """``node NAME { items }``; items in source order."""

    name: Ident
    items: tuple[NodeItem, ...]
    span: Span

    def fields(self, key: str) -> list[Field]:
        """Every generic ``key value`` setting named ``key``, in source order
        (more than one is a checker diagnostic)."""
        return [i for i in self.items if isinstance(i, Field) and i.key.name == key]

    def field(self, key: str) -> Field | None:
        """The first setting named ``key``, or None."""
        found = self.fields(key)
        return found[0] if found else None


# --------------------------------------------------------------------------- graph items


@dataclass(frozen=True, slots=True)
class SchemaBlock:
    """Graph-level ``input { ... }`` or ``output { ... }``; ``which`` says which."""

    which: str
    fields: tuple[SchemaField, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Channel:
    """``channel NAME REDUCER { options }``.

    ``args``: upstream's reducer arguments written after the reducer
    (``channel usage aggregate "usage_delta"``), string and number literals;
    ``ragc.syntax.upstream`` maps the one form ragc has a meaning for and the
    checker reports the rest (``E0293``)."""

    name: Ident
    reducer: Ident
    options: ObjectV | None
    span: Span
    args: tuple = ()


@dataclass(frozen=True, slots=True)
class JoinDecl:
    """Top-level ``join [a, b] -> c { ... }``."""

    sources: tuple[Ident, ...]
    target: Ident
    block: JoinBlock | None
    span: Span


@dataclass(frozen=True, slots=True)
class Edge:
    """Top-level ``edge a -> b`` (``bare`` for the lenient ``a -> b``)."""

    source: Ident
    target: Ident
    bare: bool
    span: Span


GraphItem = Union[SchemaBlock, Channel, Node, JoinDecl, Edge, Allow, Field]


@dataclass(frozen=True, slots=True)
class Graph:
    """``graph NAME { items }``; items in source order."""

    name: Ident
    items: tuple[GraphItem, ...]
    span: Span

    @property
    def nodes(self) -> list[Node]:
        """The graph's nodes, in source order."""
        return [i for i in self.items if isinstance(i, Node)]

    @property
    def channels(self) -> list[Channel]:
        """The graph's ``channel`` declarations, in source order."""
        return [i for i in self.items if isinstance(i, Channel)]

    def field(self, key: str) -> Field | None:
        """The first graph-level setting named ``key`` (``start``...), or None."""
        for i in self.items:
            if isinstance(i, Field) and i.key.name == key:
                return i
        return None


@dataclass(frozen=True, slots=True)
class Comment:
    """A ``//`` comment. ``own_line`` is true when only whitespace precedes it
    on its line (a leading comment), false for a trailing comment."""

    text: str
    own_line: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Module:
    """A whole ``.rag`` file: its graphs and every comment, in source order."""

    graphs: tuple[Graph, ...]
    comments: tuple[Comment, ...]
    span: Span

    def graph(self, name: str) -> Graph | None:
        """The first graph called ``name``, or None."""
        for g in self.graphs:
            if g.name.name == name:
                return g
        return None


# --------------------------------------------------------------------------- helpers


def strip_spans(node: Any) -> Any:
    """A span-free, hashable view of a tree: nested tuples of
    ``(ClassName, field values...)``. Two trees with the same meaning *and the
    same spelling* give equal views; apply :func:`ragc.syntax.canon.canonicalize`
    first to compare meaning across spellings. Comments are dropped."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        if isinstance(node, Module):
            return ("Module", strip_spans(node.graphs))
        return (type(node).__name__,) + tuple(
            strip_spans(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name != "span"
        )
    if isinstance(node, tuple):
        return tuple(strip_spans(x) for x in node)
    return node
