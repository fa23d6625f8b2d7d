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
