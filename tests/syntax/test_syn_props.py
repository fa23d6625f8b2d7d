"""Property tests over generated programs (see ``synkit``) and a fuzz test.

* ``fmt`` is idempotent, keeps the canonical tree and keeps every comment;
* Lark's own parser accepts every generated program (so the generator only
  writes valid programs, and ragc's driver agrees with Lark);
* mutated programs and random bytes never make ``parse`` raise, and ``ragc
  fmt`` answers them with exit code 0, 1 or 2, never an internal error.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragc.cli.main import main
from ragc.diagnostics.model import DiagnosticBag
from ragc.syntax.formatter import format_source
from ragc.syntax.grammar import lalr_parser
from ragc.syntax.lexer import lex
from ragc.syntax.parser import parse
from synkit import canonical_view, comment_texts, program

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


@PROPS
@given(program())
def test_fmt_is_idempotent_and_preserves_tree_and_comments(text):
    lalr_parser().parse(text)  # the generator writes valid programs only
    out = format_source(text).text
    assert out is not None
    assert format_source(out).text == out
    assert canonical_view(out) == canonical_view(text)
    assert comment_texts(out) == comment_texts(text)


def _token_ranges(text: str) -> list[tuple[int, int]]:
    lexed = lex(text, "m.rag", DiagnosticBag())
    return [(t.start_pos, t.end_pos) for t in lexed.tokens + lexed.comments]


@st.composite
def mutated(draw):
    text = draw(program())
    ranges = _token_ranges(text)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert_bytes", "truncate"]))
        if not ranges:
            break
        a, b = ranges[draw(st.integers(0, len(ranges) - 1))]
        if op == "delete":
            text = text[:a] + text[b:]
        elif op == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif op == "swap":
            c, d = ranges[draw(st.integers(0, len(ranges) - 1))]
            if b <= c:
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif op == "insert_bytes":
            junk = draw(st.binary(max_size=6)).decode("utf-8", errors="replace")
            text = text[:a] + junk + text[a:]
        else:
            text = text[:a]
        ranges = _token_ranges(text)
    return text


def _run_fmt(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["fmt", str(path)])
    return code, err.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_programs_never_crash(tmp_path_factory, text):
    result = parse(text, "m.rag")
    assert result.ok or result.diagnostics
    for d in result.diagnostics:
        assert d.span is not None and 1 <= d.span.line and 1 <= d.span.column
    path = tmp_path_factory.mktemp("fuzz") / "m.rag"
    path.write_text(text, encoding="utf-8")
    code, err = _run_fmt(path)
    assert "internal error" not in err and "Traceback" not in err
    assert code in (0, 1, 2)
    if code == 0:  # it parsed: what was written must parse to the same tree
        assert canonical_view(path.read_text(encoding="utf-8")) == canonical_view(text)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(tmp_path_factory, data):
    text = data.decode("utf-8", errors="replace")
    result = parse(text)
    assert result.ok or result.diagnostics
    path = tmp_path_factory.mktemp("bytes") / "b.rag"
    path.write_bytes(data)
    code, err = _run_fmt(path)
    assert "internal error" not in err and "Traceback" not in err
    assert code in (0, 1, 2)


@st.composite
def commented_anywhere(draw):
    """A generated program with end-of-line comments between arbitrary tokens
    (not before a keyword, which at the start of a line would begin an item)."""
    text = draw(program())
    lexed = lex(text, "c.rag", DiagnosticBag())
    keywords = {"GRAPH", "NODE", "CHANNEL", "EDGE", "JOIN", "ALLOW", "INPUT", "OUTPUT", "SEND", "SENDS",
                "ROUTES", "POLICY", "SCHEMA", "FOR", "IN", "WHEN", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
    spots = [t.start_pos for t in lexed.tokens if t.type not in keywords]
    chosen = sorted(set(draw(st.lists(st.sampled_from(spots), max_size=6))) if spots else [], reverse=True)
    for k, at in enumerate(chosen):
        text = text[:at] + f"// c{k}\n" + text[at:] if at == 0 or text[at - 1] == "\n" else \
            text[:at] + f" // c{k}\n" + text[at:]
    return text


@PROPS
@given(commented_anywhere())
def test_comments_between_any_tokens_are_kept(text):
    out = format_source(text).text
    assert out is not None
    assert format_source(out).text == out
    assert canonical_view(out) == canonical_view(text)
    assert comment_texts(out) == comment_texts(text)
