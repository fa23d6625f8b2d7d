"""``workflows/mcp_units.rag`` with a scripted model: the repository's
``unit_converter`` agent calls ``units/convert`` on the real MCP server of
``workflows/servers/units_server.py`` (stdio) and answers from its result;
``ragc check`` lists that server and catches a misspelt tool.
(``tests/mcp/test_mcp_llm.py`` runs it with the embedded model.)"""

from __future__ import annotations

import pytest
from wfkit import REPO, ragc_cli, run_workflow

pytestmark = pytest.mark.anyio

SCRIPT = [
    {"when": "How many miles is 42 km?",
     "tool_calls": [{"name": "units/convert", "arguments": {"value": 42, "from_unit": "km", "to_unit": "mi"}}]},
    {"when": "How many miles is 42 km?", "text": "42 km is 26.10 miles."},
]


async def test_the_agent_answers_with_the_servers_tool(registry, tmp_path):
    reg = registry(fast=SCRIPT)
    # the scripts live in tmp_path: start the server from the repository's copy
    units = reg.mcp_servers["units"]
    server = units.model_copy(update={"command": ("python", str(REPO / "workflows" / "servers" / "units_server.py"))})
    reg = reg.model_copy(update={"mcp_servers": {**reg.mcp_servers, "units": server}})
    reg.source = tmp_path / "scripts" / "registry.toml"
    ws = tmp_path / "ws"
    ws.mkdir()
    run = await run_workflow("mcp_units", reg, ws, {"question": "How many miles is 42 km?"})
    assert run.result.status == "completed", run.result.error
    assert run.result.state["answer"] == "42 km is 26.10 miles."
    (done,) = run.events.of("tool_call_completed")
    assert done.tool == "units/convert" and not done.is_error and done.summary == "42 km = 26.10 mi"


def test_check_lists_the_server_and_catches_a_misspelt_tool(tmp_path):
    bad = tmp_path / "bad.rag"
    bad.write_text('graph bad {\n  start a\n  channel v last\n  node a {\n    kind tool\n    tool "units/convrt"\n'
                   '    args { value: 1, from_unit: "km", to_unit: "mi" }\n    output v\n  }\n}\n')
    res = ragc_cli("check", str(bad), "--registry", str(REPO / "registry.toml"), cwd=REPO)
    assert res.returncode != 0
    assert "E0872" in res.stdout + res.stderr and "did you mean `units/convert`?" in res.stdout + res.stderr
