"""Building the AST directly from LALR reductions.

The parser (:mod:`ragc.syntax.parser`) calls one method of :class:`AstBuilder`
per reduced grammar rule, with the rule's children exactly as the rule's
expansion lists them: Lark tokens (punctuation included) and values built by
earlier reductions. Lark's EBNF helper rules (``__node_star_4`` for
``node_item*`` and the like) produce :class:`Seq` lists that the parent rule
splices in. No Lark ``Tree`` is ever built, which makes the parse about twice
as fast as tree building plus a transformer pass, and lets every span cover
its node's punctuation.

:func:`rule_methods` maps each grammar rule to the method that builds it;
an unknown rule (the grammar grew a rule this module does not know) is a bug
and fails loudly when the parser is first built.
"""

from __future__ import annotations

from lark import Token

from ragc.diagnostics.model import DiagnosticBag, Label, Span
from ragc.syntax import ast as A
from ragc.syntax.lexer import Placeholder
from ragc.syntax.limits import MAX_NUMBER_LENGTH, number_length_diagnostic
from ragc.syntax.strings import EscapeError, duration_seconds, string_value


class Seq:
    """The children collected so far by an EBNF repetition helper rule.

    Lark's helpers are left-recursive (``__x -> __x item``), so a
    repetition of n items is reduced n times. Each reduction links one step
    to the previous one instead of copying the list, which keeps a graph of
    10 000 nodes linear; :meth:`items` flattens the chain once, when the
    parent rule takes it. Steps are never mutated, so a reduction the
    parser undoes leaves earlier steps intact.
    """

    __slots__ = ("prev", "step")

    def __init__(self, prev: "Seq | None", step: tuple):
        self.prev = prev
        self.step = step

    def items(self) -> list:
        """Every child, in source order."""
        steps = []
        node: Seq | None = self
        while node is not None:
            steps.append(node.step)
            node = node.prev
        out: list = []
        for step in reversed(steps):
            out.extend(step)
        return out

    def last(self):
        """The last child (None for an empty step)."""
        return self.step[-1] if self.step else None


def _flat(children: list) -> list:
    """Children with every :class:`Seq` spliced in place."""
    if not any(type(c) is Seq for c in children):
        return children
    out: list = []
    for c in children:
        if type(c) is Seq:
            out.extend(c.items())
        else:
            out.append(c)
    return out


def _start_of(x) -> tuple[int, int, int]:
    if isinstance(x, Token):
        return x.start_pos, x.line, x.column
    s = x.span
    return s.offset, s.line, s.column


def _end_of(x) -> tuple[int, int, int]:
    if isinstance(x, Token):
        return x.end_pos, x.end_line, x.end_column
    s = x.span
    return s.end_offset, s.end_line, s.end_column


def _is(tok, type_: str) -> bool:
    return isinstance(tok, Token) and tok.type == type_


# Rules that only pass their single child through (Lark's `?rule`).
_INLINE = {"graph_item", "node_item", "node_key", "route_label", "any_name", "value",
           "condition", "not_cond", "comparison"}


def rule_methods(rules) -> dict:
    """``{rule: method name}`` for every Lark ``Rule`` of the grammar."""
    out = {}
    for rule in rules:
        origin = rule.origin.name
        alias = rule.alias
        if origin.startswith("__"):
            name = "seq"
        elif alias:
            name = f"r_{alias}"
        elif origin in _INLINE:
            name = "inline"
        else:
            name = f"r_{origin}"
        if not hasattr(AstBuilder, name):
            raise RuntimeError(f"grammar rule {origin!r} (alias {alias!r}) has no AST builder")
        out[rule] = name
    return out


