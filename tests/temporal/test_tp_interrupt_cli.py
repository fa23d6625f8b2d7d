"""An interrupt on Temporal through the CLI (real subprocesses): ``ragc run
--engine temporal`` stops at the question (exit 3) and says how to go on;
``ragc resume RUN --answer X --engine temporal`` with a wrong answer is
refused with the options listed (exit 2, the run still waits); ``ragc runs
show`` shows the question; the right answer completes the run (the
``publish`` tool writes the draft); ``ragc runs list`` lists it."""

from __future__ import annotations

import json
import uuid

import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from wfkit import WORKFLOWS, write_scripted_registry_toml  # noqa: E402

pytestmark = pytest.mark.anyio

DRAFTS = [{"when": "about the ragc 0.1 release", "text": "Draft one"}]


async def test_resume_answers_a_temporal_interrupt_and_refuses_a_wrong_answer(tmp_path, dev_server):
    reg = write_scripted_registry_toml(tmp_path, default=DRAFTS)
    ws = tmp_path / "ws"
    ws.mkdir()
    q = tkit.queue()
    rid = f"cli-{uuid.uuid4().hex[:8]}"
    conn = ("--temporal-address", dev_server.address, "--task-queue", q)
    async with tkit.worker(dev_server.address, q, tkit.registry_of(reg)):
        r = await tkit.ragc_async("run", str(WORKFLOWS / "approval_flow.rag"), "--engine", "temporal", *conn,
                                  "--registry", str(reg), "--workspace", str(ws), "--input",
                                  "topic=the ragc 0.1 release", "--run-id", rid, cwd=tmp_path)
        assert r.returncode == 3, r.stderr
        assert "interrupted: Publish this draft?" in r.stderr
        assert "options: publish, revise" in r.stderr
        assert f"ragc resume {rid} --answer publish --engine temporal" in r.stderr

        r = await tkit.ragc_async("resume", rid, "--answer", "maybe", "--engine", "temporal", *conn, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "E0911" in r.stderr and "`maybe` is not an option" in r.stderr and "publish, revise" in r.stderr
        assert "Traceback" not in r.stderr

        r = await tkit.ragc_async("runs", "show", rid, "--engine", "temporal", "--json", *conn, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["status"] == "interrupted" and shown["interrupt"]["options"] == ["publish", "revise"]
        assert shown["state"]["drafts"] == ["Draft one"]
        assert not (ws / "announcement.md").exists()

        r = await tkit.ragc_async("resume", rid, "--answer", "publish", "--engine", "temporal", "--json", *conn,
                                  cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert out["status"] == "completed" and out["state"]["drafts"] == ["Draft one"]
        assert (ws / "announcement.md").read_text(encoding="utf-8") == "Draft one"

        r = await tkit.ragc_async("runs", "events", rid, "--engine", "temporal", "--json", *conn, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        events = [json.loads(x) for x in r.stdout.splitlines()]
        kinds = [(e["type"], e.get("activation") or e.get("update")) for e in events]
        for node in ("draft#1", "publish#1"):
            assert ("activity_task_scheduled", node) in kinds and ("activity_task_completed", node) in kinds
        assert ("workflow_execution_update_accepted", "answer") in kinds
        assert kinds[0][0] == "workflow_execution_started" and kinds[-1][0] == "workflow_execution_completed"
        r = await tkit.ragc_async("runs", "events", rid, "--engine", "temporal", *conn, cwd=tmp_path)
        assert r.returncode == 0 and "activity_task_completed" in r.stdout and "publish#1" in r.stdout, r.stderr

        r = await tkit.ragc_async("runs", "list", "--engine", "temporal", "--json", *conn, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert {"id": rid, "status": "completed"}.items() <= next(x for x in json.loads(r.stdout)
                                                                 if x["id"] == rid).items()


async def test_no_worker_and_no_server_are_clear_errors(tmp_path, dev_server):
    reg = write_scripted_registry_toml(tmp_path, default=DRAFTS)
    rag = str(WORKFLOWS / "approval_flow.rag")
    r = await tkit.ragc_async("run", rag, "--engine", "temporal", "--temporal-address", dev_server.address,
                              "--task-queue", tkit.queue(), "--registry", str(reg), "--input", "topic=x", cwd=tmp_path)
    assert r.returncode == 2 and "error[E0931]: no worker polls the task queue" in r.stderr, r.stderr
    assert "ragc worker --task-queue" in r.stderr and "Traceback" not in r.stderr
    from ragc.temporal.devserver import free_port

    r = await tkit.ragc_async("resume", "nope", "--answer", "x", "--engine", "temporal", "--temporal-address",
                              f"127.0.0.1:{free_port()}", cwd=tmp_path)
    assert r.returncode == 2 and "error[E0930]: cannot reach the Temporal server" in r.stderr, r.stderr
    r = await tkit.ragc_async("runs", "show", "no-such-run", "--engine", "temporal", "--temporal-address",
                              dev_server.address, cwd=tmp_path)
    assert r.returncode == 2 and "error[E0933]: no run no-such-run" in r.stderr, r.stderr


def test_without_the_temporal_extra_the_commands_say_how_to_install_it(tmp_path):
    import subprocess
    import sys

    # a fresh interpreter in which `import temporalio` fails, as without the extra
    code = ("import sys; sys.modules['temporalio'] = None\n"
            "from ragc.cli.main import main\n"
            "sys.exit(main(['runs', 'list', '--engine', 'temporal']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=tkit.cli_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "error[E0932]: the Temporal engine needs the `temporal` extra" in r.stderr
    assert "pip install 'ragc[temporal]'" in r.stderr and "Traceback" not in r.stderr
