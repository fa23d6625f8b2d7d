"""Upstream (TinyAgents) spellings: they parse, map to the canonical ragc
form (``ragc.syntax.upstream``), and ``ragc fmt`` prints that form."""

from __future__ import annotations

import pytest

from ragc.syntax import ast as A
from ragc.syntax.ast import strip_spans
from ragc.syntax.canon import canonicalize
from ragc.syntax.formatter import format_source
from ragc.syntax.parser import parse
from ragc.syntax.upstream import desugar


def tree(text: str) -> A.Module:
    result = parse(text, "t.rag")
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return result.module


def fmt(text: str) -> str:
    out = format_source(text, "t.rag")
    assert out.ok, out.diagnostics
    again = format_source(out.text, "t.rag")
    assert again.text == out.text, "fmt is not idempotent"
    return out.text


def maps_to(upstream: str, canonical: str) -> None:
    """The upstream spelling canonicalises to ``canonical``, which is a fixed point."""
    a = canonicalize(tree(upstream))
    b = tree(canonical)
    assert strip_spans(a) == strip_spans(b)
    assert strip_spans(canonicalize(b)) == strip_spans(b)
    # the layout keeps the blank lines the source had, so compare without them
    assert [ln for ln in fmt(upstream).splitlines() if ln] == [ln for ln in fmt(canonical).splitlines() if ln]


def g(body: str) -> str:
    return "graph g {\n  start a\n" + body + "\n}\n"


# --------------------------------------------------------------------------- parsing


def test_steering_allow_lists_parse():
    """Regression: `allow ["a", "b"]` inside `steering` was read as the
    subscript `allow["a"]` and failed at the comma (E0001)."""
    m = tree(g('  node a {\n    kind subagent\n    agent "x"\n    steering {\n'
               '      parent allow ["add_instruction", "request_status"]\n      human allow ["pause"]\n'
               '      delivery "safe_boundary"\n    }\n  }'))
    node = m.graphs[0].items[1]
    steering = node.field("steering").value
    parent = steering.get("parent").value
    assert isinstance(parent, A.ObjectV)
    allowed = parent.get("allow").value
    assert [x.value for x in allowed.items] == ["add_instruction", "request_status"]
    assert [x.value for x in steering.get("human").value.get("allow").value.items] == ["pause"]


def test_a_subscript_still_parses():
    m = tree(g("  node a {\n    kind model\n    prompt state.items[0]\n  }"))
    prompt = m.graphs[0].items[1].field("prompt").value
    assert isinstance(prompt, A.Path) and prompt.segments[1].key == 0


def test_reducer_arguments_parse_and_are_kept_by_fmt():
    """Arguments ragc has no meaning for are kept as written (the checker
    reports them, E0293); ``barrier N`` is mapped to ``append`` (17c)."""
    text = g('  channel arrivals barrier 2 3\n  channel facts aggregate "agg" 3 { default: 0 }\n  node a { kind model }')
    ch = tree(text).graphs[0].items[1]
    assert isinstance(ch, A.Channel) and [a.value for a in ch.args] == [2, 3]
    out = fmt(text)
    assert "channel arrivals barrier 2 3\n" in out
    assert 'channel facts aggregate "agg" 3 { default: 0 }' in out


def test_a_barrier_count_is_an_append_channel():
    out = fmt(g('  channel arrivals barrier 2\n  node a { kind model }'))
    assert "channel arrivals append\n" in out and "barrier 2" not in out
    assert "metadata { upstream: { barriers: { arrivals: 2 } } }" in out


def test_send_with_a_mapping_name_parses_and_keeps_its_form():
    text = g('  node a {\n    kind model\n    sends [ send b "split_a" send c ]\n  }\n  node b { kind model }\n'
             '  node c { kind model }')
    send = tree(text).graphs[0].items[1].items[1]
    assert [(e.target.name, e.mapping.value if e.mapping else None) for e in send.entries] == \
        [("b", "split_a"), ("c", None)]
    assert 'sends [ send b "split_a" send c ]' in fmt(text)


# --------------------------------------------------------------------------- rewrites


