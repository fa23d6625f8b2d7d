"""The parser: the tree it builds, and one diagnostic per mistake (codes,
lines and columns pinned) for broken sources."""

from __future__ import annotations

import re

import pytest

from synkit import GOLDEN
from ragc.syntax import ast as A
from ragc.syntax.limits import MAX_GRAPHS, MAX_NESTING, MAX_NODES_PER_GRAPH, MAX_SOURCE_BYTES
from ragc.syntax.parser import parse


def _only(text: str) -> A.Module:
    result = parse(text, "t.rag")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return result.module


# --------------------------------------------------------------------------- trees


def test_quorum_review_tree():
    m = _only((GOLDEN / "quorum_review.rag").read_text(encoding="utf-8"))
    g = m.graph("quorum_review")
    assert [type(i).__name__ for i in g.items] == [
        "SchemaBlock", "SchemaBlock", "Field", "Field", "Channel", "Channel", "Node", "Node"]
    dispatch = g.nodes[0]
    send = next(i for i in dispatch.items if isinstance(i, A.Send))
    assert send.spelling == "list" and [e.target.name for e in send.entries] == ["reviewer"] * 5
    assert send.entries[0].payload.get("focus").value.value == "security"
    join = next(i for i in dispatch.items if isinstance(i, A.JoinRef))
    assert join.target.name == "decide"
    assert (join.block.policy.name.name, join.block.policy.count.value) == ("quorum", 3)
    assert [f.key.name for f in join.block.fields] == ["tolerate", "timeout"]
    assert join.block.fields[1].value == A.Duration(120.0, "2m", join.block.fields[1].value.span)
    prompt = g.nodes[1].field("prompt").value
    assert prompt.triple and prompt.value == "Decide whether to merge, given these reviews:\n{{ state.reviews }}"
    assert prompt.is_template
    assert m.comments[0].text.startswith("// Five reviewers") and m.comments[0].own_line


def test_spans_are_one_based_and_cover_the_construct():
    m = _only('graph g {\n  node review {\n    next END\n  }\n}\n')
    node = m.graphs[0].nodes[0]
    s = node.span
    assert (s.line, s.column, s.end_line, s.end_column) == (2, 3, 4, 4)
    assert (node.name.span.line, node.name.span.column, node.name.span.end_column) == (2, 8, 14)
    nxt = node.field("next")
    assert (nxt.span.line, nxt.span.column, nxt.value.span.column) == (3, 5, 10)
    assert m.span.offset == 0 and m.span.end_offset == len('graph g {\n  node review {\n    next END\n  }\n}\n')


def test_paths_conditions_and_calls():
    m = _only('graph g { node r { kind router routes {\n'
              '  a -> x when not (state.n >= 2 or "k" in state.tags) and len(state.items) != 0\n'
              '  b -> y when state.m["key"].v[-1] not in [1, 2]\n'
              '  c -> z\n} } }')
    routes = m.graphs[0].nodes[0].items[1].routes
    w = routes[0].when
    assert isinstance(w, A.BoolOp) and w.op == "and"
    assert isinstance(w.operands[0], A.Not) and isinstance(w.operands[0].operand, A.BoolOp)
    assert w.operands[0].operand.operands[1].op == "in"
    call = w.operands[1].left
    assert isinstance(call, A.Call) and call.func.name == "len"
    path = routes[1].when.left
    assert path.dotted() == 'state.m["key"].v[-1]'
    assert routes[1].when.op == "not_in"
    assert routes[2].when is None


def test_soft_keywords_are_names_where_a_name_is_expected():
    m = _only('graph g {\n  start next\n  channel messages messages\n  node next {\n    kind model\n'
              '    output messages\n    input { for: 1, in: 2, true: 3 }\n    routes { send -> node }\n  }\n'
              '  node node { kind model }\n}\n')
    g = m.graphs[0]
    assert [n.name.name for n in g.nodes] == ["next", "node"]
    first = g.nodes[0]
    assert first.field("output").value.root.name == "messages"
    assert [p.key_name for p in first.field("input").value.pairs] == ["for", "in", "true"]
    route = first.items[3].routes[0]
    assert (route.label.name, route.target.name) == ("send", "node")


def test_lenient_spellings_are_kept_as_written():
    m = _only('graph g {\n  a -> b\n  node a {\n    kind: sub_agent\n    sends [ send x { k 1 } send y ]\n  }\n'
              '  node b { send z { v: item } for item in state.xs }\n}\n')
    g = m.graphs[0]
    assert g.items[0] == A.Edge(g.items[0].source, g.items[0].target, True, g.items[0].span)
    kind = g.nodes[0].field("kind")
    assert kind.colon and kind.value.root.name == "sub_agent"
    send = g.nodes[0].items[1]
    assert send.spelling == "sends" and [e.target.name for e in send.entries] == ["x", "y"]
    assert not send.entries[0].payload.pairs[0].colon
    single = g.nodes[1].items[0]
    assert single.spelling == "single" and single.entries[0].loop.var.name == "item"


