"""Typed, versioned journal records (ragc.runtime.records)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from ragc.runtime.journal import SqliteStore, StoreError
from ragc.runtime.records import (RECORDS_VERSION, Answer, Effect, InterruptAsked, JoinOutcome, JournalFormatError,
                                  NodeCompleted, Resumed, decode, encode)
from ragc.runtime.replay import build_index
from ragc.runtime.journal import Record

EXAMPLES = [
    NodeCompleted({"a": 1}, True, [("notes", "x"), ("count", 2)], "ok", {"model_calls": 1}, None, 0.25),
    NodeCompleted(None, False, [], "error", None, {"node": "n", "message": "boom"}, 0.0),
    JoinOutcome("ocfs", "ok", {2: {"message": "failed"}}, {"succeeded": 1, "failed": 1, "cancelled": 1,
                                                          "skipped": 1}),
    Effect("a2/m1", "model", {"message": {"role": "assistant", "content": "hi"}}),
    Effect("t1", "tool", {"content": "x", "sources": ["docs/a.md"]}),
    InterruptAsked("ask#1", "ask", "Ship it?", ("yes", "no"), "no", 1800000000.0, 1700000000.0),
    Answer(None, "user"),
    Resumed(2, True, "abc"),
]


@pytest.mark.parametrize("rec", EXAMPLES, ids=lambda r: type(r).__name__)
def test_every_kind_round_trips_through_json(rec):
    kind, payload = encode(rec)
    again = decode(kind, json.loads(json.dumps(payload)), seq=1)
    assert again == rec


def test_node_completed_keeps_the_short_keys_of_the_documented_payload():
    assert NodeCompleted("r", True, [("b", 1)], "go", None, None, 0.1234567).encode() == {
        "r": "r", "o": 1, "w": [["b", 1]], "l": "go", "d": 0.123457}


def test_effect_sources_only_of_successful_tool_calls():
    assert Effect("t1", "tool", {"sources": ["a.md"]}).sources() == ("a.md",)
    assert Effect("t1", "tool", {"sources": ["a.md"], "is_error": True}).sources() == ()
    assert Effect("m1", "model", {"sources": ["a.md"]}).sources() == ()


def test_unknown_kind_and_malformed_payload_name_the_record():
    with pytest.raises(JournalFormatError, match=r"journal record 7 \(activation n#1\): unknown record kind 'nope'"):
        decode("nope", {}, seq=7, activation="n#1")
    with pytest.raises(JournalFormatError, match="record 3.*malformed join_outcome"):
        decode("join_outcome", {"outcome": "ok"}, seq=3)
    with pytest.raises(JournalFormatError, match="must be an object"):
        decode("effect", [1, 2], seq=4)
    with pytest.raises(JournalFormatError, match="record 9"):
        build_index([Record(9, "x#1", "effect", {"kind": "tool"}, 0.0)])


def test_a_new_journal_is_stamped_and_an_unstamped_one_is_migrated(tmp_path):
    path = tmp_path / "runs.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='records_version'").fetchone() == (str(RECORDS_VERSION),)
    conn.execute("DELETE FROM meta WHERE key='records_version'")  # a journal from before versioning
    conn.commit()
    conn.close()
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='records_version'").fetchone() == ("1",)
    conn.close()


def test_a_journal_of_a_newer_version_is_refused_with_both_versions(tmp_path):
    path = tmp_path / "runs.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='9' WHERE key='records_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"records are version 9, this ragc reads versions up to 1"):
        SqliteStore(path)


def test_runs_show_of_a_damaged_record_is_a_clear_error_not_a_traceback(tmp_path):
    import anyio
    from irb import fn, graph, program

    from ragc.runtime.engine import Engine

    journal = tmp_path / "runs.sqlite"
    store = SqliteStore(journal)
    eng = Engine(program(graph("one", "a", [fn("a", "noop", output="x")], channels={"x": "last"})), store=store,
                 functions={"noop": lambda: 1})
    r = anyio.run(eng.start, {})
    assert r.status == "completed", r.error
    store.close()
    conn = sqlite3.connect(journal)
    conn.execute("UPDATE records SET payload_json='[1]' WHERE kind='node_completed'")
    conn.commit()
    conn.close()
    show = subprocess.run([sys.executable, "-m", "ragc", "runs", "show", r.run_id, "--journal", str(journal)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert show.returncode != 0
    assert "Traceback" not in show.stderr
    assert "journal record 1 (activation a#1): a node_completed payload must be an object" in show.stderr
