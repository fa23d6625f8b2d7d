"""A ``send`` to a registry tool (a frequent slip of LLM authors) is E0404 with
a help that says how a tool is called: a ``kind tool`` node."""

from __future__ import annotations

from wfkit import REGISTRY_TOML, REPO

from ragc.compiler import compile_source
from ragc.registry.loader import load_registry

REG = load_registry(REGISTRY_TOML, cwd=REPO).registry

SRC = """graph report {
  start plan

  node plan {
    kind model
    model "default"
    prompt "Write a report"
    send [
      write_file { path: "report.md", content: "x" }
    ]
    join END
  }
}
"""


def test_a_send_to_a_tool_says_tools_are_called_by_tool_nodes():
    result = compile_source(SRC, "r.rag", REG)
    [d] = [d for d in result.diagnostics if d.code == "E0404"]
    assert (d.span.line, d.span.column) == (9, 7)
    assert 'kind tool  tool "write_file"' in d.help and "call_write_file" in d.help
    assert any("`kind tool` nodes" in n for n in d.notes)


def test_an_agent_name_with_an_agent_suffix_suggests_the_agent():
    src = SRC.replace('write_file { path: "report.md", content: "x" }', 'summarizer_agent { path: "README.md" }')
    result = compile_source(src, "r.rag", REG)
    [d] = [d for d in result.diagnostics if d.code == "E0404"]
    assert d.help == "did you mean the agent `summarizer`?"
    assert [s.replacement for s in d.suggestions] == ["summarizer"]