def test_strings_decode_json_escapes_and_keep_non_ascii():
    m = _only('graph g { node a { prompt "tab\\t \\"q\\" \\u00e9 \\/ é ✓" } }')
    assert m.graphs[0].nodes[0].field("prompt").value.value == 'tab\t "q" é / é ✓'


def test_triple_strings_follow_the_dedent_rule():
    text = 'graph g { node a { prompt """\n      first\n        indented\n\n      last\n      """ } }'
    value = _only(text).graphs[0].nodes[0].field("prompt").value
    assert value.triple and value.value == "first\n  indented\n\nlast"


def test_empty_and_comment_only_files():
    assert parse("").ok and parse("").module.graphs == ()
    m = _only("// only a comment\n\n   // another\n")
    assert [c.text for c in m.comments] == ["// only a comment", "// another"]


def test_trailing_comments_are_marked():
    m = _only("graph g { // after brace\n  start a // trailing\n  // own line\n}\n")
    assert [c.own_line for c in m.comments] == [False, False, True]


def test_leading_byte_order_mark_is_skipped():
    # `ragc fmt` drops a BOM, so `ragc check` must accept it too (it was E0003).
    r = parse("\ufeff// c\ngraph g {}\n")
    assert r.ok, r.diagnostics
    assert r.module.comments[0].own_line and r.module.graphs[0].span.line == 2
    assert not parse("graph g {}\n\ufeff").ok  # only at the very start


# --------------------------------------------------------------------------- broken sources

BROKEN = [
    ('channel_missing_reducer',
     'graph g {\n  start a\n  channel notes\n  node a { kind model }\n}\n',
     [('E0008', 3, 3)]),
    ('channel_missing_reducer_eof',
     'graph g {\n  channel notes',
     [('E0008', 2, 3)]),
    ('channel_missing_reducer_brace',
     'graph g {\n  channel notes\n}\n',
     [('E0008', 2, 3)]),
    ('channel_missing_reducer_options',
     'graph g {\n  channel notes { max_items: 3 }\n}\n',
     [('E0008', 2, 3)]),
    ('missing_value',
     'graph g {\n  node a {\n    kind model\n    prompt\n  }\n}\n',
     [('E0011', 4, 5)]),
    ('missing_value_colon',
     'graph g {\n  node a {\n    timeout:\n    kind model\n  }\n}\n',
     [('E0011', 3, 5)]),
    ('missing_comma_list',
     'graph g {\n  node a {\n    tools ["a" "b" "c"]\n  }\n}\n',
     [('E0010', 3, 15), ('E0010', 3, 19)]),
    ('missing_comma_send',
     'graph g {\n  node a {\n    send [\n      b { x: 1 }\n      c { x: 2 }\n    ]\n  }\n}\n',
     [('E0010', 4, 17)]),
    ('unclosed_list',
     'graph g {\n  node a {\n    tools ["a", "b"\n    kind agent\n  }\n}\n',
     [('E0006', 3, 20)]),
    ('mismatch',
     'graph g {\n  node a {\n    tools ["a", "b"}\n  }\n}\n',
     [('E0007', 3, 20)]),
    ('mismatch_paren',
     'graph g {\n  node a {\n    routes {\n      ok -> b when (state.x == 1]\n    }\n  }\n}\n',
     [('E0007', 4, 33)]),
    ('missing_arrow',
     'graph g {\n  node a {\n    routes {\n      ok b\n    }\n  }\n}\n',
     [('E0001', 4, 10)]),
    ('nested_node',
     'graph g {\n  node a {\n    kind model\n\n  node b {\n    kind model\n  }\n}\n',
     [('E0006', 5, 3)]),
    ('nested_graph',
     'graph g {\n  start a\n\ngraph h {\n  start b\n}\n',
     [('E0006', 4, 1)]),
    ('unclosed_eof',
     'graph g {\n  node a {\n    kind model\n  }\n',
     [('E0006', 5, 1)]),
    ('unclosed_eof_inner',
     'graph g {\n  node a {\n    retry { max_attempts 3\n    kind model\n  }\n}\n',
     [('E0006', 7, 1)]),
    ('extra_brace',
     'graph g {\n  node a {\n    kind model\n  }\n  }\n  node b {\n    kind model\n  }\n}\n',
     [('E0009', 5, 3)]),
    ('outside',
     'node a {\n  kind model\n}\n',
     [('E0001', 1, 1)]),
    ('after_graph',
     'graph g {\n  start a\n}\nstart b\n',
     [('E0009', 4, 1)]),
    ('unterminated',
     'graph g {\n  node a {\n    prompt "abc\n    kind model\n  }\n}\n',
     [('E0005', 3, 12)]),
    ('unterminated_triple',
     'graph g {\n  node a {\n    prompt """abc\n    kind model\n  }\n}\n',
     [('E0005', 3, 12)]),
    ('bad_escape',
     'graph g {\n  node a {\n    prompt "a\\qb"\n  }\n}\n',
     [('E0004', 3, 14)]),
    ('bad_escape_triple',
     'graph g {\n  node a {\n    prompt """\n      line\n      a\\qb\n      """\n  }\n}\n',
     [('E0004', 5, 8)]),
    ('bad_char',
     'graph g {\n  node a {\n    kind @model\n  }\n}\n',
     [('E0003', 3, 10)]),
    ('hash_comment',
     'graph g {\n  # comment\n  start a\n}\n',
     [('E0003', 2, 3)]),
    ('nonascii_name',
     'graph g {\n  node café {\n    kind model\n  }\n}\n',
     [('E0003', 2, 8)]),
    ('double_colon',
     'graph g {\n  node a {\n    kind: : model\n  }\n}\n',
     [('E0001', 3, 11)]),
    ('stray_token',
     'graph g {\n  node a {\n    kind model "extra"\n  }\n}\n',
     [('E0001', 3, 16)]),
    ('edge_missing_target',
     'graph g {\n  edge a ->\n  node b {\n    kind model\n  }\n}\n',
     [('E0001', 3, 3)]),
    ('join_two_policies',
     'graph g {\n  node a {\n    join c { policy all policy any }\n  }\n}\n',
     [('E0012', 3, 25)]),
    ('bad_object',
     'graph g {\n  node a {\n    args { path: , x: 1 }\n  }\n}\n',
     [('E0001', 3, 18)]),
    ('truncated_list',
     'graph g {\n  node a {\n    next [b,\n',
     [('E0002', 4, 1)]),
    ('missing_open_brace',
     'graph g {\n  node a\n    kind model\n  }\n}\n',
     [('E0001', 2, 9)]),
    ('reserved_key',
     'graph g {\n  node a {\n    kind model\n    in 3\n  }\n}\n',
     [('E0001', 4, 5)]),
    ('three',
     'graph g {\n  start a\n  channel x\n  node a {\n    kind agent\n    tools ["a" "b"]\n  }\n  node b {\n    kind model\n    prompt\n  }\n}\n',
     [('E0008', 3, 3), ('E0010', 6, 15), ('E0011', 10, 5)]),]


