"""Durability through the server: a ``kill -9`` of ``ragc serve`` mid-run
leaves the run resumable, and a new server resumes it without repeating the
completed model call; a cancelled run is ``cancelled`` and resumable too."""

from __future__ import annotations

import time


def _wait_second_call(server, rid: str, timeout: float = 20) -> None:
    """Until node `second`'s (slow) model call has started: `first` is journaled by then."""
    deadline = time.monotonic() + timeout
    with server.client() as c:
        while time.monotonic() < deadline:
            events = c.get(f"/api/runs/{rid}/events").json()["events"]
            if any(e["type"] == "model_call_started" and e["node"] == "second" for e in events):
                return
            time.sleep(0.05)
    raise AssertionError(f"node `second` did not start: {events}")


def test_a_server_killed_mid_run_loses_nothing(make_server):
    server = make_server()
    with server.client() as c:
        rid = c.post("/api/runs", json={"file": "two_steps.rag", "input": {"topic": "crash"}}).json()["run_id"]
    _wait_second_call(server, rid)  # `first` is journaled, `second` is waiting for its slow reply
    server.kill()

    restarted = make_server()  # same root, same journal, a new process
    with restarted.client() as c:
        row = c.get(f"/api/runs/{rid}").json()
        assert row["status"] == "running" and row["resumable"] and not row["live"]
        listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert listed[rid]["resumable"]
        assert c.post(f"/api/runs/{rid}/resume", json={}).status_code == 202
    done = restarted.wait_status(rid, "completed")
    assert done["state"]["notes"] == ["first note", "second note"]
    calls = restarted.calls()
    assert sum(1 for x in calls if "FIRST" in x["last_user"]) == 1, "the journaled model call was not repeated"
    assert [x["pid"] for x in calls if "SECOND" in x["last_user"]] == [restarted.proc.pid], \
        "the call in flight at the crash ran again, in the new server"


def test_cancel_a_running_run_then_resume_it(make_server):
    server = make_server()
    with server.client() as c:
        rid = c.post("/api/runs", json={"file": "two_steps.rag", "input": {"topic": "stop"}}).json()["run_id"]
        _wait_second_call(server, rid)
        assert c.post(f"/api/runs/{rid}/cancel").status_code == 202
        cancelled = server.wait_status(rid, "cancelled")
        assert cancelled["resumable"] and cancelled["error"]["kind"] == "cancelled"
        assert cancelled["state"]["notes"] == ["first note"]
        again = c.post(f"/api/runs/{rid}/cancel")
        assert again.status_code == 409 and "not running" in again.json()["error"]["message"]
        assert c.post(f"/api/runs/{rid}/resume").status_code == 202
        done = server.wait_status(rid, "completed")
    assert done["state"]["notes"] == ["first note", "second note"]
    assert sum(1 for x in server.calls() if "FIRST" in x["last_user"]) == 1
