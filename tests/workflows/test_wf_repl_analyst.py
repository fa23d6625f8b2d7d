"""``workflows/repl_analyst.rag`` with scripted models: the ``repl`` node's
model lists and reads workspace files in ``.ragsh`` cells, asks the ``fast``
model, and answers; a loop that never answers takes the ``error`` route to
the plain-reply fallback."""

from __future__ import annotations

import json

import pytest
from wfkit import run_workflow

pytestmark = pytest.mark.anyio


def cell(code: str, when: str | None = None) -> dict:
    line = {"text": f"```ragsh\n{code}\n```"}
    if when is not None:
        line["when"] = when
    return line


async def test_the_model_reads_files_in_cells_and_answers(registry, tmp_path):
    ws = tmp_path / "ws"
    (ws / "notes").mkdir(parents=True)
    (ws / "notes" / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (ws / "notes" / "b.txt").write_text("four\n", encoding="utf-8")
    default = [
        cell('files = tool_call("list_files", {"path": "notes"})\nprint(files)', when="Answer from the files"),
        cell('counts = {}\nfor f in ["notes/a.txt", "notes/b.txt"]:\n'
             '    counts[f] = len(tool_call("read_file", {"path": f}).strip().split("\\n"))\nprint(counts)',
             when="a.txt"),
        cell('verdict = model_query("fast", "Say which file is longer: %s" % json.encode(counts))\n'
             'answer({"lines": counts, "verdict": verdict})', when='"notes/a.txt": 3'),
    ]
    fast = [{"when": "Say which file is longer", "text": "a.txt is longer"}]
    run = await run_workflow("repl_analyst", registry(default=default, fast=fast), ws,
                             {"question": "How many lines does each note have?"})
    assert run.result.status == "completed", run.result.error
    assert run.result.state["answer"] == {"lines": {"notes/a.txt": 3, "notes/b.txt": 1},
                                          "verdict": "a.txt is longer"}
    assert [e.tool for e in run.events.of("tool_call_completed")] == ["list_files", "read_file", "read_file"]
    assert [e.label for e in run.events.of("route_chosen", node="analyse")] == ["ok"]
    json.dumps(run.result.state)  # the state stays JSON


async def test_a_loop_without_an_answer_falls_back(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    default = [{"text": "```ragsh\nprint('still thinking')\n```", "repeat": True}]
    fast = [{"when": "could not be analysed", "text": "Sorry, I could not analyse the files."}]
    run = await run_workflow("repl_analyst", registry(default=default, fast=fast), ws, {"question": "Anything?"})
    assert run.result.status == "completed", run.result.error
    assert run.result.state["answer"] == "Sorry, I could not analyse the files."
    [err] = run.result.state["errors"]
    assert err["node"] == "analyse" and err["error_kind"] == "limit" and "max_turns (6)" in err["message"]
    assert len(run.events.of("model_call_completed", node="analyse")) == 6
