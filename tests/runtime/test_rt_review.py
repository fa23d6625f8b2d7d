"""Regression tests from a runtime review: journal errors on the command
line, the journal writer, retries of failures that cannot succeed, and the
timeout message under a policy cap."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from irb import fn, graph, program

from ragc.cli.main import main
from ragc.ir.model import RetryIR
from ragc.runtime.errors import RunError
from ragc.runtime.journal import Batch, SqliteStore, StoreError
from ragc.runtime.limits import should_retry

WF = ("graph g {\n  channel out last\n  start a\n"
      "  node a {\n    kind function\n    function \"f\"\n    output out\n  }\n}\n")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_runs_list_on_a_corrupt_journal_is_an_error_not_no_runs(cwd, capsys):
    (cwd / "bad.sqlite").write_bytes(b"this is not a database" * 100)
    code, out, err = run_cli(capsys, "runs", "list", "--journal", "bad.sqlite")
    assert code == 2 and "error: cannot open the journal" in err and "no runs" not in out
    # a journal named on the command line that does not exist is an error too (issue 13);
    # only the default journal not existing yet means "no runs"
    code, out, err = run_cli(capsys, "runs", "list", "--journal", "missing.sqlite")
    assert code == 2 and "error: no journal at" in err and "no runs" not in out
    code, out, err = run_cli(capsys, "runs", "list")
    assert code == 0 and "no runs yet" in out


@pytest.mark.parametrize("argv", [("runs", "show", "x"), ("runs", "events", "x"), ("runs", "fork", "x", "--step", "1"),
                                  ("resume", "x")])
def test_journal_none_is_a_usage_error_for_commands_that_read_runs(cwd, capsys, argv):
    code, out, err = run_cli(capsys, *argv, "--journal", "none")
    assert code == 2 and "needs a journal" in err and "internal error" not in err


@pytest.mark.parametrize("argv", [("runs", "show", "r1"), ("runs", "events", "r1"), ("resume", "r1"),
                                  ("runs", "list")])
def test_a_journal_read_failure_is_exit_2_not_an_internal_error(cwd, capsys, monkeypatch, argv):
    SqliteStore(cwd / "j.sqlite").close()

    def broken(self, *a, **kw):
        raise StoreError(f"cannot read the journal {self.path}: database disk image is malformed")

    for name in ("get_run", "list_runs"):
        monkeypatch.setattr(SqliteStore, name, broken)
    code, out, err = run_cli(capsys, *argv, "--journal", "j.sqlite")
    assert code == 2, err
    assert "error: cannot read the journal" in err and "malformed" in err and "internal error" not in err


def test_writer_that_cannot_connect_fails_the_commit_instead_of_hanging(tmp_path):
    store = SqliteStore(tmp_path / "runs.sqlite")
    try:
        w = store._writer
        w.q.put(None)  # stop the running writer; the next commit starts a new one
        w.join(timeout=10)

        def no_connect():
            raise sqlite3.OperationalError("unable to open database file")

        store._connect = no_connect  # type: ignore[method-assign]
        box: list[BaseException | None] = []

        def commit() -> None:
            try:
                store.commit_sync(Batch(events=[("r", 1, "warning", "{}")]))
                box.append(None)
            except BaseException as e:  # noqa: BLE001
                box.append(e)

        t = threading.Thread(target=commit, daemon=True)
        t.start()
        t.join(timeout=10)
        assert not t.is_alive(), "commit hung after the writer failed to connect"
        assert isinstance(box[0], StoreError) and "unable to open" in str(box[0])
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["budget", "config", "limit", "expression"])
def test_retry_on_any_does_not_retry_failures_that_cannot_succeed(kind):
    retry = RetryIR(max_attempts=3, on=["any"])
    assert not should_retry(retry, RunError("E0905", "x", kind=kind), 1)
    assert should_retry(retry, RunError("E0909", "x", kind="tool"), 1)


@pytest.mark.anyio
async def test_timeout_message_names_the_policy_capped_timeout():
    import anyio

    from ragc.registry.model import PolicyEntry, Registry
    from ragc.runtime.engine import Engine

    async def slow():
        await anyio.sleep(5)

    g = graph("g", "a", [fn("a", "slow", timeout_s=60)])
    reg = Registry(policies={"default": PolicyEntry(timeout=0.05)})
    r = await Engine(program(g), registry=reg, functions={"slow": slow}).start({})
    assert r.status == "failed" and r.error.code == "E0904"
    assert "0.05s" in r.error.message and "60s" not in r.error.message


@pytest.mark.anyio
@pytest.mark.parametrize("with_join", [False, True])
async def test_resume_after_a_failed_join_reruns_the_failed_branches(tmp_path, with_join):
    from irb import fanout, join, nxt, send

    from ragc.runtime.engine import Engine

    calls: dict[int, int] = {}
    broken = {"on": True}

    def work(i):
        calls[i] = calls.get(i, 0) + 1
        if i == 1 and broken["on"]:
            raise RuntimeError("flaky")
        return i

    if with_join:
        g = graph("g", "d", [
            fn("d", "noop", routing=fanout(send("w", {"i": "$item"}, foreach=("item", [0, 1, 2])), join="j")),
            fn("w", "work", input="$payload.i", output="res"),
            fn("after", "noop"),
        ], channels={"res": "append"}, joins=[join("j", "d", "after")])
    else:
        g = graph("g", "d", [fn("d", "noop", routing=nxt("a", "b")), fn("a", "work", input=0, output="res"),
                             fn("b", "work", input=1, output="res")], channels={"res": "append"})
    store = SqliteStore(tmp_path / "runs.sqlite")
    try:
        eng = Engine(program(g), store=store, functions={"noop": lambda: None, "work": work})
        r = await eng.start({}, run_id="j1")
        assert r.status == "failed" and r.error.code == "E0910"
        broken["on"] = False  # the cause is fixed: resume must retry the failed branch
        r = await eng.resume("j1")
        assert r.status == "completed", r.error
        assert r.state["res"] == ([0, 1, 2] if with_join else [0, 1])  # merged in branch order
        assert calls[1] == 2 and calls[0] == 1, calls  # the succeeded branch replayed, not re-run
    finally:
        store.close()
