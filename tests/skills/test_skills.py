"""Skills: ``skills/NAME/SKILL.md`` and ``.agents/AGENT/skills/NAME/SKILL.md``
folders discovered into the registry, validated with did-you-mean, given to
an agent (instructions in its system prompt, tools added) and run as a node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ragc
from ragc.compiler import compile_source
from ragc.harness import Harness
from ragc.harness.types import AgentSpec, Message
from ragc.registry.loader import load_registry

SUMMARIZE = """---
description: Summarize a text in three plain sentences.
tools: [read_file]
---
# Summarize

Read the file you are given with read_file, then write three plain sentences.
"""

CITE = """# Cite

Cite every claim with the file path it came from.
"""

REGISTRY = """
[models.default]
provider = "scripted"
script = "model.jsonl"
max_retries = 0

[agents.writer]
skills = ["summarize", "cite"]
prompt = "{{ input.path }}"
"""


def _project(tmp_path: Path, registry: str = REGISTRY, script: list | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "registry.toml").write_text(registry)
    (tmp_path / "skills" / "summarize").mkdir(parents=True)
    (tmp_path / "skills" / "summarize" / "SKILL.md").write_text(SUMMARIZE)
    (tmp_path / ".agents" / "writer_notes" / "skills" / "cite").mkdir(parents=True)
    (tmp_path / ".agents" / "writer_notes" / "skills" / "cite" / "SKILL.md").write_text(CITE)
    (tmp_path / "notes.txt").write_text("Joins wait for their branches.\n")
    (tmp_path / "model.jsonl").write_text("".join(json.dumps(x) + "\n" for x in (script or [])))
    return tmp_path


def test_skill_folders_are_discovered(tmp_path):
    root = _project(tmp_path)
    load = load_registry(root / "registry.toml", cwd=root)
    assert load.ok, load.diagnostics
    reg = load.registry
    assert sorted(reg.skills) == ["cite", "summarize"]
    assert reg.skills["summarize"].description == "Summarize a text in three plain sentences."
    assert reg.skills["summarize"].tools == ("read_file",)
    assert reg.skills["cite"].description == "Cite every claim with the file path it came from."
    # each skill is runnable as an agent of its name
    assert reg.agents["summarize"].skills == ("summarize",)


def test_skill_names_are_validated_with_did_you_mean(tmp_path):
    root = _project(tmp_path, REGISTRY.replace('"summarize", "cite"', '"sumarize"'))
    load = load_registry(root / "registry.toml", cwd=root)
    assert [(d.code, d.help) for d in load.diagnostics if d.is_error] == [("E0874", "did you mean `summarize`?")]
    # a workflow naming a skill as a node gets the checker's did-you-mean too
    load = load_registry(_project(tmp_path / "b").joinpath("registry.toml"), cwd=tmp_path / "b")
    r = compile_source('graph g {\n  start a\n  node a {\n    kind subagent\n    agent "sumarize"\n  }\n}\n',
                       "g.rag", load.registry)
    assert [(d.code, d.help) for d in r.diagnostics] == [("E0108", "did you mean `summarize`?")]


def test_a_malformed_skill_is_a_diagnostic(tmp_path):
    root = _project(tmp_path)
    (root / "skills" / "broken").mkdir()
    (root / "skills" / "broken" / "SKILL.md").write_text("---\ntool: [x]\n---\n\n")
    load = load_registry(root / "registry.toml", cwd=root)
    errors = sorted((d.code, d.message) for d in load.diagnostics if d.is_error)
    assert errors == [("E0870", "skill `broken` has no description"), ("E0870", "unknown skill front matter key `tool`")]


def test_an_agent_given_skills_gets_their_instructions_and_tools(tmp_path):
    root = _project(tmp_path)
    reg = load_registry(root / "registry.toml", cwd=root).registry
    h = Harness(reg, workspace=root)
    spec, messages, own = h._extend(h.agent_spec("writer"), [Message(role="user", content="notes.txt")])
    assert spec.tools == ["read_file"] and own == {}
    assert "# Skill: summarize\nSummarize a text in three plain sentences." in spec.system
    assert "# Skill: cite\nCite every claim" in spec.system
    assert messages[0].content == "notes.txt"


WORKFLOW = """
graph g {
  input {
    path: string
  }
  start write
  channel text last
  node write {
    kind subagent
    agent "AGENT"
    input { path: input.path }
    output text
  }
}
"""


@pytest.mark.parametrize("agent", ["writer", "summarize"])
def test_a_run_uses_a_skill(tmp_path, agent, monkeypatch):
    script = [{"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]},
              {"text": "Joins wait for their branches (notes.txt)."}]
    root = _project(tmp_path, script=script)
    (root / "flow.rag").write_text(WORKFLOW.replace("AGENT", agent))
    seen = []
    result = ragc.run(root / "flow.rag", {"path": "notes.txt"}, registry=root / "registry.toml", journal=None,
                      workspace=root, on_event=seen.append)
    assert result.status == "completed", result.error
    assert result.state["text"] == "Joins wait for their branches (notes.txt)."
    (tool,) = [e for e in seen if type(e).__name__ == "ToolCallCompleted"]
    assert tool.tool == "read_file" and not tool.is_error  # granted by the skill
    assert "Joins wait" in tool.summary
