"""Source text -> :class:`ragc.syntax.ast.Module`, collecting diagnostics.

Entry point: :func:`parse`. It never raises for bad input: lexical and syntax
problems come back as diagnostics (codes ``E00xx``, see
``docs/diagnostics.md``) together with the tree that could be built.

How it works. The source is tokenised up front (:mod:`ragc.syntax.lexer`);
this module then drives Lark's LALR(1) tables itself, one token at a time,
and builds AST nodes straight from the reductions
(:mod:`ragc.syntax.builder`). Keywords are typed the way Lark's contextual
lexer types them (a keyword the parser does not expect where it stands is a
name), so every valid program parses exactly as ``Lark.parse`` would parse
it. Owning the loop gives precise "expected ..." sets (each candidate
terminal is tried on a simulated copy of the state stack, not read off
LALR's merged lookaheads) and error recovery:

1. *targeted explanations* for the common mistakes: a channel without a
   reducer (``E0008``), a key without a value (``E0011``), ``node x {`` or
   ``graph g {`` opened inside another block (``E0006``, the missing ``}`` is
   supplied), something after a graph's closing brace (``E0009``; when that
   ``}`` is indented like an inner block it is taken as extra and the file
   is parsed again without it);
2. *one-token repairs*, accepted only when the rest of the line (and the
   first token of the next one) then parses: insert a missing ``,``
   (``E0010``), a closing ``]``/``)`` before a new line (``E0006``), a
   missing ``->`` or a block header's ``{`` (``E0001``), replace a
   mismatched closing delimiter (``E0007``), or drop one unexpected token
   (``E0001``);
3. otherwise *panic mode*: finish or drop the broken item, go back to the
   innermost block (``{ ... }`` of a graph, node, object or settings block)
   and skip tokens to the next item that starts on a new line (or follows a
   comma), or to that block's ``}``. Errors on the same line after a panic
   are consequences and are not reported.

One rule looks at line breaks: a keyword that starts items (``node``,
``channel``, ``edge``...) first on its line, where the parser needs a name,
is taken as the start of the next item rather than as the missing name
(``channel x`` + newline + ``node y {`` is ``E0008``, not a channel whose
reducer is called ``node``). Only files that put such a name alone at the
start of a line parse differently from Lark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token

from ragc.diagnostics.model import Applicability, Diagnostic, DiagnosticBag, Label, Severity, Span, Suggestion
from ragc.gc_pause import paused_collector
from ragc.syntax import ast as A
from ragc.syntax.builder import AstBuilder, Seq, rule_methods
from ragc.syntax.errors import describe_expected, describe_found
from ragc.syntax.grammar import ParseTables, parse_tables
from ragc.syntax.lexer import CLOSERS, OPENERS, LexResult, lex
from ragc.syntax.lexer import token_span as _lexer_token_span
from ragc.syntax.limits import count_diagnostics, source_size_diagnostic


@dataclass
class ParseResult:
    """What :func:`parse` returns.

    ``module`` is ``None`` only when nothing usable could be built (a limit
    on size or nesting was exceeded); when ``diagnostics`` holds errors the
    module may be partial.
    """

    module: A.Module | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str = ""
    file: str = "<string>"

    @property
    def ok(self) -> bool:
        return self.module is not None and not any(d.is_error for d in self.diagnostics)


def token_span(file: str, tok: Token) -> Span:
    """The :class:`Span` of a Lark token (kept here for existing importers)."""
    return _lexer_token_span(file, tok)


# Tokens that, first on their line, start a block item that can never sit
# where the parser is: `node x {` inside a node, `graph g {` inside a graph.
_BLOCK_STARTERS = ("NODE", "GRAPH")
# Keywords that start items; one of them first on a line where the parser
# needs a name means the name is missing (`channel x` + newline + `node ...`).
_ITEM_KEYWORDS = frozenset({"GRAPH", "NODE", "CHANNEL", "EDGE", "JOIN", "ALLOW", "INPUT", "OUTPUT",
                            "SEND", "SENDS", "ROUTES", "POLICY", "SCHEMA"})
_VALUE_START = frozenset({"STRING", "LONG_STRING", "INT", "FLOAT", "DURATION", "TRUE", "FALSE", "NULL",
                          "LSQB", "LBRACE", "NAME"})
_MACHINE = Applicability.MACHINE_APPLICABLE
_MAYBE = Applicability.MAYBE_INCORRECT
_LOOKAHEAD = 3  # fewest tokens a repair must let through
_MAX_RESTARTS = 8
MAX_SYNTAX_ERRORS = 1000
"""After this many syntax errors in one file the parser stops (the file is
rarely a .rag file at all); the tree built so far is kept."""


class _GiveUp(Exception):
    """Too many syntax errors: stop and keep what was parsed."""


class _Restart(Exception):
    """Parse again without the token at ``index`` (a `}` that closed a graph early)."""

    def __init__(self, index: int):
        self.index = index


class _Driver:
    """One LALR parse of a token list with error recovery."""

    def __init__(self, tables: ParseTables, lexed: LexResult, text: str, file: str, bag: DiagnosticBag,
                 methods: dict, skip: frozenset[int]):
        self.t = tables
        self.states = tables.states
        self.shift = tables.shift
        self.keywords = tables.keywords
        self.text = text
        self.file = file
        self.bag = bag
        self.lexed = lexed
        self.skip = skip
        keep = [i for i in range(len(lexed.tokens)) if i not in skip]
        self.index_map = keep  # position in self.toks -> index in lexed.tokens
        self.toks = [lexed.tokens[i] for i in keep]
        self.first = [lexed.line_start[i] for i in keep]
        self.builder = AstBuilder(file, bag)
        self.cb = {rule: getattr(self.builder, name) for rule, name in methods.items()}
        self.quiet_line = -1  # errors on this line are consequences of a panic
        self._brackets: dict[int, int | None] | None = None
        self.restarts_left = True  # may ask for a parse without a misplaced `}`
        self.reported = 0

    # ------------------------------------------------------------------ simulation

    def _retype(self, ty: str, state) -> str:
        """The type Lark's contextual lexer gives a token of root type ``ty``."""
        if ty in self.keywords:
            acts = self.states[state]
            if ty not in acts and "NAME" in acts:
                return "NAME"
        return ty

    def _sim_one(self, st: list, ty: str) -> bool:
        """Feed one terminal to the state-id stack ``st`` (mutated); False if rejected."""
        states = self.states
        end_state = self.t.end_state
        while True:
            a = states[st[-1]].get(ty)
            if a is None:
                return False
            if a[0] is self.shift:
                st.append(a[1])
                return True
            rule = a[1]
            size = len(rule.expansion)
            if size:
                del st[-size:]
            st.append(states[st[-1]][rule.origin.name][1])
            if ty == "$END" and st[-1] == end_state:
                return True

    def _sim(self, stack: list, types: list[str], tokens: list[Token] = (), eof: bool = False) -> bool:
        """Would the parser accept ``types`` (already typed) then ``tokens``
        (typed contextually) then, if ``eof``, the end of the file?"""
        st = list(stack)
        for ty in types:
            if not self._sim_one(st, ty):
                return False
        for tok in tokens:
            if not self._sim_one(st, self._retype(tok.type, st[-1])):
                return False
        return self._sim_one(st, "$END") if eof else True

    def accepts(self, stack: list) -> set[str]:
        """The exact set of terminals the parser can take next."""
        return {ty for ty in self.states[stack[-1]] if ty.isupper() and self._sim(stack, [ty])}

    def _lookahead_ok(self, stack: list, inserted: list[str], j: int) -> bool:
        """After feeding ``inserted``, do the next tokens parse: the rest of
        token ``j``'s line and the first token of the next line (at least
        :data:`_LOOKAHEAD` tokens)?"""
        toks = self.toks
        n = len(toks)
        end = j
        if j < n:
            line = toks[j].line
            while end < n and toks[end].line == line and end - j < 64:
                end += 1
        end = max(end + 1, j + _LOOKAHEAD)
        window = toks[j:end]
        return self._sim(stack, inserted, window, eof=end >= n)

    # ------------------------------------------------------------------ feeding

    def _feed(self, stack: list, values: list, tok: Token) -> bool:
        """Feed one typed token; returns False (state untouched) if rejected.

        LALR may reduce on a lookahead it later rejects (merged states), so
        the stacks are saved before the first reduction and put back on
        failure. Reductions have no side effects but building nodes and
        adding diagnostics, which the bag de-duplicates.
        """
        states = self.states
        ty = tok.type
        a = states[stack[-1]].get(ty)
        if a is None:
            return False
        shift = self.shift
        if a[0] is shift:
            stack.append(a[1])
            values.append(tok)
            return True
        saved_stack = stack[:]
        saved_values = values[:]
        end_state = self.t.end_state
        cb = self.cb
        while True:
            if a[0] is shift:
                stack.append(a[1])
                values.append(tok)
                return True
            rule = a[1]
            size = len(rule.expansion)
            if size:
                children = values[-size:]
                del stack[-size:]
                del values[-size:]
            else:
                children = []
            values.append(cb[rule](children))
            stack.append(states[stack[-1]][rule.origin.name][1])
            if ty == "$END" and stack[-1] == end_state:
                return True
            a = states[stack[-1]].get(ty)
            if a is None:
                stack[:] = saved_stack
                values[:] = saved_values
                return False

    def _typed(self, tok: Token, ty: str) -> Token:
        return tok if tok.type == ty else Token.new_borrow_pos(ty, str(tok), tok)

    def _synthetic(self, ty: str, at: int) -> Token:
        """A zero-width token of type ``ty`` at offset ``at`` (for repairs)."""
        line, col = self._linecol(at)
        value = {"RBRACE": "}", "RSQB": "]", "RPAR": ")", "COMMA": ",", "ARROW": "->"}.get(ty, "")
        return Token(ty, value, at, line, col, line, col, at)

    # ------------------------------------------------------------------ positions

    def _linecol(self, offset: int) -> tuple[int, int]:
        text = self.text
        line = text.count("\n", 0, offset) + 1
        return line, offset - (text.rfind("\n", 0, offset) + 1) + 1

    def _point(self, offset: int) -> Span:
        line, col = self._linecol(offset)
        return Span.point(self.file, offset, line, col)

    def _span(self, tok: Token) -> Span:
        return _lexer_token_span(self.file, tok)

    def _eof_span(self) -> Span:
        return self._point(len(self.text))

    def _after(self, j: int) -> Span:
        """A point just after token ``j - 1`` (where something is missing)."""
        if j <= 0:
            return self._point(0)
        prev = self.toks[j - 1]
        return Span.point(self.file, prev.end_pos, prev.end_line, prev.end_column)

    def _indent(self, offset: int) -> int:
        start = self.text.rfind("\n", 0, offset) + 1
        i = start
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        return i - start

    # ------------------------------------------------------------------ reporting

    def _report(self, diag: Diagnostic, line: int) -> None:
        if line != self.quiet_line:
            self.bag.add(diag)
            self.reported += 1
            if self.reported >= MAX_SYNTAX_ERRORS:
                raise _GiveUp()

    def _error(self, code: str, message: str, span: Span, label: str, line: int, **kw) -> None:
        self._report(Diagnostic(code, Severity.ERROR, message, Label(span, label), **kw), line)

    # ------------------------------------------------------------------ main loop

    def run(self) -> list[A.Graph]:
        """Parse every token; returns the graphs built (possibly partial)."""
        stack = [self.t.start_state]
        values: list = []
        try:
            return self._run(stack, values)
        except _GiveUp:
            self.bag.add(Diagnostic(
                "E0001", Severity.ERROR, f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}",
                Label(self._eof_span(), "not read past the last error"),
                help="is this a .rag file?"))
            return [v for v in values if isinstance(v, A.Graph)] + [
                g for v in values if isinstance(v, Seq) for g in v.items() if isinstance(g, A.Graph)]

    def _run(self, stack: list, values: list) -> list[A.Graph]:
        toks = self.toks
        n = len(toks)
        states = self.states
        keywords = self.keywords
        feed = self._feed
        i = 0
        last_i, stuck = -1, 0
        while i < n:
            # Every recovery step makes progress; this guard only makes sure a
            # bug in one can never hang a parse.
            if i == last_i:
                stuck += 1
                if stuck > 20:
                    i += 1
                    continue
            else:
                last_i, stuck = i, 0
            tok = toks[i]
            ty = tok.type
            if ty in keywords:
                acts = states[stack[-1]]
                if self.first[i] and ty in _BLOCK_STARTERS and self._unclosed_block(stack, values, i):
                    continue
                if ty not in acts and "NAME" in acts:
                    if self.first[i] and ty in _ITEM_KEYWORDS and self.accepts(stack) == {"NAME"}:
                        i = self._recover(stack, values, i)  # the name before this keyword is missing
                        continue
                    tok = Token.new_borrow_pos("NAME", str(tok), tok)
            if feed(stack, values, tok):
                i += 1
            else:
                i = self._recover(stack, values, i)
        return self._finish(stack, values)

    # ------------------------------------------------------------------ recovery

    def _recover(self, stack: list, values: list, i: int) -> int:
        """Report the error at token ``i`` and get the parser going again;
        returns the index of the next token to feed."""
        tok = self.toks[i]
        expected = self.accepts(stack)
        line = tok.line
        ty = tok.type

        special = self._explain(stack, values, i, expected)
        if special is not None:
            self._report(special, line)
            return self._panic(stack, values, i)

        # A closing delimiter of the wrong kind: `[a, b}`.
        if ty in CLOSERS:
            wanted = [c for c in ("RSQB", "RPAR", "RBRACE") if c in expected and c != ty]
            if len(wanted) == 1 and self._lookahead_ok(stack, [wanted[0]], i + 1):
                opener = self._open_token(values, CLOSERS[wanted[0]])
                sec = (Label(self._span(opener), "unclosed delimiter"),) if opener is not None else ()
                want = {"RSQB": "]", "RPAR": ")", "RBRACE": "}"}[wanted[0]]
                self._error("E0007", f"mismatched closing delimiter `{tok}`", self._span(tok),
                            f"expected `{want}`", line, secondary=sec,
                            suggestions=(Suggestion(f"write `{want}`", self._span(tok), want),))
                self._feed(stack, values, self._typed(tok, wanted[0]))
                return i + 1

        # One missing token.
        # A closing bracket is missing only before a new line; a comma mid-line
        # needs only the next element to fit (the next gap may lack one too).
        order = ("RSQB", "RPAR", "COMMA", "ARROW", "LBRACE") if self.first[i] else ("COMMA", "ARROW", "LBRACE")
        nxt = self.toks[i + 1] if i + 1 < len(self.toks) else None
        stutter = nxt is not None and i > 0 and str(self.toks[i - 1]) == str(tok) and self.toks[i - 1].line == line
        if stutter and self._lookahead_ok(stack, [], i + 1):
            order = ()  # `node a a {`: the repeated word is the mistake
        for ins in order:
            if ins not in expected:
                continue
            if nxt is not None and nxt.type == ins and nxt.line == line:
                continue  # the token is there, one too many stands before it
            if ins == "LBRACE" and expected != {"LBRACE"}:
                continue  # only a block header (`node a`, `graph g`) misses its `{` this way
            if ins == "COMMA" and not self.first[i]:
                if not self._sim(stack, ["COMMA"], [tok]):
                    continue
            elif not self._lookahead_ok(stack, [ins], i):
                continue
            at = self._after(i)
            if ins == "COMMA":
                self._error("E0010", "missing `,` between elements", at, "expected `,` here", line,
                            suggestions=(Suggestion("add `,`", at, ",", _MACHINE),))
            elif ins == "LBRACE":
                self._error("E0001", f"expected `{{`, found {describe_found(tok)}", at, "expected `{` here", line,
                            suggestions=(Suggestion("add `{`", at, " {", _MAYBE),))
            elif ins == "ARROW":
                self._error("E0001", f"expected `->`, found {describe_found(tok)}", self._span(tok),
                            "expected `->` before this", line,
                            suggestions=(Suggestion("add `->`", Span.point(self.file, tok.start_pos, tok.line,
                                                                           tok.column), "-> "),))
            else:
                opener = self._open_token(values, CLOSERS[ins])
                close = "]" if ins == "RSQB" else ")"
                sec = (Label(self._span(opener), "unclosed delimiter"),) if opener is not None else ()
                self._error("E0006", f"unclosed `{'[' if ins == 'RSQB' else '('}`", at,
                            f"expected `{close}` here", line, secondary=sec,
                            suggestions=(Suggestion(f"add `{close}`", at, close, _MACHINE),))
            self._feed(stack, values, self._synthetic(ins, at.offset))
            return i

        # One token too many (never a bracket that opens or alone closes a line's block).
        if (ty not in OPENERS or stutter) and not (ty in CLOSERS and self.first[i]) \
                and self._lookahead_ok(stack, [], i + 1):
            self._error("E0001", f"expected {describe_expected(expected)}, found {describe_found(tok)}",
                        self._span(tok), "unexpected here", line,
                        suggestions=(Suggestion("remove it", self._span(tok), "", _MAYBE),))
            return i + 1

        reserved = ty in ("AND", "OR", "IN", "NOT") and "NAME" in expected
        self._error("E0001", f"expected {describe_expected(expected)}, found {describe_found(tok)}",
                    self._span(tok), "unexpected here", line,
                    help=f"`{tok}` continues a condition after a value, so it cannot start an item here; "
                         f"rename the key" if reserved else None)
        return self._panic(stack, values, i)

    def _explain(self, stack: list, values: list, i: int, expected: set[str]) -> Diagnostic | None:
        """A tailored diagnostic for a well-known mistake at token ``i``, or None."""
        tok = self.toks[i] if i < len(self.toks) else None
        found = describe_found(tok) if tok is not None else "end of file"
        top = values[-1] if values else None
        below = values[-2] if len(values) > 1 else None

        # `channel x` with no reducer.
        if (isinstance(top, Token) and top.type == "NAME" and isinstance(below, Token)
                and below.type == "CHANNEL" and expected == {"NAME"}):
            span = Span(self.file, below.start_pos, top.end_pos, below.line, below.column,
                        top.end_line, top.end_column)
            at = Span.point(self.file, top.end_pos, top.end_line, top.end_column)
            return Diagnostic(
                "E0008", Severity.ERROR, f"channel `{top}` needs a reducer", Label(span, "no reducer given"),
                help=f"e.g. `channel {top} last`; reducers: last, append, messages, merge, sum, union, min, max",
                suggestions=(Suggestion("add a reducer", at, " last", _MAYBE),))

        # `key` (or `key:`) with nothing after it.
        key = below if isinstance(top, Token) and top.type == "COLON" else top
        if (isinstance(key, Token) and (key.type == "NAME" or key.type in self.keywords)
                and {"STRING", "LSQB", "LBRACE"} <= expected <= (_VALUE_START | {"COLON"})
                and (tok is None or self.first[i] or tok.type in CLOSERS)):
            earlier = self._value_taken_from_next_line(values, key)
            if earlier is not None:
                key = earlier
            return Diagnostic(
                "E0011", Severity.ERROR, f"`{key}` needs a value",
                Label(self._span(key), "expected a value after this"),
                notes=(f"found {found} instead",),
                help=f"write `{key} VALUE`, e.g. `kind agent` or `timeout 30s`")

        # Something after a graph's closing brace.
        if tok is not None and "GRAPH" in expected and "RBRACE" not in expected and tok.type != "GRAPH":
            self._reduce_for(stack, values, "GRAPH")  # finish the graph just closed, if any
            last_graph = self._last_graph(values)
            if last_graph is not None:
                close = self._closing_brace_before(i) if tok.type != "RBRACE" and self.first[i] else None
                if close is not None and close not in self.skip and self.restarts_left:
                    raise _Restart(close)
                return Diagnostic(
                    "E0009", Severity.ERROR, f"{found} after the end of graph `{last_graph.name.name}`",
                    Label(self._span(tok), "outside of any graph"),
                    secondary=(Label(Span(self.file, last_graph.span.end_offset - 1, last_graph.span.end_offset,
                                          last_graph.span.end_line, last_graph.span.end_column - 1,
                                          last_graph.span.end_line, last_graph.span.end_column),
                                     f"graph `{last_graph.name.name}` ends here"),),
                    help="move the item into a graph, or remove the `}` that closes the graph too early")
            return Diagnostic(
                "E0001", Severity.ERROR, f"expected `graph`, found {found}", Label(self._span(tok), "expected `graph`"),
                help="a file holds graphs: `graph NAME { ... }`")
        return None

    def _value_taken_from_next_line(self, values: list, key: Token) -> Token | None:
        """For ``timeout:`` + newline + ``kind model``: the parser took ``kind``
        as the value of ``timeout`` and then found ``model`` without a value.
        Returns the key whose value is really missing (``timeout``), else None."""
        k = len(values) - 1
        while k >= 0 and values[k] is not key:
            k -= 1
        if k <= 0:
            return None
        prev = values[k - 1]
        while isinstance(prev, Seq):
            prev = prev.last()
        if not isinstance(prev, (A.Field, A.Pair)) or not isinstance(prev.value, A.Path) or prev.value.segments:
            return None
        v = prev.value.span
        if v.line == key.line and v.line > prev.span.line and v.end_offset <= key.start_pos:
            k_span = prev.key.span
            return Token("NAME", prev.key_name if isinstance(prev, A.Pair) else prev.key.name, k_span.offset,
                         k_span.line, k_span.column, k_span.end_line, k_span.end_column, k_span.end_offset)
        return None

    def _last_graph(self, values: list) -> A.Graph | None:
        if not values:
            return None
        top = values[-1]
        if isinstance(top, A.Graph):
            return top
        if isinstance(top, Seq) and isinstance(top.last(), A.Graph):
            return top.last()
        if isinstance(top, list) and top and isinstance(top[-1], A.Graph):
            return top[-1]
        return None

    def _closing_brace_before(self, i: int) -> int | None:
        """Index (in the lexed tokens) of the last `}` before token ``i``, when
        it looks misplaced: indented deeper than its graph's `graph` line."""
        j = i - 1
        while j >= 0 and self.toks[j].type != "RBRACE":
            j -= 1
        if j < 0:
            return None
        brace = self.toks[j]
        opener = self._matching_opener(j)
        if opener is not None and self._indent(brace.start_pos) == self._indent(self.toks[opener].start_pos) \
                and self.first[j]:
            # Indented like its graph: it looks like the graph's own end.
            return None
        return self.index_map[j]

    def _unclosed_block(self, stack: list, values: list, i: int) -> bool:
        """``node x {`` / ``graph g {`` first on a line where it cannot start an
        item: the block around it lacks its ``}``. Reports ``E0006``, closes
        blocks until the item fits and returns True; False when it fits."""
        toks = self.toks
        if i + 2 >= len(toks) or toks[i + 1].type != "NAME" or toks[i + 2].type != "LBRACE":
            return False
        if self._sim(stack, [], toks[i:i + 3]):
            return False
        tok = toks[i]
        inserted = 0
        while not self._sim(stack, [], toks[i:i + 3]) and inserted < 64:
            if "RBRACE" not in self.accepts(stack):
                self._panic_to_boundary(stack, values)
                if "RBRACE" not in self.accepts(stack):
                    return False
            if inserted == 0:
                self._report_unclosed(values, i, Span(self.file, tok.start_pos, tok.end_pos, tok.line, tok.column,
                                                      tok.end_line, tok.end_column),
                                      f"expected `}}` before this {str(tok)}")
            if not self._feed(stack, values, self._synthetic("RBRACE", self.toks[i - 1].end_pos if i else 0)):
                break
            inserted += 1
        return inserted > 0

    def _report_unclosed(self, values: list, i: int, primary: Span, label: str) -> None:
        """``E0006`` for a missing ``}`` noticed at token ``i`` (or at the end)."""
        innermost = self._open_token(values, "LBRACE")
        culprit = self._culprit(innermost, i)
        sec = ()
        what = "block"
        if culprit is not None:
            what = self._block_name(culprit)
            sec = (Label(self._span(self.toks[culprit]), f"this `{{` of {what} is never closed"),)
        line = primary.line
        self._error("E0006", "unclosed `{`", primary, label, line, secondary=sec,
                    help=f"add `}}` at the end of {what}")

    def _open_token(self, values: list, ty: str) -> Token | None:
        """The innermost still-open delimiter of type ``ty`` on the value stack
        (tokens there belong to rules not reduced yet)."""
        close = OPENERS[ty]
        depth = 0
        for v in reversed(values):
            if isinstance(v, Token):
                if v.type == close:
                    depth += 1
                elif v.type == ty:
                    if depth:
                        depth -= 1
                    else:
                        return v
        return None

    def _index_of(self, tok: Token) -> int | None:
        # Tokens are unique objects; find by position (binary search on start_pos).
        toks = self.toks
        lo, hi = 0, len(toks)
        while lo < hi:
            mid = (lo + hi) // 2
            if toks[mid].start_pos < tok.start_pos:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(toks) and toks[lo].start_pos == tok.start_pos else None

    def _bracket_pairs(self) -> dict[int, int | None]:
        """opener index -> matching closer index (None if never closed)."""
        if self._brackets is None:
            pairs: dict[int, int | None] = {}
            open_stack: list[int] = []
            for j, tok in enumerate(self.toks):
                if tok.type in OPENERS:
                    open_stack.append(j)
                    pairs[j] = None
                elif tok.type in CLOSERS and open_stack:
                    pairs[open_stack.pop()] = j
            self._brackets = pairs
        return self._brackets

    def _matching_opener(self, closer: int) -> int | None:
        for o, c in self._bracket_pairs().items():
            if c == closer:
                return o
        return None

    def _culprit(self, innermost: Token | None, upto: int) -> int | None:
        """Which ``{`` most likely lacks its ``}``: the last brace from the
        innermost open one up to token ``upto`` whose ``}`` is missing or
        indented unlike its opening line; else the innermost open one."""
        if innermost is None:
            return None
        start = self._index_of(innermost)
        if start is None:
            return None
        pairs = self._bracket_pairs()
        best = None
        for j in range(start, min(upto, len(self.toks))):
            if self.toks[j].type != "LBRACE":
                continue
            closer = pairs.get(j)
            if closer is None:
                best = j
                continue
            if closer >= upto and j != start:
                continue
            if self.first[closer] and self._indent(self.toks[closer].start_pos) != self._indent(
                    self.toks[j].start_pos) and self.toks[closer].line != self.toks[j].line:
                best = j
        return best if best is not None else start

    def _block_name(self, j: int) -> str:
        """How to name the block opened by the ``{`` at token ``j``."""
        toks = self.toks
        if j >= 2 and toks[j - 2].type in ("NODE", "GRAPH") and toks[j - 1].type == "NAME":
            return f"{toks[j - 2]} `{toks[j - 1]}`"
        if j >= 1 and toks[j - 1].type not in ("LBRACE", "LSQB", "COMMA", "COLON", "LPAR"):
            return f"`{toks[j - 1]}`"
        return "this block"

    def _is_boundary(self, state) -> bool:
        """Between two items of a block (or of the file)."""
        acts = self.states[state]
        a = acts.get("RBRACE")
        if a is not None and a[0] is self.shift:
            return True
        g = acts.get("GRAPH")
        return g is not None and g[0] is self.shift and "RBRACE" not in acts

    def _reduce_for(self, stack: list, values: list, ty: str) -> None:
        """Do the reductions a lookahead of ``ty`` triggers, without shifting it."""
        states = self.states
        while True:
            a = states[stack[-1]][ty]
            if a[0] is self.shift:
                return
            rule = a[1]
            size = len(rule.expansion)
            children = values[-size:] if size else []
            if size:
                del stack[-size:]
                del values[-size:]
            values.append(self.cb[rule](children))
            stack.append(states[stack[-1]][rule.origin.name][1])

    def _panic_to_boundary(self, stack: list, values: list) -> None:
        """Get to a state between two items of the innermost block: finish
        the current item if it is complete, else drop it."""
        for ty in ("RBRACE", "GRAPH"):
            if self._sim(stack, [ty]):
                self._reduce_for(stack, values, ty)
                return
        d = len(stack)
        while d > 1 and not self._is_boundary(stack[d - 1]):
            d -= 1
        del stack[d:]
        del values[d - 1:]

    def _panic(self, stack: list, values: list, i: int) -> int:
        """Drop the broken item and skip to where the parse can resume."""
        self.quiet_line = self.toks[i].line if i < len(self.toks) else -1
        self._panic_to_boundary(stack, values)
        toks = self.toks
        n = len(toks)
        at_file_level = "RBRACE" not in self.states[stack[-1]]
        depth = 0
        after_comma = False
        j = i
        while j < n:
            u = toks[j]
            ty = u.type
            if depth == 0:
                if ty == "RBRACE" and not at_file_level:
                    return j
                if (self.first[j] or after_comma) and ty not in CLOSERS and \
                        self._sim(stack, [], [u]) and (j > i or self.first[j]):
                    return j
            if ty in OPENERS:
                depth += 1
            elif ty in CLOSERS and depth:
                depth -= 1
            after_comma = depth == 0 and ty == "COMMA"
            j += 1
        return n

    def _finish(self, stack: list, values: list) -> list[A.Graph]:
        """Feed the end of the file, closing what is still open."""
        eof = self._synthetic("$END", len(self.text))
        if self._feed(stack, values, eof):
            return values[-1]
        expected = self.accepts(stack)
        special = self._explain(stack, values, len(self.toks), expected)
        if special is not None:
            self.bag.add(special)
        elif "RBRACE" in expected:
            self._report_unclosed(values, len(self.toks), self._eof_span(), "the file ends here")
        else:
            opener = self._open_token(values, "LBRACE")
            sec = ()
            if opener is not None:
                j = self._index_of(opener)
                sec = (Label(self._span(opener), f"the `{{` of {self._block_name(j)} is still open"),) \
                    if j is not None else ()
            self.bag.add(Diagnostic("E0002", Severity.ERROR,
                                    f"expected {describe_expected(expected)}, found end of file",
                                    Label(self._eof_span(), "the file ends here"), secondary=sec))
        # Close everything silently to keep the items parsed so far.
        for _ in range(4 * len(stack) + 16):
            if self._feed(stack, values, eof):
                return values[-1]
            acc = self.accepts(stack)
            closer = next((c for c in ("RSQB", "RPAR", "RBRACE") if c in acc), None)
            if closer is not None:
                self._feed(stack, values, self._synthetic(closer, len(self.text)))
            else:
                self._panic_to_boundary(stack, values)
        return []


