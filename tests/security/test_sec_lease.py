"""One owner per run (issue 16 point 4) and a truthful status after a crash
or Ctrl-C (issue 13 point 2), with real `ragc` processes, a real SQLite
journal and a real 127.0.0.1 model server that counts the calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from servers.http_server import Reply, ScriptedServer
from servers.openai_wire import completion
from ragc.runtime.journal import LEASE_STALE_S, LeaseHeld, SqliteStore

RAGC = [sys.executable, "-m", "ragc"]

WORKFLOW = """graph chain {
  channel notes append
  start a
  node a { kind model prompt "step A" output notes next b }
  node b { kind model prompt "step B" output notes next c }
  node c { kind model prompt "step C" output notes }
}
"""


class CountingModel:
    """An OpenAI-compatible server answering `step X` prompts; `hold` is the
    step whose requests wait until `release` is set; every reply waits
    `delay` seconds (so two processes overlap)."""

    def __init__(self) -> None:
        self.server = ScriptedServer()
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hold: str | None = None
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.delay = 0.0
        self.server.responder = self.respond

    def respond(self, rec):
        prompt = json.dumps(rec.json)
        step = next((s for s in "ABC" if f"step {s}" in prompt), "?")
        with self.lock:
            self.calls[step] = self.calls.get(step, 0) + 1
        if step == self.hold:
            self.arrived.set()
            self.release.wait(60)
        return Reply(json=completion(f"did {step}"), delay=self.delay)


@pytest.fixture
def model():
    m = CountingModel()
    with m.server:
        yield m
        m.release.set()


@pytest.fixture
def project(tmp_path: Path, model) -> Path:
    (tmp_path / "chain.rag").write_text(WORKFLOW)
    (tmp_path / "registry.toml").write_text(
        f'[models.default]\nprovider = "openai"\nmodel = "gpt-test"\nbase_url = "{model.server.url}/v1"\n'
        'api_key = "test-key"\n')
    return tmp_path


def env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "NO_COLOR": "1"}


def ragc(project: Path, *argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([*RAGC, *argv], cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def runs_list(project: Path) -> dict[str, dict]:
    code, out, err = finish(ragc(project, "runs", "list", "--json"))
    assert code == 0, err
    return {r["run_id"]: r for r in map(json.loads, out.splitlines())}


def start_held_at_b(project: Path, model: CountingModel, run_id: str) -> subprocess.Popen:
    model.hold = "B"
    p = ragc(project, "run", "chain.rag", "--run-id", run_id, "--json")
    assert model.arrived.wait(60), "the run never reached step B"
    return p


def test_two_resumes_started_together_exactly_one_runs_and_no_call_is_repeated(project: Path, model):
    first = start_held_at_b(project, model, "r-crash")
    os.kill(first.pid, signal.SIGKILL)  # step A journaled, step B in flight
    first.wait(30)
    assert runs_list(project)["r-crash"]["status"] == "crashed"
    code, out, _ = finish(ragc(project, "runs", "show", "r-crash"))
    assert "status crashed" in out and "ragc resume r-crash" in out

    model.hold, model.delay = None, 1.5  # each resume call takes 1.5 s: the two processes overlap
    model.release.set()
    both = [ragc(project, "resume", "r-crash", "--json"), ragc(project, "resume", "r-crash", "--json")]
    results = [finish(p) for p in both]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 2)
    assert json.loads(winner[1].splitlines()[-1])["status"] == "completed"
    assert "E0960" in loser[2] and "being run by process" in loser[2] and socket.gethostname() in loser[2]
    assert "Traceback" not in loser[2] and "UNIQUE constraint" not in loser[2]
    # A once (first leg), B twice (in flight when killed, then once), C once
    assert model.calls == {"A": 1, "B": 2, "C": 1}, model.calls
    assert runs_list(project)["r-crash"]["status"] == "completed"
    store = SqliteStore(project / ".ragc" / "runs.sqlite")
    try:
        assert store.lease("r-crash") is None
        kinds = [r.kind for r in store.records("r-crash")]
        assert kinds.count("resumed") == 1  # the loser wrote nothing
    finally:
        store.close()


def test_ctrl_c_is_cancelled_not_interrupted_and_says_how_to_resume(project: Path, model):
    p = start_held_at_b(project, model, "r-int")
    p.send_signal(signal.SIGINT)
    model.release.set()
    code, out, err = finish(p)
    assert code == 130, err
    assert "cancelled" in err and "ragc resume r-int" in err and "interrupted" not in err
    row = runs_list(project)["r-int"]
    assert row["status"] == "cancelled" and row["status"] != "waiting"
    code, out, _ = finish(ragc(project, "runs", "show", "r-int"))
    assert "status cancelled" in out and "continue with: ragc resume r-int" in out
    model.hold = None
    code, out, err = finish(ragc(project, "resume", "r-int", "--json"))
    assert code == 0, err
    assert model.calls["A"] == 1 and model.calls["C"] == 1


def test_sigterm_is_cancelled_too(project: Path, model):
    p = start_held_at_b(project, model, "r-term")
    p.send_signal(signal.SIGTERM)
    model.release.set()
    code, _, err = finish(p)
    assert code == 130 and "ragc resume r-term" in err
    assert runs_list(project)["r-term"]["status"] == "cancelled"


def test_a_live_run_is_running_and_a_resume_is_refused_at_once(project: Path, model):
    p = start_held_at_b(project, model, "r-live")
    try:
        assert runs_list(project)["r-live"]["status"] == "running"
        code, _, err = finish(ragc(project, "resume", "r-live"))
        assert code == 2 and "E0960" in err and f"process {p.pid}" in err
    finally:
        model.release.set()
        finish(p)
    assert model.calls == {"A": 1, "B": 1, "C": 1}


# --------------------------------------------------------------------------- the lease itself


def test_claims_from_many_threads_and_stores_exactly_one_wins(tmp_path: Path):
    path = tmp_path / "j.sqlite"
    stores = [SqliteStore(path) for _ in range(8)]
    wins, refusals = [], []
    barrier = threading.Barrier(len(stores))

    def claim(i: int) -> None:
        barrier.wait()
        try:
            stores[i].claim_lease("r1", f"token-{i}")
            wins.append(i)
        except LeaseHeld as e:
            refusals.append(e.holder.token)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(wins) == 1 and len(refusals) == 7
        assert set(refusals) == {f"token-{wins[0]}"}
    finally:
        for s in stores:
            s.close()


def test_a_stale_lease_is_taken_over_and_a_live_one_on_another_host_is_not(tmp_path: Path):
    store = SqliteStore(tmp_path / "j.sqlite")
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store.claim_lease("gone", "old", pid=dead.pid)  # a pid that no longer exists
        assert store.claim_lease("gone", "new").token == "new"
        store.claim_lease("remote", "theirs", pid=1, host="elsewhere.example")  # a fresh heartbeat
        with pytest.raises(LeaseHeld) as e:
            store.claim_lease("remote", "mine")
        assert e.value.holder.host == "elsewhere.example"
        conn = store._lease_conn()
        conn.execute("UPDATE leases SET heartbeat=? WHERE run_id='remote'", (time.time() - LEASE_STALE_S - 1,))
        assert store.claim_lease("remote", "mine").token == "mine"  # its heartbeat stopped: stale
        assert store.heartbeat("remote", "mine") and not store.heartbeat("remote", "theirs")
        store.release_lease("remote", "theirs")  # not ours: nothing happens
        assert store.lease("remote").token == "mine"
        store.release_lease("remote", "mine")
        assert store.lease("remote") is None
    finally:
        store.close()


def test_a_process_whose_lease_was_taken_over_writes_nothing_more(tmp_path: Path):
    """A process suspended past the stale limit (SIGSTOP, a sleeping laptop)
    loses its run to a resume; when it wakes, its next journal write is
    refused in the same transaction, so the two never write side by side."""
    import anyio

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
    from irb import fn, graph, nxt, program

    from ragc.runtime.engine import Engine

    started, go_on = threading.Event(), threading.Event()

    async def step(i):
        if i == 1:
            started.set()
            await anyio.to_thread.run_sync(go_on.wait, 30)
        return f"s{i}"

    nodes = [fn(f"n{i}", "step", input=i, output="items", routing=nxt(f"n{i + 1}") if i < 2 else None)
             for i in range(3)]
    prog = program(graph("chain", "n0", nodes, channels={"items": "append"}))
    path = tmp_path / "runs.sqlite"
    first = SqliteStore(path)
    other = SqliteStore(path)
    result: dict = {}

    def run_first() -> None:
        async def main():
            result["r"] = await Engine(prog, store=first, functions={"step": step}).start({}, run_id="sleepy")
        anyio.run(main)

    t = threading.Thread(target=run_first)
    t.start()
    try:
        assert started.wait(30)
        # the owner "slept" past the stale limit and a resume took the run over
        # (written directly: the sleeper's heartbeat thread is not asleep here)
        other._lease_conn().execute("INSERT OR REPLACE INTO leases VALUES ('sleepy', 'the-resumer', ?, ?, ?, ?)",
                                    (os.getpid(), socket.gethostname(), time.time(), time.time()))
        records_before = len(other.records("sleepy"))
        go_on.set()
        t.join(30)
        r = result["r"]
        assert r.status == "failed" and r.error.code == "E0915" and "being run by process" in r.error.message
        assert len(other.records("sleepy")) == records_before  # nothing written after the takeover
        assert other.lease("sleepy").token == "the-resumer"
    finally:
        go_on.set()
        t.join(30)
        first.close()
        other.close()
