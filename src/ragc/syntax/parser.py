"""Source text -> :class:`ragc.syntax.ast.Module`, collecting diagnostics.

Entry point: :func:`parse`. It never raises for bad input: lexical and syntax
problems come back as diagnostics (codes ``E00xx``, see
``docs/diagnostics.md``) together with whatever tree could be built.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import lark
from lark import Token, Transformer, v_args

from ragc.diagnostics.model import Diagnostic, DiagnosticBag, Span
from ragc.syntax import ast as A
from ragc.syntax.grammar import lalr_parser
from ragc.syntax.strings import EscapeError, duration_seconds, string_value


@dataclass
class ParseResult:
    """What :func:`parse` returns.

    ``module`` is ``None`` only when nothing usable could be built; when
    ``diagnostics`` holds errors the module may be partial.
    """

    module: A.Module | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str = ""
    file: str = "<string>"

    @property
    def ok(self) -> bool:
        return self.module is not None and not any(d.is_error for d in self.diagnostics)


def token_span(file: str, tok: Token) -> Span:
    return Span(file, tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)


def meta_span(file: str, meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(file, 0, 0, 1, 1, 1, 1)
    return Span(file, meta.start_pos, meta.end_pos, meta.line, meta.column, meta.end_line, meta.end_column)


def _present(children) -> list:
    """Children without the ``None`` placeholders of ``[...]`` optionals."""
    return [c for c in children if c is not None]


@v_args(meta=True)
class _ToAst(Transformer):
    """Lark tree -> AST. One method per grammar rule (or alias)."""

    def __init__(self, file: str, bag: DiagnosticBag):
        super().__init__()
        self.file = file
        self.bag = bag

    # -- helpers
    def _s(self, meta) -> Span:
        return meta_span(self.file, meta)

    def _ident(self, tok: Token) -> A.Ident:
        return A.Ident(str(tok), token_span(self.file, tok))

    @staticmethod
    def _has_colon(children) -> bool:
        return any(isinstance(c, Token) and c.type == "COLON" for c in children)

    @staticmethod
    def _without_colon(children) -> list:
        return [c for c in children if not (isinstance(c, Token) and c.type == "COLON")]

    # -- module and graphs
    def start(self, meta, children):
        return list(children)

    def graph(self, meta, children):
        _kw, name, *items = children
        return A.Graph(self._ident(name), tuple(items), self._s(meta))

    def schema_block(self, meta, children):
        which, *fields = children
        return A.SchemaBlock(str(which), tuple(fields), self._s(meta))

    def schema_field(self, meta, children):
        colon = self._has_colon(children)
        name, typ, default = self._without_colon(children)
        return A.SchemaField(self._ident(name), typ, default, colon, self._s(meta))

    def type(self, meta, children):
        name, *rest = _present(children)
        optional = bool(rest) and isinstance(rest[-1], Token) and rest[-1].type == "QMARK"
        args = tuple(r for r in rest if isinstance(r, A.TypeRef))
        return A.TypeRef(self._ident(name), args, optional, self._s(meta))

    def channel(self, meta, children):
        _kw, name, reducer, options = children
        return A.Channel(self._ident(name), self._ident(reducer), options, self._s(meta))

    def edge(self, meta, children):
        _kw, src, _arrow, dst = children
        return A.Edge(self._ident(src), self._ident(dst), False, self._s(meta))

    def bare_edge(self, meta, children):
        src, _arrow, dst = children
        return A.Edge(self._ident(src), self._ident(dst), True, self._s(meta))

    def join_decl(self, meta, children):
        _kw, names, _arrow, target, block = children
        return A.JoinDecl(tuple(names), self._ident(target), block, self._s(meta))

    def name_list(self, meta, children):
        return [self._ident(t) for t in children]

    def allow(self, meta, children):
        _kw, what, value = children
        return A.Allow(self._ident(what), value, self._s(meta))

    # -- nodes
    def node(self, meta, children):
        _kw, name, *items = children
        return A.Node(self._ident(name), tuple(items), self._s(meta))

    def send_list(self, meta, children):
        entries = [c for c in children if isinstance(c, A.SendEntry)]
        return A.Send(tuple(entries), "list", self._s(meta))

    def send_single(self, meta, children):
        entries = [c for c in children if isinstance(c, A.SendEntry)]
        return A.Send(tuple(entries), "single", self._s(meta))

    def sends_list(self, meta, children):
        entries = [c for c in children if isinstance(c, A.SendEntry)]
        return A.Send(tuple(entries), "sends", self._s(meta))

    def send_entry(self, meta, children):
        target, payload, loop = children
        return A.SendEntry(self._ident(target), payload, loop, self._s(meta))

    def for_clause(self, meta, children):
        _for, var, _in, source = children
        return A.ForClause(self._ident(var), source, self._s(meta))

    def join(self, meta, children):
        _kw, target, block = children
        return A.JoinRef(self._ident(target), block, self._s(meta))

    def join_block(self, meta, children):
        policy = next((c for c in children if isinstance(c, A.Policy)), None)
        fields = tuple(c for c in children if isinstance(c, A.Field))
        return A.JoinBlock(policy, fields, self._s(meta))

    def policy(self, meta, children):
        _kw, name, count = self._without_colon(children)
        count_node = A.Int(int(count), token_span(self.file, count)) if count is not None else None
        return A.Policy(self._ident(name), count_node, self._s(meta))

    def routes(self, meta, children):
        _kw, *routes = children
        return A.Routes(tuple(routes), self._s(meta))

    def route(self, meta, children):
        label, _arrow, target, _when, when = children
        return A.Route(self._ident(label), self._ident(target), when, self._s(meta))

    def schema(self, meta, children):
        _kw, *fields = children
        return A.OutputSchema(tuple(fields), self._s(meta))

    def field(self, meta, children):
        colon = self._has_colon(children)
        key, value = self._without_colon(children)
        return A.Field(self._ident(key), value, colon, self._s(meta))

    node_field = field

    # -- values
    def _string(self, meta, tok: Token) -> A.Str:
        try:
            value, triple = string_value(str(tok))
        except EscapeError as e:
            start = tok.start_pos + e.offset
            # Escapes never contain a line break, so the column arithmetic
            # is exact when the escape is on the token's first line.
            line, col = tok.line, tok.column + e.offset
            if "\n" in str(tok)[: e.offset]:
                before = str(tok)[: e.offset]
                line = tok.line + before.count("\n")
                col = e.offset - before.rfind("\n")
            span = Span(self.file, start, start + e.length, line, col, line, col + e.length)
            self.bag.error("E0004", str(e), span, "unknown escape",
                           help='escapes are JSON\'s: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX')
            value, triple = str(tok), str(tok).startswith('"""')
        return A.Str(value, triple, token_span(self.file, tok))

    def string(self, meta, children):
        return self._string(meta, children[0])

    long_string = string

    def int(self, meta, children):
        return A.Int(int(children[0]), token_span(self.file, children[0]))

    def float(self, meta, children):
        return A.Float(float(children[0]), token_span(self.file, children[0]))

    def duration(self, meta, children):
        tok = children[0]
        return A.Duration(duration_seconds(str(tok)), str(tok), token_span(self.file, tok))

    def true(self, meta, children):
        return A.Bool(True, token_span(self.file, children[0]))

    def false(self, meta, children):
        return A.Bool(False, token_span(self.file, children[0]))

    def null(self, meta, children):
        return A.Null(token_span(self.file, children[0]))

    def path(self, meta, children):
        root, *segs = children
        segments: list[A.Attr | A.Index] = []
        for tok in segs:
            span = token_span(self.file, tok)
            if tok.type == "INT":
                segments.append(A.Index(int(tok), span))
            elif tok.type == "STRING":
                segments.append(A.Index(self._string(meta, tok).value, span))
            else:
                segments.append(A.Attr(str(tok), span))
        return A.Path(self._ident(root), tuple(segments), self._s(meta))

    def list(self, meta, children):
        return A.ListV(tuple(_present(children)), self._s(meta))

    def object(self, meta, children):
        return A.ObjectV(tuple(children), self._s(meta))

    def pair(self, meta, children):
        colon = self._has_colon(children)
        key, value = self._without_colon(children)
        if key.type == "STRING":
            key_node: A.Ident | A.Str = self._string(meta, key)
        else:
            key_node = self._ident(key)
        return A.Pair(key_node, value, colon, self._s(meta))

    def call(self, meta, children):
        func, *args = children
        return A.Call(self._ident(func), tuple(_present(args)), self._s(meta))

    # -- conditions
    def or_cond(self, meta, children):
        return A.BoolOp("or", tuple(c for c in children if not isinstance(c, Token)), self._s(meta))

    def and_cond(self, meta, children):
        return A.BoolOp("and", tuple(c for c in children if not isinstance(c, Token)), self._s(meta))

    def not_(self, meta, children):
        return A.Not(children[1], self._s(meta))

    def compare(self, meta, children):
        left, op, right = children
        return A.Compare(str(op), left, right, self._s(meta))

    def in_(self, meta, children):
        left, _in, right = children
        return A.Compare("in", left, right, self._s(meta))

    def not_in(self, meta, children):
        left, _not, _in, right = children
        return A.Compare("not_in", left, right, self._s(meta))