def _comment(file: str, text: str, tok: Token) -> A.Comment:
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    own_line = text[line_start:tok.start_pos].strip().strip("\ufeff") == ""  # after a byte-order mark too
    return A.Comment(str(tok), own_line, _lexer_token_span(file, tok))


def _whole(file: str, text: str) -> Span:
    lines = text.split("\n")
    return Span(file, 0, len(text), 1, 1, len(lines), len(lines[-1]) + 1)


_METHODS: dict | None = None


def _methods(tables: ParseTables) -> dict:
    global _METHODS
    if _METHODS is None:
        _METHODS = rule_methods(tables.rules)
    return _METHODS


def parse(text: str, file: str = "<string>") -> ParseResult:
    """Parse one ``.rag`` source.

    Args:
        text: the whole file as a ``str``.
        file: the path to put in spans (as the user gave it).

    Returns:
        A :class:`ParseResult` with the module (``None`` only past the size
        or nesting limit) and every diagnostic, sorted by position. Never
        raises for any input.
    """
    too_big = source_size_diagnostic(text, file)
    if too_big is not None:
        return ParseResult(None, [too_big], text, file)
    with paused_collector():  # the parse allocates many small objects and frees none of them
        return _parse(text, file)


def _parse(text: str, file: str) -> ParseResult:
    tables = parse_tables()
    methods = _methods(tables)
    skip: frozenset[int] = frozenset()
    lex_bag = DiagnosticBag()
    lexed = lex(text, file, lex_bag)
    if lexed.too_deep:
        return ParseResult(None, lex_bag.sorted(), text, file)
    for attempt in range(_MAX_RESTARTS + 1):
        bag = DiagnosticBag()
        bag.extend(lex_bag.items)
        driver = _Driver(tables, lexed, text, file, bag, methods, skip)
        driver.restarts_left = attempt < _MAX_RESTARTS
        try:
            graphs = driver.run()
        except _Restart as r:
            skip = skip | {r.index}
            continue
        break
    if lexed.open_triple is not None and any(d.is_error and d.span is not None and d.span.offset >= lexed.open_triple
                                             for d in bag.items):
        # Everything after a `"""` that never closes is noise: report the cause only.
        at = lexed.open_triple
        kept = [d for d in bag.items if not (d.span is not None and d.span.offset >= at)]
        bag = DiagnosticBag()
        bag.extend(kept)
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        bag.error("E0005", "unterminated triple-quoted string", Span(file, at, at + 3, line, col, line, col + 3),
                  "this `\"\"\"` is never closed", help='close the string with `"""`; write `\\"` for a quote inside it')
    for index in sorted(skip):
        brace = lexed.tokens[index]
        bag.add(Diagnostic("E0009", Severity.ERROR, "unexpected closing `}`",
                           Label(_lexer_token_span(file, brace), "this `}` closes the graph too early"),
                           help="remove it; the items after it belong to the graph",
                           suggestions=(Suggestion("remove the `}`", _lexer_token_span(file, brace), "", _MAYBE),)))
    module = A.Module(tuple(graphs), tuple(_comment(file, text, t) for t in lexed.comments), _whole(file, text))
    bag.extend(count_diagnostics(module))
    return ParseResult(module, bag.sorted(), text, file)