class AstBuilder:
    """Builds AST nodes for one parse.

    Args:
        file: the path put in spans.
        bag: receives diagnostics found while building (bad escapes ``E0004``,
            a join block with two policies ``E0012``).
    """

    def __init__(self, file: str, bag: DiagnosticBag):
        self.file = file
        self.bag = bag

    # -------------------------------------------------------------- helpers

    def span(self, first, last) -> Span:
        """The span from the start of ``first`` to the end of ``last``
        (tokens or AST nodes)."""
        o, l, c = _start_of(first)
        eo, el, ec = _end_of(last)
        return Span(self.file, o, eo, l, c, el, ec)

    def tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)

    def ident(self, tok: Token) -> A.Ident:
        return A.Ident(str(tok), self.tspan(tok))

    def string(self, tok: Token) -> A.Str:
        """Decode a STRING/LONG_STRING token; a bad escape is ``E0004``."""
        text = str(tok)
        if isinstance(tok, Placeholder):  # already reported by the lexer
            return A.Str("", text.startswith('"""'), self.tspan(tok))
        try:
            value, triple = string_value(text)
        except EscapeError as e:
            before = text[: e.offset]
            line = tok.line + before.count("\n")
            col = tok.column + e.offset if "\n" not in before else e.offset - before.rfind("\n")
            start = tok.start_pos + e.offset
            span = Span(self.file, start, start + e.length, line, col, line, col + e.length)
            self.bag.error("E0004", str(e), span, "unknown escape",
                           help='the escapes are JSON\'s: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX')
            value, triple = text, text.startswith('"""')
        return A.Str(value, triple, self.tspan(tok))

    # -------------------------------------------------------------- generic

    def seq(self, c):
        if c and type(c[0]) is Seq:
            return Seq(c[0], tuple(c[1:]))
        return Seq(None, tuple(c))

    def inline(self, c):
        return c[0]

    # -------------------------------------------------------------- module and graph items

    def r_start(self, c):
        return list(_flat(c))

    def r_graph(self, c):
        c = _flat(c)
        return A.Graph(self.ident(c[1]), tuple(c[3:-1]), self.span(c[0], c[-1]))

    def r_schema_block(self, c):
        c = _flat(c)
        return A.SchemaBlock(str(c[0]), tuple(c[2:-1]), self.span(c[0], c[-1]))

    def r_schema_field(self, c):
        name = c[0]
        i = 1
        colon = _is(c[1], "COLON")
        if colon:
            i += 1
        typ = c[i]
        last = typ
        default = None
        if i + 1 < len(c) and _is(c[i + 1], "EQUAL"):
            default = c[i + 2]
            last = default
        return A.SchemaField(self.ident(name), typ, default, colon, self.span(name, last))

    def r_type(self, c):
        c = _flat(c)
        args = tuple(x for x in c if isinstance(x, (A.TypeRef, A.ObjectType)))
        optional = _is(c[-1], "QMARK")
        return A.TypeRef(self.ident(c[0]), args, optional, self.span(c[0], c[-1]))

    def r_object_type(self, c):
        c = _flat(c)
        fields = tuple(x for x in c if isinstance(x, A.SchemaField))
        return A.ObjectType(fields, _is(c[-1], "QMARK"), self.span(c[0], c[-1]))

    def r_channel(self, c):
        c = _flat(c)
        rest = [x for x in c[3:] if x is not None]
        options = rest[-1] if rest and isinstance(rest[-1], A.ObjectV) else None
        args = tuple(x for x in rest if isinstance(x, (A.Str, A.Int, A.Float)))
        return A.Channel(self.ident(c[1]), self.ident(c[2]), options, self.span(c[0], c[-1]), args)

    def r_edge(self, c):
        return A.Edge(self.ident(c[1]), self.ident(c[3]), False, self.span(c[0], c[-1]))

    def r_bare_edge(self, c):
        return A.Edge(self.ident(c[0]), self.ident(c[2]), True, self.span(c[0], c[-1]))

    def r_join_decl(self, c):
        block = c[6] if len(c) > 6 else None
        return A.JoinDecl(tuple(c[2]), self.ident(c[5]), block, self.span(c[0], c[-1]))

    def r_name_list(self, c):
        return tuple(self.ident(t) for t in _flat(c) if t.type != "COMMA")

    def r_allow(self, c):
        return A.Allow(self.ident(c[1]), c[2], self.span(c[0], c[-1]))

    # -------------------------------------------------------------- nodes

    def r_node(self, c):
        c = _flat(c)
        return A.Node(self.ident(c[1]), tuple(c[3:-1]), self.span(c[0], c[-1]))

    def r_send_list(self, c):
        c = _flat(c)
        entries = tuple(x for x in c if isinstance(x, A.SendEntry))
        return A.Send(entries, "list", self.span(c[0], c[-1]))

    def r_send_single(self, c):
        return A.Send((c[1],), "single", self.span(c[0], c[-1]))

    def r_sends_list(self, c):
        c = _flat(c)
        entries = tuple(x for x in c if isinstance(x, A.SendEntry))
        return A.Send(entries, "sends", self.span(c[0], c[-1]))

    def r_sends_entry(self, c):
        return c[1]

    def r_sends_mapping(self, c):
        return A.SendEntry(self.ident(c[1]), None, None, self.span(c[0], c[-1]), self.string(c[2]))

    def r_send_entry(self, c):
        payload = next((x for x in c[1:] if isinstance(x, A.ObjectV)), None)
        loop = next((x for x in c[1:] if isinstance(x, A.ForClause)), None)
        return A.SendEntry(self.ident(c[0]), payload, loop, self.span(c[0], c[-1]))

    def r_for_clause(self, c):
        return A.ForClause(self.ident(c[1]), c[3], self.span(c[0], c[-1]))

    def r_join(self, c):
        block = c[2] if len(c) > 2 else None
        return A.JoinRef(self.ident(c[1]), block, self.span(c[0], c[-1]))

    def r_join_block(self, c):
        c = _flat(c)
        policies = [x for x in c if isinstance(x, A.Policy)]
        fields = tuple(x for x in c if isinstance(x, A.Field))
        if len(policies) > 1:
            self.bag.error("E0012", "a join has more than one `policy`", policies[1].span,
                           "second policy", secondary=(Label(policies[0].span, "first policy"),),
                           help="keep one of them")
        return A.JoinBlock(policies[0] if policies else None, fields, self.span(c[0], c[-1]))

    def r_policy(self, c):
        rest = [x for x in c[1:] if not _is(x, "COLON")]
        name = rest[0]
        count = A.Int(0 if self._too_long(rest[1]) else int(rest[1]), self.tspan(rest[1])) if len(rest) > 1 else None
        return A.Policy(self.ident(name), count, self.span(c[0], c[-1]))

    def r_routes(self, c):
        c = _flat(c)
        return A.Routes(tuple(x for x in c if isinstance(x, A.Route)), self.span(c[0], c[-1]))

    def r_route(self, c):
        when = c[4] if len(c) > 4 else None
        return A.Route(self.ident(c[0]), self.ident(c[2]), when, self.span(c[0], c[-1]))

    def r_schema(self, c):
        c = _flat(c)
        return A.OutputSchema(tuple(c[2:-1]), self.span(c[0], c[-1]))

    def r_field(self, c):
        colon = len(c) == 3
        return A.Field(self.ident(c[0]), c[-1], colon, self.span(c[0], c[-1]))

    r_node_field = r_field

    # -------------------------------------------------------------- values

    def r_string(self, c):
        return self.string(c[0])

    r_long_string = r_string

    def _too_long(self, tok: Token) -> bool:
        """Report ``E0024`` for a number literal over :data:`MAX_NUMBER_LENGTH`."""
        if len(tok) <= MAX_NUMBER_LENGTH:
            return False
        self.bag.add(number_length_diagnostic(self.tspan(tok)))
        return True

    def r_int(self, c):
        return A.Int(0 if self._too_long(c[0]) else int(c[0]), self.tspan(c[0]))

    def r_float(self, c):
        return A.Float(0.0 if self._too_long(c[0]) else float(c[0]), self.tspan(c[0]))

    def r_duration(self, c):
        seconds = 0.0 if self._too_long(c[0]) else duration_seconds(str(c[0]))
        return A.Duration(seconds, str(c[0]), self.tspan(c[0]))

    def r_true(self, c):
        return A.Bool(True, self.tspan(c[0]))

    def r_false(self, c):
        return A.Bool(False, self.tspan(c[0]))

    def r_null(self, c):
        return A.Null(self.tspan(c[0]))

    def r_path(self, c):
        c = _flat(c)
        segments: list[A.Attr | A.Index] = []
        i = 1
        while i < len(c):
            tok = c[i]
            if tok.type == "DOT":
                segments.append(A.Attr(str(c[i + 1]), self.tspan(c[i + 1])))
                i += 2
            else:  # LSQB (INT | STRING) RSQB
                key_tok = c[i + 1]
                if key_tok.type == "INT":
                    key: int | str = 0 if self._too_long(key_tok) else int(key_tok)
                else:
                    key = self.string(key_tok).value
                segments.append(A.Index(key, self.tspan(key_tok)))
                i += 3
        return A.Path(self.ident(c[0]), tuple(segments), self.span(c[0], c[-1]))

    def r_list(self, c):
        c = _flat(c)
        return A.ListV(tuple(x for x in c[1:-1] if not isinstance(x, Token)), self.span(c[0], c[-1]))

    def r_object(self, c):
        c = _flat(c)
        return A.ObjectV(tuple(x for x in c if isinstance(x, A.Pair)), self.span(c[0], c[-1]))

    def r_pair(self, c):
        key = c[0]
        key_node: A.Ident | A.Str = self.string(key) if key.type == "STRING" else self.ident(key)
        return A.Pair(key_node, c[-1], len(c) == 3, self.span(c[0], c[-1]))

    def r_pair_allow(self, c):
        """Upstream's ``parent allow ["a", "b"]`` (in ``steering``): the pair
        ``parent: { allow: [...] }``."""
        inner = A.Pair(self.ident(c[1]), c[2], False, self.span(c[1], c[-1]))
        return A.Pair(self.ident(c[0]), A.ObjectV((inner,), self.span(c[1], c[-1])), False,
                      self.span(c[0], c[-1]))

    def r_call(self, c):
        c = _flat(c)
        args = tuple(x for x in c[2:-1] if not isinstance(x, Token))
        return A.Call(self.ident(c[0]), args, self.span(c[0], c[-1]))

    # -------------------------------------------------------------- conditions

    def _boolop(self, op: str, c):
        c = _flat(c)
        if len(c) == 1:
            return c[0]
        operands = tuple(x for x in c if not isinstance(x, Token))
        return A.BoolOp(op, operands, self.span(c[0], c[-1]))

    def r_or_cond(self, c):
        return self._boolop("or", c)

    def r_and_cond(self, c):
        return self._boolop("and", c)

    def r_not_(self, c):
        return A.Not(c[1], self.span(c[0], c[1]))

    def r_compare(self, c):
        return A.Compare(str(c[1]), c[0], c[2], self.span(c[0], c[2]))

    def r_in_(self, c):
        return A.Compare("in", c[0], c[2], self.span(c[0], c[2]))

    def r_not_in(self, c):
        return A.Compare("not_in", c[0], c[3], self.span(c[0], c[3]))

    def r_operand(self, c):
        # `( condition )`: the parentheses only group; the AST has no node for them.
        return c[1] if len(c) == 3 else c[0]
