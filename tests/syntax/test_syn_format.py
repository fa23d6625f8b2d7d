"""The formatter: golden files, the canonical examples, the seed workflow,
and the layout rules one by one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragc.syntax.ast import strip_spans
from ragc.syntax.canon import canonicalize
from ragc.syntax.formatter import WIDTH, format_source, quote
from ragc.syntax.parser import parse
from ragc.syntax.spec import EXAMPLE
from ragc.syntax.strings import string_value
from synkit import GOLDEN, REPO, SHARED_EXAMPLES, canonical_view, comment_texts

EXAMPLES = sorted(GOLDEN.glob("*.rag"))
PAIRS = sorted(p for p in (GOLDEN / "fmt").glob("*.in.rag"))


def fmt(text: str) -> str:
    result = format_source(text, "t.rag")
    assert result.text is not None, [(d.code, d.message) for d in result.diagnostics]
    return result.text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_canonical_examples_format_to_themselves(path: Path):
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text


def test_golden_examples_are_the_shared_ones():
    if not SHARED_EXAMPLES.is_dir():
        pytest.skip(f"{SHARED_EXAMPLES} is not present on this machine")
    shared = sorted(SHARED_EXAMPLES.glob("*.rag"))
    assert [p.name for p in shared] == [p.name for p in EXAMPLES]
    for s, g in zip(shared, EXAMPLES):
        assert s.read_bytes() == g.read_bytes(), s.name


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.name.removesuffix(".in.rag"))
def test_golden_pairs(path: Path):
    source = path.read_text(encoding="utf-8")
    expected = path.with_name(path.name.replace(".in.rag", ".out.rag")).read_text(encoding="utf-8")
    out = fmt(source)
    assert out == expected
    assert fmt(out) == out
    assert canonical_view(out) == canonical_view(source)
    assert comment_texts(out) == comment_texts(source)


def test_seed_workflow_is_the_formatted_fixture():
    fixture = (REPO / "tests/fixtures/seed_research_review.rag").read_text(encoding="utf-8")
    workflow = (REPO / "workflows/research_review.rag").read_text(encoding="utf-8")
    assert fmt(fixture) == workflow
    assert fmt(workflow) == workflow
    assert canonical_view(fixture) == canonical_view(workflow)
    # the seed's one lenient spelling is gone, its meaning is not
    assert "sub_agent" in fixture and "kind subagent" in workflow


def test_spec_example_is_canonical():
    assert fmt(EXAMPLE) == EXAMPLE


def test_syntax_errors_are_refused():
    result = format_source("graph g {\n  channel x\n}\n")
    assert result.text is None and [d.code for d in result.diagnostics] == ["E0008"]


# --------------------------------------------------------------------------- layout rules


def test_blank_lines():
    out = fmt("graph g {\n\n\n  start a\n\n\n\n  channel c last\n  node a {\n\n    kind model\n\n\n    next END\n\n  }\n"
              "  node b {}\n  // about c\n  node c {}\n\n}\n")
    # a node without `kind` is upstream's default model node: fmt writes `kind model` (docs/upstream.md)
    assert out == ("graph g {\n  start a\n\n  channel c last\n\n  node a {\n    kind model\n\n    next END\n  }\n\n"
                   "  node b {\n    kind model\n  }\n\n  // about c\n  node c {\n    kind model\n  }\n}\n")


def test_first_item_of_a_block_gets_no_forced_blank_line():
    assert fmt("graph g { node a {} }") == "graph g {\n  node a {\n    kind model\n  }\n}\n"
    assert fmt("graph a {}\ngraph b {}") == "graph a {}\n\ngraph b {}\n"


def test_settings_blocks_are_one_key_per_line_and_data_objects_inline():
    out = fmt("graph g { defaults { max_steps 5 } node a { command { goto b update { n: 1 } } args { k: 1 } } }")
    assert out == ("graph g {\n  defaults {\n    max_steps 5\n  }\n\n  node a {\n    command {\n      goto b\n"
                   "      update { n: 1 }\n    }\n    args { k: 1 }\n  }\n}\n")


def test_width_limit_for_inline_values():
    def line(n):  # `    tools [...]` exactly n characters wide
        head = '    tools ["'
        return 'graph g {\n  node a {\n    kind model\n' + head + "x" * (n - len(head) - 2) + '"]\n  }\n}\n'

    assert fmt(line(WIDTH)) == line(WIDTH)
    out = fmt(line(WIDTH + 1))
    assert out.splitlines()[3] == "    tools ["
    assert max(len(x) for x in out.splitlines()) <= WIDTH


def test_comment_inside_object_forces_one_pair_per_line():
    out = fmt("graph g { node a { args { a: 1, // one\n b: 2 } } }")
    assert out == "graph g {\n  node a {\n    args {\n      a: 1, // one\n      b: 2\n    }\n  }\n}\n"


def test_comments_keep_their_place():
    source = ("// file\ngraph g { // graph\n  // before a\n  node a { // open\n    kind model // kind\n"
              "    // before close\n  } // after node\n  // end of graph\n} // after graph\n// tail\n")
    out = fmt(source)
    assert out == ("// file\ngraph g { // graph\n  // before a\n  node a { // open\n    kind model // kind\n"
                   "    // before close\n  } // after node\n  // end of graph\n} // after graph\n// tail\n")


def test_comment_between_key_and_value_moves_before_the_item():
    out = fmt("graph g { node a { kind // what\n model } }")
    assert out == "graph g {\n  node a {\n    // what\n    kind model\n  }\n}\n"


def test_triple_strings_are_reindented():
    source = 'graph g {\nnode a {\nprompt """\n  first\n    second\n  """\n}\n}\n'
    out = fmt(source)
    assert 'prompt """\n      first\n        second\n      """\n' in out
    assert canonical_view(out) == canonical_view(source)


def test_strings_are_reescaped_minimally():
    out = fmt('graph g { node a { prompt "\\u00e9\\/\\t\\"\\\\\\u0001" } }')
    assert 'prompt "é/\\t\\"\\\\\\u0001"' in out


def test_numbers_and_durations_keep_their_spelling():
    out = fmt("graph g { node a { budget { max_cost_usd 0.50 } timeout 90s retry { initial 1.5s } x 007 } }")
    assert "max_cost_usd 0.50" in out and "timeout 90s" in out and "initial 1.5s" in out and "x 007" in out


def test_condition_parentheses_only_where_needed():
    out = fmt("graph g { node r { kind router routes { a -> b when ((x == 1) and (y or z)) or not (w) } } }")
    assert "a -> b when x == 1 and (y or z) or not w" in out
    assert canonical_view(out) == canonical_view(
        "graph g { node r { kind router routes { a -> b when ((x == 1) and (y or z)) or not (w) } } }")


def test_crlf_and_bom_free_output():
    out = fmt('graph g {\r\n  start a // c\r\n  node a {\r\n    prompt """\r\n      hi\r\n      """\r\n  }\r\n}\r\n')
    assert "\r" not in out and out.endswith("}\n")
    assert parse(out).module.graphs[0].nodes[0].field("prompt").value.value == "hi"


def test_quote_round_trips():
    for s in ["", "plain", 'q"uote', "back\\slash", "new\nline", "\t\x00\x1f\x7f", "é ✓ 𝄞", "\ud800"]:
        assert string_value(quote(s)) == (s, False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list(' \t\n"\\abcé✓{}') + ["\r", "\x01", '"""', "\u2028", "  "]), max_size=30)
       .map("".join))
def test_any_triple_string_value_survives_formatting(value):
    escaped = "".join({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x01": "\\u0001"}.get(c, c)
                      for c in value)
    source = f'graph g {{\n  node a {{\n    prompt """{escaped}"""\n  }}\n}}\n'
    before = parse(source).module.graphs[0].nodes[0].field("prompt").value
    out = fmt(source)
    after = parse(out).module.graphs[0].nodes[0].field("prompt").value
    assert (after.value, after.triple) == (before.value, True)
    assert fmt(out) == out


def test_formatting_keeps_the_canonical_tree_of_every_golden_source():
    for path in EXAMPLES + PAIRS:
        text = path.read_text(encoding="utf-8")
        out = fmt(text)
        assert strip_spans(canonicalize(parse(out).module)) == strip_spans(canonicalize(parse(text).module))
        assert Counter(c.text.rstrip() for c in parse(out).module.comments) == \
            Counter(c.text.rstrip() for c in parse(text).module.comments)
