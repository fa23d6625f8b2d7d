"""``workflows/map_reduce.rag`` with scripted models: one ``summarizer``
branch per file of a folder (the agent defined by ``.agents/summarizer/``),
finishing out of order; the summaries merge in file order, at most
``max_concurrency`` (4) branches run at once, and the combine node's text is
the ``summary``."""

from __future__ import annotations

from pathlib import Path

import pytest
from wfkit import Events, Line, run_workflow

pytestmark = pytest.mark.anyio


def make_folder(ws: Path, names: list[str]) -> None:
    (ws / "notes").mkdir(parents=True)
    for name in names:
        (ws / "notes" / name).write_text(f"# {name}\n\nNotes about {name.split('.')[0]}.\n", encoding="utf-8")


def summarizer_lines(names: list[str], delays_ms: list[int]) -> list[Line]:
    """Each branch reads its file, then answers after its delay."""
    lines: list[Line] = []
    for name, delay in zip(names, delays_ms):
        path = f"notes/{name}"
        lines.append({"when": f"Summarise the file {path}.",
                      "tool_calls": [{"name": "read_file", "arguments": {"path": path}}]})
        lines.append({"when": f"Summarise the file {path}.", "text": f"summary of {path}", "delay_ms": delay})
    return lines


def max_in_flight(events: Events, node: str) -> int:
    """The most activations of ``node`` running at the same time."""
    running = peak = 0
    for e, type_ in zip(events.items, events.types()):
        if getattr(e, "node", None) != node:
            continue
        if type_ == "node_started":
            running += 1
            peak = max(peak, running)
        elif type_ in ("node_completed", "node_failed", "node_cancelled"):
            running -= 1
    return peak


async def test_summaries_merge_in_file_order_and_combine(registry, tmp_path, model_requests):
    names = ["alpha.md", "beta.md", "gamma.md", "delta.md"]
    ws = tmp_path / "ws"
    make_folder(ws, names)
    fast = [{"when": "folder is for", "text": "Project notes."},
            *summarizer_lines(names, [300, 10, 150, 0])]
    default = [{"when": "Combine these file summaries", "text": "One page: alpha, beta, gamma and delta."}]
    run = await run_workflow("map_reduce", registry(fast=fast, default=default), ws, {"folder": "notes"})
    result, events = run.result, run.events

    assert result.status == "completed", result.error
    # list_files sorts by name: the branch order
    assert result.state["files"] == [f"notes/{n}" for n in sorted(names)]
    assert result.state["summaries"] == [f"summary of notes/{n}" for n in sorted(names)]
    assert result.state["summary"] == "One page: alpha, beta, gamma and delta."

    # the branches finished out of branch order
    finished = [e.branch for e in events.of("branch_finished", node="summarizer")]
    assert sorted(finished) == [0, 1, 2, 3] and finished != [0, 1, 2, 3]
    assert max_in_flight(events, "summarizer") == 4
    reads = events.of("tool_call_completed", tool="read_file", node="summarizer")
    assert len(reads) == 4 and not any(e.is_error for e in reads)

    # the agent folder's system prompt (AGENT.md + TOOLS.md) was used
    summarise = [r for r in model_requests if r.last_user().startswith("Summarise the file")]
    assert len(summarise) == 8
    system = summarise[0].messages[0].content
    assert system.startswith("You summarise one source file") and "# Tools" in system
    # the combine prompt lists the summaries in file order
    combine = [r for r in model_requests if "Combine these file summaries" in r.last_user()]
    assert len(combine) == 1
    text = combine[0].last_user()
    positions = [text.index(f"summary of notes/{n}") for n in sorted(names)]
    assert positions == sorted(positions)


async def test_at_most_four_summarizers_run_at_once(registry, tmp_path):
    names = [f"part{i}.md" for i in range(7)]
    ws = tmp_path / "ws"
    make_folder(ws, names)
    fast = [{"when": "folder is for", "text": "Parts."}, *summarizer_lines(names, [40] * len(names))]
    default = [{"when": "Combine these file summaries", "text": "All parts."}]
    run = await run_workflow("map_reduce", registry(fast=fast, default=default), ws, {"folder": "notes"})

    assert run.result.status == "completed", run.result.error
    assert run.result.state["summaries"] == [f"summary of notes/{n}" for n in names]
    assert max_in_flight(run.events, "summarizer") == 4
    assert len(run.events.of("node_started", node="summarizer")) == 7
