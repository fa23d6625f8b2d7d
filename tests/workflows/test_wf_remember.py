"""``workflows/remember.rag`` with a scripted model and the repository's
``assistant`` agent and episodic ``memory`` store: the first run saves a fact
with ``memory_save``; the second run (another workflow object, as a later
process would be) finds it recalled into the agent's task and answers from
it. (``tests/memory/test_memory_runs.py`` adds SIGKILL and resume.)"""

from __future__ import annotations

import sqlite3

import pytest
from wfkit import run_workflow

pytestmark = pytest.mark.anyio

SCRIPT = [
    {"when": "My favourite colour is teal",
     "tool_calls": [{"name": "memory_save", "arguments": {"text": "The user's favourite colour is teal"}}]},
    {"when": "My favourite colour is teal", "text": "Noted."},
    {"when": "- The user's favourite colour is teal", "text": "Your favourite colour is teal."},
    {"when": "What is my favourite colour?", "text": "I do not know."},
]


async def test_a_fact_saved_in_one_run_is_recalled_and_used_in_the_next(registry, tmp_path, model_requests):
    reg = registry(default=SCRIPT)
    ws = tmp_path / "ws"
    ws.mkdir()
    first = await run_workflow("remember", reg, ws, {"message": "My favourite colour is teal"})
    assert first.result.status == "completed", first.result.error
    assert first.result.state["reply"] == "Noted."
    db = reg.base_dir / ".ragc" / "memory.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT agent, text FROM memories").fetchall() == [
            ("assistant", "The user's favourite colour is teal")]

    second = await run_workflow("remember", registry(default=SCRIPT), ws, {"message": "What is my favourite colour?"})
    assert second.result.status == "completed", second.result.error
    assert second.result.state["reply"] == "Your favourite colour is teal."
    asked = model_requests[-1].last_user()
    assert asked.startswith("What is my favourite colour?\n\n# Memory\n")
    assert "- The user's favourite colour is teal" in asked
