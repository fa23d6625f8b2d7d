"""A ``scripted`` model continues its script across ``resume``: a run ends in
the same state whether or not it was interrupted (by a human's interrupt or
by a crash) -- the replies of a resumed leg are the script's next lines, not
its first ones again (issue 9, point 6)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from wfkit import load_workflow

import ragc

pytestmark = pytest.mark.anyio

DRAFTS = [{"text": "DRAFT-1"}, {"text": "DRAFT-2"}, {"text": "DRAFT-3"}]

LOOP = """
graph drafts {
  start draft
  channel drafts append
  channel rounds sum

  node draft {
    kind model
    model "default"
    prompt "Write draft number {{ state.rounds }}"
    output drafts
    command {
      update { rounds: 1 }
    }
    next gate
  }

  node gate {
    kind router
    routes {
      again -> draft when state.rounds < 3
      done -> END
    }
  }
}
"""


async def test_an_approval_loop_gets_the_next_draft_after_each_resume(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    with load_workflow("approval_flow", registry(default=DRAFTS), ws, journal=tmp_path / "runs.sqlite") as wf:
        first = await wf.run({"topic": "ragc"})
        assert first.status == "interrupted" and first.state["drafts"] == ["DRAFT-1"]
        second = await wf.resume(first.run_id, answer="revise")
        assert second.status == "interrupted"
        assert second.state["drafts"] == ["DRAFT-1", "DRAFT-2"], "the script went on at its second line"
        final = await wf.resume(first.run_id, answer="publish")
    assert final.status == "completed", final.error
    assert (ws / "announcement.md").read_text(encoding="utf-8") == "DRAFT-2"


def _loop(tmp_path: Path, registry, delay_ms: int) -> ragc.Workflow:
    source = tmp_path / "drafts.rag"
    source.write_text(LOOP, encoding="utf-8")
    lines = [DRAFTS[0], {**DRAFTS[1], "delay_ms": delay_ms}, DRAFTS[2]]
    return ragc.load(source, registry=registry(default=lines), journal=tmp_path / "runs.sqlite",
                     workspace=tmp_path)


async def test_a_crashed_and_resumed_loop_ends_in_the_state_of_an_uninterrupted_one(registry, tmp_path):
    straight_dir = tmp_path / "straight"
    straight_dir.mkdir()
    with _loop(straight_dir, registry, delay_ms=0) as wf:
        straight = await wf.run({})
    assert straight.status == "completed", straight.error

    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    with _loop(crash_dir, registry, delay_ms=2000) as wf:
        # stop the run while the second draft is being written (the first is journaled)
        with anyio.move_on_after(0.5):
            await wf.run({}, run_id="crash-1")
    with _loop(crash_dir, registry, delay_ms=0) as wf:  # a new process: the script starts afresh
        resumed = await wf.resume("crash-1")
    assert resumed.status == "completed", resumed.error
    assert resumed.state == straight.state
    assert resumed.state["drafts"] == ["DRAFT-1", "DRAFT-2", "DRAFT-3"]