@pytest.mark.parametrize("name,source,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_sources_report_each_mistake_once(name, source, expected):
    result = parse(source, "f.rag")
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == expected
    for d in result.diagnostics:
        assert d.message == d.message.strip() and not d.message.endswith(".")
        assert d.message[0] == d.message[0].lower() or d.message[0] in "`"
        assert "__ANON" not in d.message and not re.search(r"\b(RBRACE|LSQB|NAME|STRING|\$END)\b", d.message)
    assert result.module is not None


def test_three_independent_mistakes_give_three_diagnostics():
    source = ("graph g {\n"
              "  start a\n"
              "  channel log\n"                    # 1: no reducer
              "  node a {\n"
              "    kind agent\n"
              '    tools ["search" "read_repo"]\n'  # 2: missing comma
              "    next b\n"
              "  }\n"
              "  node b {\n"
              "    kind model\n"
              "    prompt\n"                        # 3: no value
              "  }\n"
              "}\n")
    result = parse(source, "f.rag")
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [
        ("E0008", 3, 3), ("E0010", 6, 20), ("E0011", 11, 5)]
    # the rest of the file is still in the tree
    assert [n.name.name for n in result.module.graphs[0].nodes] == ["a", "b"]
    assert result.module.graphs[0].nodes[0].field("next").value.root.name == "b"


def test_channel_without_reducer_message_and_fix():
    d = parse("graph g {\n  channel x\n  channel y last\n}\n").diagnostics
    assert len(d) == 1
    assert d[0].message == "channel `x` needs a reducer"
    assert d[0].help.startswith("e.g. `channel x last`")
    assert d[0].suggestions[0].replacement == " last"


def test_unclosed_brace_points_at_the_opening_brace():
    source = "graph g {\n  node a {\n    kind model\n    next b\n\n  node b {\n    kind model\n  }\n}\n"
    (d,) = parse(source).diagnostics
    assert d.code == "E0006" and (d.span.line, d.span.column) == (6, 3)
    (opening,) = d.secondary
    assert (opening.span.line, opening.span.column) == (2, 10) and "node `a`" in opening.message
    # both nodes are still parsed
    assert [n.name.name for n in parse(source).module.graphs[0].nodes] == ["a", "b"]


def test_expected_lists_are_exact():
    d = parse('graph g { node a { tools ["a" : ] } }').diagnostics
    assert d[0].message == "expected one of `,` or `]`, found `:`"
    d = parse("graph g { node a { routes { ok -> } } }").diagnostics
    assert d[0].message == "expected a name, found `}`"
    d = parse("graph g }").diagnostics
    assert d[0].message == "expected `{`, found `}`"


def test_reserved_condition_word_as_key_has_help():
    (d,) = parse("graph g {\n  node a {\n    kind model\n    in 3\n  }\n}\n").diagnostics
    assert "condition" in d.help


def test_parse_never_raises_on_odd_text():
    for text in ["\x00", "}}}}", "{{{{", '"', '"""', "graph", "graph g {", "->->->", "\ufeffgraph g {}",
                 "graph g { node a { routes { a -> b when ( ( ( } } }", "é" * 50, "graph g { x: y: z: }"]:
        result = parse(text)
        assert result.diagnostics or result.ok


# --------------------------------------------------------------------------- limits


def test_source_size_limit():
    text = "// " + "x" * MAX_SOURCE_BYTES + "\n"
    result = parse(text, "big.rag")
    assert result.module is None
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [("E0020", 1, 1)]
    # just over the limit: the size is rounded up, never shown as "1.0 MiB"
    assert "(1.1 MiB; the limit is 1 MiB)" in result.diagnostics[0].message


def test_overlong_numbers_are_e0024_not_a_crash():
    # int() refuses more than 4300 digits; a long decimal or duration is not finite
    big = "9" * 5000
    src = (f"graph g {{\n  start a\n  node a {{ kind router  retry {{ max_attempts {big} }}  timeout {big}.5s\n"
           f"    x {big}.5  routes {{ a -> a when x[{big}] == 1 }} }}\n  join [a] -> a {{ policy quorum {big} }}\n}}\n")
    result = parse(src, "n.rag")
    assert result.module is not None
    found = [(d.code, d.span.end_offset - d.span.offset) for d in result.diagnostics]
    assert found == [("E0024", 5000), ("E0024", 5003), ("E0024", 5002), ("E0024", 5000), ("E0024", 5000)]
    assert parse("graph g { x " + "9" * 100 + " }").ok  # the limit itself is fine


def test_source_size_counts_utf8_bytes():
    text = "// " + "é" * (MAX_SOURCE_BYTES // 2) + "\n"   # under 1 Mi code points, over 1 MiB
    assert [d.code for d in parse(text).diagnostics] == ["E0020"]
    assert parse("// " + "x" * (MAX_SOURCE_BYTES - 10) + "\n").ok


def test_nesting_limit_points_at_the_bracket_too_deep():
    deep = "[" * (MAX_NESTING - 3)
    ok = f"graph g {{ node a {{ x {deep}{']' * (MAX_NESTING - 3)} }} }}"
    assert parse(ok).ok
    text = "graph g { node a { x " + "[" * MAX_NESTING + "]" * MAX_NESTING + " } }"
    result = parse(text)
    assert result.module is None
    (d,) = result.diagnostics
    # two braces of graph and node, so the 63rd `[` is level 65
    assert d.code == "E0021" and d.span.column == len("graph g { node a { x ") + MAX_NESTING - 1


def test_chained_not_counts_as_nesting():
    text = "graph g { node r { routes { a -> b when " + "not " * 70 + "x } } }"
    assert [d.code for d in parse(text).diagnostics] == ["E0021"]


def test_node_count_limit():
    nodes = "".join(f"node n{i} {{}}\n" for i in range(MAX_NODES_PER_GRAPH + 1))
    result = parse("graph big {\n" + nodes + "}\n")
    (d,) = result.diagnostics
    assert d.code == "E0022" and d.span.line == MAX_NODES_PER_GRAPH + 2
    assert result.module is not None


def test_graph_count_limit():
    text = "".join(f"graph g{i} {{}}\n" for i in range(MAX_GRAPHS + 1))
    (d,) = parse(text).diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E0023", MAX_GRAPHS + 1, 7)


def test_parser_stops_after_too_many_errors():
    from ragc.syntax.parser import MAX_SYNTAX_ERRORS

    result = parse("graph g {\n" + "  channel x\n" * (MAX_SYNTAX_ERRORS + 200) + "}\n")
    assert len(result.diagnostics) == MAX_SYNTAX_ERRORS + 1
    assert result.diagnostics[-1].message == f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}"
    assert result.module is not None
