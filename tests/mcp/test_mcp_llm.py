"""``workflows/mcp_units.rag`` with the embedded model (Qwen2.5-Coder-0.5B
via llama.cpp, 2 threads): the agent calls the ``units`` MCP server's
``convert`` tool (a real stdio server, ``workflows/servers/units_server.py``)
and answers from its result. Marked ``llm``: needs ``ragc[local]`` and the
installed model; about 1-2 minutes on 2 shared cores. The assertions are on
the tool call and the number in the answer, not on the model's wording."""

from __future__ import annotations

from pathlib import Path

import pytest

import ragc
from ragc.harness import local_models

pytestmark = pytest.mark.llm

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_ready():
    pytest.importorskip("llama_cpp")
    try:
        local_models.ensure_model("qwen2.5-coder-0.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


@pytest.mark.timeout(400)
def test_the_agent_answers_with_the_mcp_tools_result(model_ready, monkeypatch):
    monkeypatch.chdir(REPO)
    seen = []
    result = ragc.run("workflows/mcp_units.rag", {"question": "How many miles is 42 km?"},
                      registry="registry.toml", journal=None, on_event=seen.append)
    assert result.status == "completed", result.error
    calls = [e for e in seen if type(e).__name__ == "ToolCallCompleted"]
    assert [c.tool for c in calls] == ["units/convert"] and not calls[0].is_error
    assert calls[0].summary == "42 km = 26.10 mi"
    assert "26.1" in result.state["answer"]
