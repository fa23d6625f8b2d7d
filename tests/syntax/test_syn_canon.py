"""Canonicalisation: each lenient spelling maps to its canonical form, and
the mapping is idempotent."""

from __future__ import annotations

import pytest

from ragc.syntax import ast as A
from ragc.syntax.ast import strip_spans
from ragc.syntax.canon import canonicalize
from ragc.syntax.parser import parse


def canon(text: str) -> A.Module:
    result = parse(text, "t.rag")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return canonicalize(result.module)


def same(lenient: str, canonical: str) -> None:
    """Both sources have the same canonical tree, and the canonical one is a fixed point."""
    a, b = canon(lenient), canon(canonical)
    assert strip_spans(a) == strip_spans(b)
    assert strip_spans(canonicalize(b)) == strip_spans(b)
    assert strip_spans(parse(canonical).module) == strip_spans(b), "the canonical spelling is not canonical"


def node(items: str, extra: str = "") -> str:
    # a node without `kind` is upstream's default model node and canonicalises
    # to `kind model` (ragc.syntax.upstream), so the helper always names a kind
    if not any(line.split(":")[0].split(" ")[0] == "kind" for line in items.splitlines()):
        items = items + "\nkind model"
    return f"graph g {{\n  start n\n{extra}  node n {{\n{items}\n  }}\n}}\n"


@pytest.mark.parametrize("alias,canonical", [("sub_agent", "subagent"), ("graph", "subgraph")])
def test_kind_aliases(alias, canonical):
    same(node(f"kind {alias}"), node(f"kind {canonical}"))


@pytest.mark.parametrize("key", ["system", "question"])
def test_interrupt_prompt_aliases(key):
    same(node(f'kind interrupt\n{key} "ok?"'), node('kind interrupt\nprompt "ok?"'))


def test_interrupt_alias_kept_when_ambiguous():
    m = canon(node('kind interrupt\nprompt "a"\nsystem "b"'))
    assert [f.key.name for f in m.graphs[0].nodes[0].items] == ["kind", "prompt", "system"]
    m = canon(node('kind interrupt\nquestion "a"\nsystem "b"'))
    assert [f.key.name for f in m.graphs[0].nodes[0].items] == ["kind", "question", "system"]
    m = canon(node('kind model\nsystem "b"'))
    assert m.graphs[0].nodes[0].items[1].key.name == "system"


def test_send_spellings():
    canonical = node("send [ a { x: 1 }, b ]")
    same(node("sends [ send a { x 1 } send b ]"), canonical)
    same(node("sends [ send a { x: 1 }, send b, ]"), canonical)
    same(node("send a { x: 1 } for item in state.xs"), node("send [ a { x: 1 } for item in state.xs ]"))
    assert canon(canonical).graphs[0].nodes[0].items[0].spelling == "list"


def test_bare_edge():
    same("graph g {\n  a -> b\n}\n", "graph g {\n  edge a -> b\n}\n")


@pytest.mark.parametrize("alias,canonical", [("overwrite", "last"), ("last_value", "last"), ("topic", "append"),
                                             ("aggregate", "sum"), ("delta", "sum"), ("merge", "merge")])
def test_reducer_aliases(alias, canonical):
    same(f"graph g {{\n  channel c {alias}\n}}\n", f"graph g {{\n  channel c {canonical}\n}}\n")


def test_policy_first_is_any():
    same(node("send [ a ]\njoin j { policy first }"), node("send [ a ]\njoin j { policy any }"))
    same("graph g {\n  join [a, b] -> c { policy: first }\n}\n", "graph g {\n  join [a, b] -> c { policy any }\n}\n")


def test_output_string_becomes_a_name():
    same(node('output "findings"'), node("output findings"))
    # not a name: stays a string (the checker reports it)
    m = canon(node('output "two words"'))
    assert isinstance(m.graphs[0].nodes[0].items[0].value, A.Str)
    m = canon(node('output "true"'))
    assert isinstance(m.graphs[0].nodes[0].items[0].value, A.Str)