def test_nothing_to_rewrite_returns_the_same_module():
    m = tree(g("  node a {\n    kind model\n    next END\n  }"))
    assert desugar(m) is m


def test_node_without_kind_is_a_model_node():
    maps_to(g("  node a { next END }"), g("  node a {\n    kind model\n    next END\n  }"))


def test_node_without_kind_and_fields_of_another_kind_is_left_alone():
    m = tree(g('  node a { agent "x" }'))
    assert desugar(m) is m


def test_tool_executor_and_agent_loop_labels():
    upstream = g('  channel messages messages\n  node a {\n    kind agent\n    tools ["t"]\n'
                 '    routes {\n      tool_call -> b\n      final -> END\n    }\n  }\n'
                 '  node b {\n    kind tool_executor\n    next a\n  }')
    canonical = g('  channel messages messages\n  node a {\n    kind model\n    tools ["t"]\n'
                  '    routes {\n      tool_call -> b\n      final -> END\n    }\n  }\n'
                  '  node b {\n    kind tool\n    next a\n  }')
    maps_to(upstream, canonical)


def test_agent_with_other_labels_stays_an_agent():
    m = tree(g('  node a {\n    kind agent\n    routes {\n      done -> END\n    }\n  }'))
    assert desugar(m) is m


@pytest.mark.parametrize("declared,canonical", [
    ("", "  channel messages messages\n"),
    ("  channel messages append\n", "  channel messages messages\n"),
])
def test_loop_graph_gets_a_messages_channel(declared, canonical):
    body = '  node a {\n    kind tool_executor\n    next END\n  }'
    maps_to(g(declared + body), g(canonical + '  node a {\n    kind tool\n    next END\n  }'))


def test_router_and_subgraph_bound_by_model():
    maps_to(g('  node a {\n    kind router\n    model "pick"\n    routes {\n      x -> END\n    }\n  }'),
            g('  node a {\n    kind router\n    function "pick"\n    routes {\n      x -> END\n    }\n  }'))
    maps_to(g('  node a {\n    kind router\n    model "pick"\n    next END\n  }'),
            g('  node a {\n    kind function\n    function "pick"\n    next END\n  }'))
    maps_to(g('  node a {\n    kind subgraph\n    model "other"\n  }'),
            g('  node a {\n    kind subgraph\n    graph "other"\n  }'))


def test_kind_human_is_not_guessed():
    """Upstream listed `human` among its kinds without saying what it does
    (its `model` field bound a chat model): it stays an unknown kind."""
    m = tree(g('  node a {\n    kind human\n    prompt "ok?"\n  }'))
    assert desugar(m) is m


def test_durations_written_as_strings():
    maps_to(g('  node a {\n    kind model\n    timeout "30s"\n    retry {\n      initial "250ms"\n    }\n  }'),
            g('  node a {\n    kind model\n    timeout 30s\n    retry {\n      initial 250ms\n    }\n  }'))


def test_a_bare_number_is_not_guessed_to_be_seconds():
    m = tree(g("  node a {\n    kind model\n    timeout 30\n  }"))
    assert desugar(m) is m  # the checker's E0205 offers `30s` as a machine-applicable fix


def test_upstream_defaults():
    maps_to(g('  defaults {\n    recursion_limit 50\n    backoff "exponential"\n    checkpoint inherit\n'
              '    timeout "60s"\n  }\n  node a { kind model }'),
            g('  defaults {\n    max_steps 50\n    timeout 60s\n    retry {\n      backoff "exponential"\n    }\n'
              '  }\n  node a { kind model }'))


def test_honoured_graph_policies_are_removed_others_kept():
    maps_to(g("  checkpoint always\n  interrupt manual\n  node a { kind model }"), g("  node a { kind model }"))
    m = tree(g("  checkpoint never\n  interrupt auto\n  node a { kind model }"))
    assert desugar(m) is m  # left for the checker: E0290, E0291


def test_aggregate_with_a_reducer_name():
    maps_to(g('  channel usage aggregate "usage_delta"\n  node a { kind model }'),
            g("  channel usage usage_delta\n  node a { kind model }"))


