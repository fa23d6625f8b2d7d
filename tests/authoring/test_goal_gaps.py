"""The goal comparison of the authoring loop (:mod:`ragc.author.goal`): which
names a goal states explicitly, and which of them a compiled file leaves out."""

from __future__ import annotations

from wfkit import REGISTRY_TOML, REPO

from ragc.author.goal import goal_gaps, inputs_in_goal, named_in_goal
from ragc.compiler import compile_source
from ragc.registry.loader import load_registry

REG = load_registry(REGISTRY_TOML, cwd=REPO).registry

TOOL_FLOW = """graph g {
  input {
    path: string
  }

  start read

  channel text last

  node read {
    kind tool
    tool "read_file"
    args { path: input.path }
    output text
    next END
  }
}
"""


def _program(text):
    result = compile_source(text, "g.rag", REG)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.program


def test_names_count_in_backticks_next_to_their_kind_word_or_as_identifiers():
    assert ("tool", "read_file") in named_in_goal("Read it with the read_file tool", REG)
    assert ("tool", "read_file") in named_in_goal("use read_file on each path", REG)  # has `_`: an identifier
    assert ("tool", "search") in named_in_goal("Use the search tool for the query", REG)
    assert ("tool", "search") in named_in_goal("call `search` first", REG)
    assert ("tool", "search") not in named_in_goal("search the docs and answer", REG)  # English, not a name
    assert ("agent", "summarizer") in named_in_goal("run the summarizer agent on each path", REG)


def test_inputs_are_named_as_input_backtick_name():
    assert inputs_in_goal("For each path in the input list `paths`, and the input `query`") == ["paths", "query"]
    assert inputs_in_goal("an input called `x`; the input `x` again") == ["x"]
    assert inputs_in_goal("no inputs here") == []


def test_a_file_that_uses_what_the_goal_names_has_no_gap():
    program = _program(TOOL_FLOW)
    assert goal_gaps("Read the input `path` with the read_file tool", program, REG) == []


def test_a_missing_tool_and_a_missing_input_are_both_reported():
    program = _program(TOOL_FLOW)
    gaps = goal_gaps("Use the search tool for the input `query`", program, REG)
    messages = [g["message"] for g in gaps]
    assert messages == ["the goal names the tool `search`, which the file does not use",
                        "the goal names the input `query`, which the entry graph does not declare"]
    assert all(g["code"] == "GOAL" and g["severity"] == "error" and g["help"] for g in gaps)


def test_a_tool_only_an_unreachable_node_uses_is_a_gap():
    dead = TOOL_FLOW.replace("start read", "start sum").replace("  node read {", """  node sum {
    kind model
    model "fast"
    prompt "Summarise {{ input.path }}"
    output text
    next END
  }

  node read {""")
    program = _program(dead)
    gaps = goal_gaps("Read it with the read_file tool", program, REG)
    assert [g["message"] for g in gaps] == ["the goal names the tool `read_file`, but node `read` that uses it never "
                                           "runs: no `start`, `next` or route leads to it"]
    assert "`start read`" in gaps[0]["help"]


def test_a_node_nothing_leads_to_is_a_gap_even_when_the_goal_does_not_name_it():
    dead_model = TOOL_FLOW.replace("  node read {", """  node sum {
    kind model
    model "fast"
    prompt "Summarise {{ state.text }}"
    output text
    next END
  }

  node read {""")
    program = _program(dead_model)
    gaps = goal_gaps("Read the input `path` with the read_file tool", program, REG)
    assert [g["message"] for g in gaps] == ["node `sum` never runs: no `start`, `next` or route leads to it"]