def test_next_list_of_one():
    same(node("next [review]"), node("next review"))
    m = canon(node("next [a, b]"))
    assert isinstance(m.graphs[0].nodes[0].items[0].value, A.ListV)


def test_registry_names_become_strings():
    same(node("model default\nagent helper\ntool search\ngraph other\nfunction pick\ntools [search, \"read\"]"),
         node('model "default"\nagent "helper"\ntool "search"\ngraph "other"\nfunction "pick"\ntools ["search", "read"]'))
    same("graph g {\n  allow tools [search]\n  allow models [fast]\n}\n",
         'graph g {\n  allow tools ["search"]\n  allow models ["fast"]\n}\n')
    # paths stay paths
    m = canon(node("model state.model"))
    assert isinstance(m.graphs[0].nodes[0].items[0].value, A.Path)


def test_colons_follow_the_context():
    same("graph g {\n  start: n\n  defaults: { max_steps: 3, retry: { max_attempts: 2 } }\n"
         "  metadata { owner \"me\", nested { a 1 } }\n  input { q string }\n}\n",
         'graph g {\n  start n\n  defaults { max_steps 3 retry { max_attempts 2 } }\n'
         '  metadata { owner: "me", nested: { a: 1 } }\n  input { q: string }\n}\n')
    same(node("kind: tool\nargs { path \"a\" }\ncommand { goto: x, update { n 1 } }\nschema { v string }"),
         node('kind tool\nargs { path: "a" }\ncommand { goto x update { n: 1 } }\nschema { v: string }'))
    same("graph g {\n  channel c append { max_items 3 }\n}\n", "graph g {\n  channel c append { max_items: 3 }\n}\n")
    same(node("send [ a { k 1 } for x in [{ y 2 }] ]"), node("send [ a { k: 1 } for x in [{ y: 2 }] ]"))


JOIN_NODES = """graph g {
  start a
  node a { kind model  next [b, c] }
  node b { kind model  next j }
  node c { kind model  next j }
  node j {
    kind join
    sources [b, c]
    policy first
    tolerate 1
    next d
  }
  node d { kind model }
}
"""


def test_join_node_becomes_a_top_level_join():
    m = canon(JOIN_NODES)
    g = m.graphs[0]
    decl = g.items[4]
    assert isinstance(decl, A.JoinDecl)
    assert [s.name for s in decl.sources] == ["b", "c"] and decl.target.name == "d"
    assert decl.block.policy.name.name == "any" and [f.key.name for f in decl.block.fields] == ["tolerate"]
    assert g.nodes[1].items == (g.nodes[1].items[0],)  # `next j` dropped
    same(JOIN_NODES, """graph g {
  start a
  node a { kind model  next [b, c] }
  node b { kind model }
  node c { kind model }
  join [b, c] -> d { policy any tolerate 1 }
  node d { kind model }
}
""")


@pytest.mark.parametrize("change", [
    ("start a", "start j"),                       # it is the start node
    ("next [b, c]", "next [b, j]"),               # someone else routes to it
    ("    next d\n", "    routes { ok -> d }\n"),  # it routes by something else than `next`
    ("    tolerate 1\n", "    tolerate 1\n    description \"x\"\n"),  # a field a join declaration has no room for
    ("node c { kind model  next j }", "node c { kind model  routes { ok -> j } }"),  # a source reaches it otherwise
    ("sources [b, c]", "sources [b, zz]"),        # an unknown source
])
def test_join_node_kept_when_conversion_would_change_meaning(change):
    old, new = change
    text = JOIN_NODES.replace(old, new)
    assert text != JOIN_NODES
    m = canon(text)
    assert not any(isinstance(i, A.JoinDecl) for i in m.graphs[0].items)
    assert any(n.name.name == "j" for n in m.graphs[0].nodes)


def test_canonicalize_is_idempotent_and_keeps_spans_and_comments():
    text = JOIN_NODES.replace("start a", "start a // first").replace("kind model  next [b, c]", "kind: sub_agent")
    m = canon(text)
    again = canonicalize(m)
    assert again == m
    assert m.comments == parse(text, "t.rag").module.comments
