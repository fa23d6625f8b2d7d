"""``workflows/approval_flow.rag`` with a scripted model and a SQLite journal
in ``tmp_path``: draft, stop at the human approval interrupt, resume with
``revise`` (a second draft sees the first), resume with ``publish``
(``announcement.md`` holds the last draft); three revisions give up; and the
same flow through ``ragc run`` / ``ragc resume`` in a subprocess."""

from __future__ import annotations

import json
import shlex

import pytest
from wfkit import WORKFLOWS, Events, last_json, load_workflow, ragc_cli, write_scripted_registry_toml

pytestmark = pytest.mark.anyio

TOPIC = "the ragc 0.1 release"
DRAFTS = [
    # the first matching line answers (each execution starts the script
    # afresh), so the later drafts come first; a list of strings renders
    # as its items separated by blank lines
    {"when": "Earlier drafts: Draft one\n\nDraft two", "text": "Draft three"},
    {"when": "Earlier drafts: Draft one", "text": "Draft two"},
    {"when": f"about {TOPIC}. Earlier drafts: ", "text": "Draft one"},
]


async def test_revise_then_publish_writes_the_last_draft(registry, tmp_path, model_requests):
    ws = tmp_path / "ws"
    ws.mkdir()
    with load_workflow("approval_flow", registry(default=DRAFTS), ws, journal=tmp_path / "runs.sqlite") as wf:
        first = await wf.run({"topic": TOPIC})
        assert first.status == "interrupted", first.error
        assert first.interrupt["question"] == "Publish this draft?"
        assert first.interrupt["options"] == ["publish", "revise"]
        assert first.interrupt["default"] == "revise"
        assert first.state["drafts"] == ["Draft one"] and first.state["rounds"] == 1
        assert not (ws / "announcement.md").exists()

        second = await wf.resume(first.run_id, answer="revise")
        assert second.status == "interrupted" and second.run_id == first.run_id
        assert second.state["drafts"] == ["Draft one", "Draft two"] and second.state["rounds"] == 2
        assert "Earlier drafts: Draft one" in model_requests[-1].last_user()

        events = Events()
        final = await wf.resume(first.run_id, answer="publish", on_event=events)
        assert final.status == "completed", final.error
        assert final.state["drafts"] == ["Draft one", "Draft two"]
        assert (ws / "announcement.md").read_text(encoding="utf-8") == "Draft two"
        assert len(model_requests) == 2, "resuming replays the journaled drafts, it does not ask again"
        (write,) = events.of("tool_call_completed", tool="write_file")
        assert write.node == "publish" and not write.is_error
        assert [e.label for e in events.of("route_chosen", node="approve")][-1] == "publish"


async def test_three_revisions_give_up_without_publishing(registry, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    with load_workflow("approval_flow", registry(default=DRAFTS), ws, journal=tmp_path / "runs.sqlite") as wf:
        result = await wf.run({"topic": TOPIC})
        for _ in range(2):
            assert result.status == "interrupted", result.error
            result = await wf.resume(result.run_id, answer="revise")
        assert result.status == "completed", result.error
        assert result.state["drafts"] == ["Draft one", "Draft two", "Draft three"]
        assert result.state["rounds"] == 3
        assert not (ws / "announcement.md").exists()


def cli_run(tmp_path, *extra: str):
    """``ragc run workflows/approval_flow.rag`` with a scripted registry
    copy; the journal is ``.ragc/runs.sqlite`` in ``tmp_path`` (where the
    commands run, so ``ragc resume`` finds it)."""
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    reg = write_scripted_registry_toml(tmp_path, default=DRAFTS)
    return ragc_cli("run", str(WORKFLOWS / "approval_flow.rag"), "--registry", str(reg), "--workspace", str(ws),
                    "--input", f"topic={TOPIC}", *extra, cwd=tmp_path)


def test_cli_json_run_exits_3_at_the_question_and_resume_publishes(tmp_path):
    proc = cli_run(tmp_path, "--json")
    assert proc.returncode == 3, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    summary = lines[-1]
    assert summary["status"] == "interrupted"
    assert summary["interrupt"]["question"] == "Publish this draft?"
    assert summary["interrupt"]["options"] == ["publish", "revise"]
    assert summary["state"]["drafts"] == ["Draft one"]
    assert "interrupt_raised" in [x["type"] for x in lines[:-1]]
    assert (tmp_path / ".ragc" / "runs.sqlite").is_file()
    run_id = summary["run_id"]
    # stdout stays JSON lines; the question and the resume command go to stderr
    assert "Publish this draft?" in proc.stderr
    assert f"ragc resume {run_id} --answer publish" in proc.stderr

    proc = ragc_cli("resume", run_id, "--answer", "revise", "--json", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert last_json(proc.stdout)["state"]["drafts"] == ["Draft one", "Draft two"]

    proc = ragc_cli("resume", run_id, "--answer", "publish", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    final = last_json(proc.stdout)
    assert final["status"] == "completed" and final["run_id"] == run_id
    assert (tmp_path / "ws" / "announcement.md").read_text(encoding="utf-8") == "Draft two"
    types = [json.loads(line)["type"] for line in proc.stdout.strip().splitlines()[:-1]]
    assert types[0] == "run_started" and types[-1] == "run_finished"


def test_cli_run_prints_the_question_and_the_resume_command_that_works(tmp_path):
    proc = cli_run(tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "Publish this draft?" in proc.stderr and "publish, revise" in proc.stderr
    (command,) = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("ragc resume ")]
    run_id = command.split()[2]
    assert command == f"ragc resume {run_id} --answer publish"

    proc = ragc_cli(*shlex.split(command)[1:], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stderr
    assert (tmp_path / "ws" / "announcement.md").read_text(encoding="utf-8") == "Draft one"
