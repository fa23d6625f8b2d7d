"""The grammar file: Lark strict mode, named terminals, llguidance, and
agreement between ragc's parser driver and Lark's own parser."""

from __future__ import annotations

import re
from pathlib import Path

import lark
import pytest

from synkit import GOLDEN, REPO
from ragc.syntax.builder import rule_methods
from ragc.syntax.errors import describe_terminal
from ragc.syntax.grammar import grammar_text, lalr_parser, parse_tables
from ragc.syntax.parser import parse

SOURCES = sorted(GOLDEN.glob("*.rag")) + [REPO / "tests/fixtures/seed_research_review.rag",
                                          REPO / "workflows/research_review.rag"]


def test_grammar_builds_in_strict_mode():
    parser = lark.Lark(grammar_text(), parser="lalr", lexer="contextual", strict=True)
    assert parser.terminals


def test_no_anonymous_terminals_and_every_terminal_has_wording():
    parser = lalr_parser()
    names = [t.name for t in parser.terminals]
    assert not [n for n in names if n.startswith("__")]
    for n in names:
        words = describe_terminal(n)
        assert "__" not in words and not re.fullmatch(r"[A-Z_]+", words), (n, words)


def test_every_rule_has_an_ast_builder():
    methods = rule_methods(parse_tables().rules)
    assert len(methods) == len(parse_tables().rules)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_lark_and_ragc_accept_the_same_sources(path: Path):
    text = path.read_text(encoding="utf-8")
    lalr_parser().parse(text)  # raises if Lark rejects it
    assert parse(text).ok


def test_long_string_allows_quotes_and_escapes_inside():
    text = 'graph g { node a { prompt """He said "hi" and ""twice"" \\" \\u00e9 ok""" } }'
    lalr_parser().parse(text)
    result = parse(text)
    assert result.ok
    value = result.module.graphs[0].nodes[0].items[0].value
    assert value.value == 'He said "hi" and ""twice"" " é ok'
