"""MCP tool servers end to end: real servers (stdio and streamable HTTP,
written with the SDK's FastMCP in ``servers/``), the registry that grants
them, ``ragc check`` validating names and arguments against the listed
schemas, and runs through the Python API (tool nodes and agent loops)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import ragc
from ragc.compiler import compile_source
from ragc.harness.tools import mcp as mcp_mod
from ragc.registry.loader import load_registry

from mcp_test_support import stdio_command, toml_list

pytestmark = pytest.mark.timeout(120)

STDIO = f"""
[models.default]
provider = "scripted"
script = "model.jsonl"
max_retries = 0

[mcp_servers.notes]
command = {toml_list(stdio_command())}
"""

TOOL_NODE = """
graph g {
  start call
  channel value last
  node call {
    kind tool
    tool "notes/add"
    args { a: 2, b: 3 }
    output value
  }
}
"""


def _run(root: Path, rag: str, inputs: dict | None = None, **kw):
    (root / "flow.rag").write_text(rag, encoding="utf-8")
    return ragc.run(root / "flow.rag", inputs or {}, registry=root / "registry.toml", journal=None, **kw)


def test_a_tool_node_calls_a_stdio_server(project):
    root = project(STDIO, {"model.jsonl": []})
    result = _run(root, TOOL_NODE)
    assert result.status == "completed", result.error
    assert result.state["value"] == {"result": 5}


def test_a_tool_node_calls_a_streamable_http_server(project, http_server):
    root = project(STDIO.replace(f"command = {toml_list(stdio_command())}", f'url = "{http_server}"'),
                   {"model.jsonl": []})
    result = _run(root, TOOL_NODE.replace('"notes/add"\n    args { a: 2, b: 3 }', '"notes/shout"\n    args { text: "hi" }'))
    assert result.status == "completed", result.error
    assert result.state["value"] == {"result": "HI"}


def test_an_inline_tool_entry_names_the_servers_tool(project):
    reg = STDIO + f"""
