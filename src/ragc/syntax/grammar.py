"""Loading ``grammar/rag.lark`` and building the (cached) LALR parser.

The grammar file lives at the repository root (``grammar/rag.lark``, fixed by
the product layout); wheels carry a copy at ``ragc/grammar/rag.lark``. The
parser is built once per process and memoised; Lark's own on-disk cache
(``cache=True``, keyed by grammar text and options) makes later processes
start faster.
"""

from __future__ import annotations

import functools
from pathlib import Path

import lark

_PACKAGED = Path(__file__).resolve().parent.parent / "grammar" / "rag.lark"
_REPOSITORY = Path(__file__).resolve().parents[3] / "grammar" / "rag.lark"


def grammar_path() -> Path:
    """Where the grammar is read from: the packaged copy, else the repository's."""
    for candidate in (_PACKAGED, _REPOSITORY):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"rag.lark not found (looked in {_PACKAGED} and {_REPOSITORY})")


@functools.cache
def grammar_text() -> str:
    """The grammar source, as ``ragc spec --lark`` prints it."""
    return grammar_path().read_text(encoding="utf-8")


@functools.cache
def lalr_parser() -> lark.Lark:
    """The LALR(1) parser with the contextual lexer and positions on."""
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


def llguidance_grammar() -> str:
    """The grammar as llguidance should load it (``LLMatcher.grammar_from_lark``).

    llguidance refuses ignored text (blank lines, comments) before the first
    token unless the grammar enables ``allow_initial_skip``; Lark does not
    know the ``%llguidance`` directive, so it is prepended here rather than
    written in ``rag.lark``.
    """
    return '%llguidance {"allow_initial_skip": true}\n' + grammar_text()


class ParseTables:
    """What the recovering parser needs from Lark, extracted once per process.

    Attributes:
        states: LALR action table, ``{state: {symbol: (action, arg)}}`` where
            ``action`` is :data:`SHIFT` (``arg`` = next state) or a reduce
            (``arg`` = the Lark ``Rule``).
        start_state, end_state: the table's entry and accepting states.
        rules: every grammar rule after Lark's EBNF expansion.
        keywords: terminal names whose pattern is a word (``NODE`` for
            ``"node"``); the contextual lexer turns them into ``NAME`` where
            the keyword is not expected.
        lexer: a Lark ``BasicLexer`` over every terminal that skips only
            whitespace (comments come back as ``COMMENT`` tokens).
    """

    def __init__(self, parser: lark.Lark):
        from copy import copy
        from lark.lexer import BasicLexer, PatternStr
        from lark.parsers.lalr_analysis import Shift

        conf = parser.parse_interactive("").parser_state.parse_conf
        self.states = conf.states
        self.start_state = conf.start_state
        self.end_state = conf.end_state
        self.rules = list(parser.rules)
        self.shift = Shift
        self.keywords = frozenset(
            t.name for t in parser.terminals
            if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
        )
        lexer_conf = copy(parser.lexer_conf)
        lexer_conf.ignore = ("WS",)
        lexer_conf.skip_validation = True  # Lark validated the terminals already
        self.lexer = BasicLexer(lexer_conf)


@functools.cache
def parse_tables() -> ParseTables:
    """The :class:`ParseTables` of :func:`lalr_parser` (memoised)."""
    return ParseTables(lalr_parser())