def test_join_source_routing_to_the_join_target():
    maps_to(g("  node a {\n    kind model\n    next [b, c]\n  }\n  node b {\n    kind model\n    next d\n  }\n"
              "  node c { kind model }\n  node d { kind model }\n  join [b, c] -> d"),
            g("  node a {\n    kind model\n    next [b, c]\n  }\n  node b { kind model }\n"
              "  node c { kind model }\n  node d { kind model }\n  join [b, c] -> d"))


def test_node_metadata_moves_to_the_graph():
    maps_to(g('  node a {\n    kind model\n    metadata { owner "x" }\n  }'),
            g('  metadata { nodes: { a: { owner: "x" } } }\n  node a { kind model }'))
    maps_to(g('  metadata { team: "t" }\n  node a {\n    kind model\n    metadata { owner "x" }\n  }'),
            g('  metadata { team: "t", nodes: { a: { owner: "x" } } }\n  node a { kind model }'))


def test_node_metadata_is_kept_when_the_graph_metadata_has_nodes():
    m = tree(g('  metadata { nodes: 1 }\n  node a {\n    kind model\n    metadata { owner "x" }\n  }'))
    assert desugar(m) is m


def test_comments_survive_the_rewrite():
    out = fmt("// top\ngraph g {\n  start a\n  // the agent\n  node a { // open\n    next END // done\n  }\n}\n")
    assert out == ("// top\ngraph g {\n  start a\n\n  // the agent\n  node a { // open\n    kind model\n"
                   "    next END // done\n  }\n}\n")


def test_interrupt_without_prompt_asks_to_continue_in_an_upstream_graph():
    """Upstream's interrupt was a bare pause point; in a graph written
    upstream's way (here `kind tool_executor`) it asks "Continue after `NODE`?"."""
    rest = '  node b {\n    kind tool_executor\n    next END\n  }'
    maps_to(g("  node a {\n    kind interrupt\n    next b\n  }\n" + rest),
            g('  channel messages messages\n  node a {\n    kind interrupt\n    prompt "Continue after `a`?"\n'
              '    next b\n  }\n  node b {\n    kind tool\n    next END\n  }'))
    # the prompt is inserted after `kind` and points at the node's name
    m = desugar(tree(g("  node a {\n    kind interrupt\n    next b\n  }\n" + rest)))
    node = next(i for i in m.graphs[0].items if isinstance(i, A.Node) and i.name.name == "a")
    assert [f.key.name for f in node.items] == ["kind", "prompt", "next"]
    prompt = node.field("prompt")
    assert (prompt.value.span.line, prompt.value.span.column) == (node.name.span.line, node.name.span.column) == (3, 8)


def test_interrupt_with_a_prompt_alias_is_left_alone():
    m = desugar(tree(g('  node a {\n    kind interrupt\n    question "ok?"\n    next b\n  }\n'
                       '  node b {\n    kind tool_executor\n    next END\n  }')))
    node = m.graphs[0].items[2]
    assert [f.key.name for f in node.items] == ["kind", "question", "next"]


def test_canonical_graph_keeps_its_interrupt_without_prompt():
    """A graph with no other upstream spelling is ragc's own: no prompt is
    invented (the checker reports E0204)."""
    m = tree(g("  node a {\n    kind interrupt\n    next END\n  }"))
    assert desugar(m) is m


def test_command_update_declares_its_channel_in_an_upstream_graph():
    upstream = g('  channel done last\n  node a {\n    kind agent\n    agent "x"\n'
                 '    command {\n      goto b\n      update {\n        status "planned"\n        done true\n'
                 '      }\n    }\n  }\n  node b { next END }')
    canonical = g('  channel done last\n  channel status last\n  node a {\n    kind agent\n    agent "x"\n'
                  '    command {\n      goto b\n      update { status: "planned", done: true }\n    }\n  }\n'
                  '  node b {\n    kind model\n    next END\n  }')
    maps_to(upstream, canonical)
    ch = [i for i in desugar(tree(upstream)).graphs[0].items if isinstance(i, A.Channel)]
    assert [(c.name.name, c.reducer.name) for c in ch] == [("done", "last"), ("status", "last")]
    # the declared name points at the first update key that writes it
    assert (ch[1].name.span.line, ch[1].name.span.column) == (10, 9)


