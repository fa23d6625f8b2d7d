"""ragc's lexer gives exactly the tokens Lark's own lexer gives (types,
values and positions), and reports lexical mistakes as diagnostics."""

from __future__ import annotations

from copy import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, LexerState

try:  # Lark 1.3 wraps the text in a TextSlice; 1.2 takes the str (pyproject pins both)
    from lark.lexer import TextSlice
except ImportError:  # pragma: no cover - Lark 1.2
    TextSlice = None

from ragc.diagnostics.model import DiagnosticBag
from ragc.syntax.grammar import lalr_parser
from ragc.syntax.lexer import Placeholder, lex
from synkit import program


def lark_tokens(text: str):
    """Lark's tokens of ``text`` (comments included) up to its first lexical error."""
    conf = copy(lalr_parser().lexer_conf)
    conf.ignore = ("WS",)
    lexer = BasicLexer(conf)
    state = LexerState(TextSlice(text, 0, len(text)) if TextSlice else text)
    out = []
    try:
        while True:
            out.append(lexer.next_token(state))
    except EOFError:
        return out, False
    except UnexpectedCharacters:
        return out, True


def shape(tokens):
    return [(t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos) for t in tokens]


def ragc_tokens(text: str):
    result = lex(text, "t.rag", DiagnosticBag())
    return sorted(result.tokens + result.comments, key=lambda t: t.start_pos)


PIECES = st.sampled_from(["graph", "graphs", "node", "nodes", "x1", "_a", "in", "input", "not", "notes", "true",
                          "{", "}", "[", "]", "(", ")", ",", ":", ".", "->", "-", "=", "==", "<=", "<", "?",
                          "3", "-3", "3.5", "-0.25", "30s", "1.5m", "250ms", "3h", "12x",
                          '"s"', '"a\\"b"', '""', '"""x"""', '"""a\n  b"""', '"""q "" r"""',
                          "// c", "//", " ", "  ", "\n", "\t", "\r\n", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
def test_same_tokens_as_lark_on_token_soup(text):
    expected, failed = lark_tokens(text)
    got = ragc_tokens(text)
    if failed:
        got = [t for t in got if t.start_pos < (expected[-1].end_pos if expected else 0)]
        got = [t for t in got if not isinstance(t, Placeholder)]
        assert shape(got) == shape(expected)[:len(got)]
    else:
        assert shape(got) == shape(expected)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(program())
def test_same_tokens_as_lark_on_programs(text):
    expected, failed = lark_tokens(text)
    assert not failed
    assert shape(ragc_tokens(text)) == shape(expected)


def test_lexical_mistakes_are_diagnostics():
    bag = DiagnosticBag()
    result = lex('graph g { x @@ y "open\n z """never', "t.rag", bag)
    # the lexer also reports the `"never` left after `""` (the parser drops it, see test_syn_parser)
    assert [(d.code, d.span.line, d.span.column) for d in bag] == [("E0003", 1, 13), ("E0005", 1, 18),
                                                                    ("E0005", 2, 6)]
    assert isinstance(result.tokens[-4], Placeholder) and result.tokens[-4] == '"open'
    # a `"""` never closed is lexed as Lark lexes it (`""`, then `"never`), and noted
    assert result.open_triple == len('graph g { x @@ y "open\n z ')
    assert [t.type for t in result.tokens][-3:] == ["NAME", "STRING", "STRING"]


def test_line_starts_and_multiline_positions():
    result = lex('a """x\ny""" b\n  c', "t.rag", DiagnosticBag())
    a, s, b, c = result.tokens
    assert (s.line, s.end_line, s.end_column) == (1, 2, 5)
    assert (b.line, b.column) == (2, 6)
    assert result.line_start == [True, False, False, True]
