"""``.agents/NAME/AGENT.md`` discovery (seed 003's agent folders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.registry.agents_md import discover, parse_agent_md
from ragc.registry.loader import load_registry


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def agent(root: Path, name: str, text: str, tools: str | None = None) -> None:
    d = root / ".agents" / name
    d.mkdir(parents=True)
    (d / "AGENT.md").write_text(text)
    if tools is not None:
        (d / "TOOLS.md").write_text(tools)


def test_agent_md_is_the_system_prompt_and_tools_md_is_appended(tmp_path):
    agent(tmp_path, "writer", "You write short notes.\n", "Use `search` before writing.\n")
    agent(tmp_path, "plain", "You answer.\n")
    found = discover(tmp_path)
    assert sorted(found.agents) == ["plain", "writer"]
    assert found.agents["writer"].system == "You write short notes.\n\n# Tools\n\nUse `search` before writing."
    assert found.agents["plain"].system == "You answer."
    assert found.agents["plain"].model == "default" and found.diagnostics == []


def test_front_matter_sets_agent_keys(tmp_path):
    agent(tmp_path, "r", "---\nmodel: fast\ntools: [search, \"read_file\"]\nmax_iterations: 3\noutput: notes\n---\n"
                         "You research.\n")
    a = discover(tmp_path).agents["r"]
    assert (a.model, a.tools, a.max_iterations, a.output, a.system) == (
        "fast", ("search", "read_file"), 3, "notes", "You research.")


def test_bad_front_matter_is_reported_at_its_line(tmp_path):
    agent(tmp_path, "bad", "---\nmodle: fast\nmax_iterations: zero\nnot a pair\n---\nx\n")
    found = discover(tmp_path)
    lines = sorted((d.code, d.span.line) for d in found.diagnostics)
    assert lines == [("E0809", 2), ("E0809", 3), ("E0809", 4)]
    assert "bad" not in found.agents
    assert found.sources and next(iter(found.sources)).endswith("AGENT.md")


def test_unclosed_front_matter(tmp_path):
    _, _, body, diags = parse_agent_md("---\nmodel: x\nYou help.\n", "AGENT.md")
    assert [d.code for d in diags] == ["E0809"] and body.startswith("---")


def test_registry_entry_wins_over_a_folder(tmp_path):
    (tmp_path / "registry.toml").write_text(
        '[models.default]\nprovider = "local"\n\n[agents.writer]\nsystem = "From the registry."\n')
    agent(tmp_path, "writer", "From the folder.\n")
    agent(tmp_path, "helper", "You help.\n")
    load = load_registry(None, cwd=tmp_path)
    assert load.diagnostics == []
    assert load.registry.agents["writer"].system == "From the registry."
    assert load.registry.agents["helper"].system == "You help."


def test_folders_are_found_next_to_the_registry_not_the_cwd(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "registry.toml").write_text('[models.default]\nprovider = "local"\n')
    agent(conf, "near", "x")
    agent(tmp_path, "far", "y")
    load = load_registry(conf / "registry.toml", cwd=tmp_path)
    assert "near" in load.registry.agents and "far" not in load.registry.agents
    assert "near" in load_registry(conf / "registry.toml", cwd=tmp_path, discover_agents=True).registry.agents
    assert "near" not in load_registry(conf / "registry.toml", cwd=tmp_path, discover_agents=False).registry.agents


def test_discovered_agent_with_unknown_model_is_reported(tmp_path):
    (tmp_path / "registry.toml").write_text('[models.fast]\nprovider = "local"\n')
    agent(tmp_path, "a", "x")
    load = load_registry(None, cwd=tmp_path)
    (d,) = load.diagnostics
    assert d.code == "E0807" and "unknown model `default`" in d.message and ".agents/a/AGENT.md" in d.message


def test_bad_list_elements_are_reported_once(tmp_path):
    agent(tmp_path, "a", "---\ntools: [1, 2]\n---\nhi\n")
    found = discover(tmp_path)
    assert [(d.code, d.message) for d in found.diagnostics] == [
        ("E0809", "invalid front matter value for `tools`: expected a string")]
    assert "a" not in found.agents