def test_command_update_on_an_undeclared_channel_in_a_canonical_graph_is_kept():
    m = tree(g('  node a {\n    kind model\n    command {\n      goto END\n      update {\n        status "x"\n'
               '      }\n    }\n  }'))
    assert desugar(m) is m


def test_builtin_channels_agree_with_the_checker():
    from ragc.check.channels import BUILTIN_CHANNELS
    from ragc.syntax import upstream

    assert upstream.BUILTIN_CHANNELS == BUILTIN_CHANNELS


def test_output_field_declares_its_channel_in_an_upstream_graph():
    maps_to(g("  output { answer string }\n  node a { next END }"),
            g("  output { answer: string }\n  channel answer last\n  node a {\n    kind model\n    next END\n  }"))
    m = tree(g("  output { answer string }\n  node a {\n    kind model\n    next END\n  }"))
    assert desugar(m) is m  # a ragc graph keeps E0705


def test_one_source_join_is_an_edge_in_an_upstream_graph():
    """Upstream's `join [a] -> b` waited for `a` and ran `b`: the edge."""
    maps_to(g("  node a { next b }\n  node b { next END }\n  join [a] -> b"),
            g("  node a {\n    kind model\n    next b\n  }\n  node b {\n    kind model\n    next END\n  }"))
    # a source without routing gets `next b`, at the end of its block
    upstream = g('  node a { prompt "x" }\n  node b { next END }\n  join [a] -> b')
    maps_to(upstream, g('  node a {\n    kind model\n    prompt "x"\n    next b\n  }\n'
                        '  node b {\n    kind model\n    next END\n  }'))
    a = desugar(tree(upstream)).graphs[0].items[1]
    nxt = a.field("next")
    assert (nxt.span.line, nxt.key.span.line, nxt.key.span.column) == (3, 5, 3)  # points at the join


def test_one_source_join_is_kept_when_ragc_wrote_it_or_the_source_routes_elsewhere():
    m = tree(g("  node a {\n    kind model\n    next END\n  }\n  node b {\n    kind model\n  }\n  join [a] -> b"))
    assert desugar(m) is m  # E0406
    out = desugar(tree(g("  node a {\n    next c\n  }\n  node b { next END }\n  node c { next END }\n"
                         "  join [a] -> b")))
    assert any(isinstance(i, A.JoinDecl) for i in out.graphs[0].items)


def test_host_data_moves_to_graph_metadata_in_an_upstream_graph():
    maps_to(g('  interrupt auto\n  defaults {\n    mode "slow"\n    level fast\n    recursion_limit 5\n  }\n'
              '  node a { next END }'),
            g('  defaults { max_steps 5 }\n'
              '  metadata { upstream: { defaults: { mode: "slow", level: "fast" }, interrupt: "auto" } }\n'
              '  node a {\n    kind model\n    next END\n  }'))
    # only unknown keys: the `defaults` block goes
    maps_to(g('  defaults { mode "slow" }\n  node a { next END }'),
            g('  metadata { upstream: { defaults: { mode: "slow" } } }\n  node a {\n    kind model\n    next END\n  }'))


@pytest.mark.parametrize("text", [
    # a typo of a ragc setting stays E0209 with "did you mean `max_steps`"
    '  defaults { max_step 5 }\n  node a { next END }',
    # with an interrupt node the policy would change what the run does: E0291
    '  interrupt auto\n  node a {\n    kind interrupt\n    prompt "ok?"\n    next b\n  }\n  node b { next END }',
    # a graph written ragc's way keeps E0209 / E0291
    '  interrupt auto\n  defaults { mode "slow" }\n  node a {\n    kind model\n    next END\n  }',
])
def test_host_data_is_not_moved(text):
    out = desugar(tree(g(text)))
    assert not any(isinstance(i, A.Field) and i.key.name == "metadata" for i in out.graphs[0].items)


def test_defaults_keys_agree_with_the_checker():
    from ragc.check.kinds import BLOCK_KEYS
    from ragc.syntax import upstream

    assert upstream.DEFAULTS_KEYS == set(BLOCK_KEYS["defaults"])