[tools.plus]
mcp = {{ command = {toml_list(stdio_command())} }}
mcp_tool = "add"
"""
    root = project(reg, {"model.jsonl": []})
    result = _run(root, TOOL_NODE.replace('"notes/add"', '"plus"'))
    assert result.status == "completed", result.error
    assert result.state["value"] == {"result": 5}


AGENT = STDIO + """
[agents.helper]
tools = ["notes/crash", "notes/pid", "notes/malformed", "notes/add"]
max_iterations = 6
"""

AGENT_RAG = """
graph g {
  start ask
  channel answer last
  node ask {
    kind subagent
    agent "helper"
    output answer
  }
}
"""


def test_an_agent_survives_a_crashing_server_and_a_malformed_result(project):
    script = [
        {"tool_calls": [{"name": "notes/pid", "arguments": {}}]},
        {"tool_calls": [{"name": "notes/crash", "arguments": {}}]},
        {"tool_calls": [{"name": "notes/pid", "arguments": {}}]},
        {"tool_calls": [{"name": "notes/malformed", "arguments": {}}]},
        {"tool_calls": [{"name": "notes/add", "arguments": {"a": "x"}}]},
        {"text": "done"},
    ]
    root = project(AGENT, {"model.jsonl": script})
    seen = []
    result = _run(root, AGENT_RAG, {}, on_event=seen.append)
    assert result.status == "completed", result.error
    done = [e for e in seen if type(e).__name__ == "ToolCallCompleted"]
    assert [e.tool for e in done] == ["notes/pid", "notes/crash", "notes/pid", "notes/malformed", "notes/add"]
    assert [e.is_error for e in done] == [False, True, False, True, True]
    assert "stopped during the call" in done[1].summary
    first_pid, second_pid = int(done[0].summary), int(done[2].summary)
    assert first_pid != second_pid  # restarted: another process
    assert "malformed result" in done[3].summary
    assert "invalid arguments" in done[4].summary and "'x' is not of type 'integer'" in done[4].summary
    # the session was closed at the end of the run: the server process is gone
    with pytest.raises(ProcessLookupError):
        os.kill(second_pid, 0)


@pytest.mark.anyio
async def test_one_session_per_server_results_bounded_and_closed_at_the_end(project):
    from ragc.harness.tools import ToolRegistry, Workspace

    root = project(STDIO, {"model.jsonl": []})
    reg = load_registry(root / "registry.toml", cwd=root).registry
    tools = ToolRegistry(reg, Workspace(root))
    try:
        first = await tools.call("notes/pid", {})
        big = await tools.call("notes/big", {"n": 40_000})
        second = await tools.call("notes/pid", {})
    finally:
        await tools.aclose()
    assert first.content == second.content  # the same session (one server process)
    assert len(big.content.encode()) < 16 * 1024 + 100
    assert big.content.endswith("[... output truncated: 16384 of 40000 bytes shown]")
    with pytest.raises(ProcessLookupError):
        os.kill(int(first.content), 0)


def test_the_policy_narrows_mcp_tools(project):
    reg = AGENT.replace('tools = ["notes/crash", "notes/pid", "notes/malformed", "notes/add"]',
                        'tools = ["notes/add"]') + '\n[policies.default]\ndeny_tools = ["notes/add"]\n'
    root = project(reg, {"model.jsonl": [{"text": "x"}]})
    load = load_registry(root / "registry.toml", cwd=root)
    assert load.ok, load.diagnostics
    r = compile_source(TOOL_NODE, "flow.rag", load.registry)
    assert any(d.code.startswith("E06") and "notes/add" in d.message for d in r.diagnostics), r.diagnostics


CHECKED = STDIO + "list_at_check = true\n"


def _check(root: Path, rag: str) -> list:
    load = load_registry(root / "registry.toml", cwd=root)
    assert load.ok, load.diagnostics
    return compile_source(rag, "flow.rag", load.registry).diagnostics


def test_check_lists_the_server_and_validates_names_and_arguments(project):
    root = project(CHECKED, {"model.jsonl": []})
    assert [d.code for d in _check(root, TOOL_NODE) if d.is_error] == []
    bad_name = _check(root, TOOL_NODE.replace('"notes/add"', '"notes/ad"'))
    assert [d.code for d in bad_name] == ["E0872"] and bad_name[0].help == "did you mean `notes/add`?"
    bad_args = _check(root, TOOL_NODE.replace("args { a: 2, b: 3 }", 'args { a: "two", c: 3 }'))
    messages = sorted(d.message for d in bad_args)
    assert [d.code for d in bad_args] == ["E0873"] * 3
    assert messages == ["`notes/add` has no argument `c`", "`notes/add` needs argument `b`",
                        "argument `a` of `notes/add` must be of type integer"]
    # an agent's tool list in the workflow is checked too
    unknown = _check(root, AGENT_RAG.replace('kind subagent\n    agent "helper"',
                                             'kind agent\n    tools ["notes/pidd"]\n    prompt "x"'))
    assert "E0872" in [d.code for d in unknown]
    # and the MCP tools of a registry agent a subagent node runs
    (root / "registry.toml").write_text(CHECKED + '\n[agents.helper]\ntools = ["notes/pid", "notes/pidd"]\n')
    (via,) = _check(root, AGENT_RAG)
    assert via.code == "E0872" and via.primary.message == "`notes/pidd`, a tool of agent `helper`: not listed"


def test_check_time_listings_are_cached(project, monkeypatch):
    root = project(CHECKED, {"model.jsonl": []})
    _check(root, TOOL_NODE)
    cache = json.loads((root / ".ragc" / "mcp-tools.json").read_text())
    (entry,) = cache.values()
    assert {t["name"] for t in entry["tools"]} == {"add", "shout", "crash", "malformed", "big", "pid"}

    def no_server(*a, **k):
        raise AssertionError("the cached listing should have been used")

    monkeypatch.setattr(mcp_mod, "list_tools_now", no_server)
    assert [d.code for d in _check(root, TOOL_NODE.replace('"notes/add"', '"notes/ad"'))] == ["E0872"]
    # past its time to live the server is listed again
    with pytest.raises(AssertionError, match="cached listing"):
        load = load_registry(root / "registry.toml", cwd=root)
        (key, server), = load.registry.mcp_servers.items()
        mcp_mod.list_tools_cached(server, root, key, now=entry["at"] + server.cache_ttl + 1)


def test_a_server_that_cannot_start_is_a_diagnostic_at_check_and_an_error_result_at_run(project):
    root = project(CHECKED.replace(toml_list(stdio_command()), '["no-such-program-ragc"]'), {"model.jsonl": []})
    assert [d.code for d in _check(root, TOOL_NODE)] == ["E0871"]
    root = project(STDIO.replace(toml_list(stdio_command()), '["no-such-program-ragc"]'), {"model.jsonl": []})
    result = _run(root, TOOL_NODE)
    assert result.status == "failed"
    assert "did not start" in result.error.message


def test_registry_names_of_mcp_servers_are_validated(project):
    root = project(STDIO + '\n[tools.x]\nmcp = "notse"\n\n[agents.a]\ntools = ["notes/add"]\n', {"model.jsonl": []})
    load = load_registry(root / "registry.toml", cwd=root)
    assert [(d.code, d.help) for d in load.diagnostics if d.is_error] == [("E0874", "did you mean `notes`?")]