def _comment(file: str, text: str, tok: Token) -> A.Comment:
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    own_line = text[line_start:tok.start_pos].strip() == ""
    return A.Comment(str(tok), own_line, token_span(file, tok))


def _whole(file: str, text: str) -> Span:
    lines = text.split("\n")
    return Span(file, 0, len(text), 1, 1, len(lines), len(lines[-1]) + 1)


def parse(text: str, file: str = "<string>") -> ParseResult:
    """Parse one ``.rag`` source.

    Args:
        text: the whole file as a ``str``.
        file: the path to put in spans (as the user gave it).

    Returns:
        A :class:`ParseResult`; never raises for malformed input.
    """
    from ragc.syntax.errors import syntax_error_diagnostic  # local: keeps import cheap

    bag = DiagnosticBag()
    comments: list[Token] = []
    parser = lalr_parser()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the parse allocates many small objects and frees none of them
    try:
        try:
            tree = parser.parse(text)
        except lark.exceptions.UnexpectedInput as e:
            bag.add(syntax_error_diagnostic(e, text, file))
            return ParseResult(None, bag.sorted(), text, file)
        # Lark drops ignored tokens; lex again to collect comments (cheap).
        comments = [t for t in parser.lex(text, dont_ignore=True) if t.type == "COMMENT"]
        graphs = _ToAst(file, bag).transform(tree)
    finally:
        if gc_was_enabled:
            gc.enable()
    module = A.Module(tuple(graphs), tuple(_comment(file, text, t) for t in comments), _whole(file, text))
    return ParseResult(module, bag.sorted(), text, file)
