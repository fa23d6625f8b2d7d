"""llguidance (constrained decoding) loads ``grammar/rag.lark`` and accepts
the canonical examples; the same grammar file serves Lark and llguidance."""

from __future__ import annotations

from pathlib import Path

import pytest

from synkit import GOLDEN, REPO
from ragc.syntax.grammar import llguidance_grammar
from ragc.syntax.spec import EXAMPLE

SOURCES = sorted(GOLDEN.glob("*.rag")) + [REPO / "tests/fixtures/seed_research_review.rag",
                                          REPO / "workflows/research_review.rag"]

llguidance = pytest.importorskip("llguidance", reason="llguidance is not installed in this environment")


class _ByteTokenizer:
    """A tokenizer with one token per byte, so any text can be fed to llguidance."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s):
        return list(s.encode() if isinstance(s, str) else s)


@pytest.fixture(scope="module")
def ll_tokenizer():
    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()))


def _accepts(tokenizer, text: str) -> bool:
    matcher = llguidance.LLMatcher(tokenizer, llguidance.grammar_from("lark", llguidance_grammar()), log_level=0)
    return matcher.consume_tokens(list(text.encode("utf-8"))) and matcher.is_accepting()


def test_llguidance_validates_the_grammar(ll_tokenizer):
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
        llguidance.grammar_from("lark", llguidance_grammar()), ll_tokenizer)
    assert not is_error, messages


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_llguidance_accepts_the_examples(ll_tokenizer, path: Path):
    assert _accepts(ll_tokenizer, path.read_text(encoding="utf-8"))


def test_llguidance_accepts_the_spec_example_and_rejects_broken_text(ll_tokenizer):
    assert _accepts(ll_tokenizer, EXAMPLE)
    assert not _accepts(ll_tokenizer, "graph g {\n  start a b\n}\n")
    assert not _accepts(ll_tokenizer, "graph g {\n  node a {\n")
