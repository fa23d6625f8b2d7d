"""The SQLite file memory entries live in.

One table, ``memories``; every write (a save plus the evictions it causes, an
access update) is one transaction, so a crash (even ``kill -9``) leaves either
the whole write or none of it. ``origin`` is unique: a save made by a tool
call carries the call's identity (run id, activation, call key), and saving
again under the same origin is a no-op -- so a run resumed after a crash
between the save and its journal record does not write the memory twice.
WAL journaling lets several runs use one file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    store        TEXT NOT NULL,
    agent        TEXT NOT NULL,
    key          TEXT,
    text         TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '[]',
    importance   REAL NOT NULL DEFAULT 0.5,
    created      REAL NOT NULL,
    accessed     REAL NOT NULL,
    recalls      INTEGER NOT NULL DEFAULT 0,
    embedding    TEXT,
    origin       TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS memories_by_agent ON memories(store, agent);
"""

COLUMNS = ("id", "store", "agent", "key", "text", "tags", "importance", "created", "accessed", "recalls",
           "embedding", "origin")


class MemoryDB:
    """One SQLite memory file, shared by the stores that name it.

    Args:
        path: the database file (parent folders are created).

    Raises:
        sqlite3.Error: the file cannot be opened (the caller reports it).
    """

    _open: dict[str, "MemoryDB"] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a committed memory survives a power cut too
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, path: Path) -> "MemoryDB":
        """The open database of ``path`` (one connection per file per process)."""
        key = str(Path(path).resolve())
        with cls._open_lock:
            db = cls._open.get(key)
            if db is None:
                db = cls._open[key] = cls(Path(key))
            return db

    def rows(self, store: str, agent: str) -> list[dict[str, Any]]:
        """Every entry of ``agent`` in ``store`` (oldest first)."""
        with self._lock:
            cur = self._conn.execute(f"SELECT {', '.join(COLUMNS)} FROM memories WHERE store=? AND agent=? "
                                     "ORDER BY id", (store, agent))
            return [_row(r) for r in cur.fetchall()]

    def insert(self, row: dict[str, Any], *, evict: Iterable[int] = (), replace_key: bool = False) -> int | None:
        """Insert ``row`` and delete the ``evict`` ids in one transaction; with
        ``replace_key`` an entry of the same store, agent and key is replaced.
        Returns the new id, or ``None`` when ``row["origin"]`` was saved before
        (nothing is written then)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if row.get("origin"):
                    seen = self._conn.execute("SELECT id FROM memories WHERE origin=?", (row["origin"],)).fetchone()
                    if seen is not None:
                        self._conn.execute("ROLLBACK")
                        return None
                if replace_key and row.get("key") is not None:
                    self._conn.execute("DELETE FROM memories WHERE store=? AND agent=? AND key=?",
                                       (row["store"], row["agent"], row["key"]))
                for victim in evict:
                    self._conn.execute("DELETE FROM memories WHERE id=?", (victim,))
                cur = self._conn.execute(
                    "INSERT INTO memories (store, agent, key, text, tags, importance, created, accessed, recalls, "
                    "embedding, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (row["store"], row["agent"], row.get("key"), row["text"], json.dumps(list(row.get("tags") or [])),
                     float(row.get("importance", 0.5)), row.get("created", time.time()),
                     row.get("accessed", row.get("created", time.time())), int(row.get("recalls", 0)),
                     json.dumps(row["embedding"]) if row.get("embedding") is not None else None, row.get("origin")))
                self._conn.execute("COMMIT")
                return int(cur.lastrowid)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete(self, ids: Iterable[int]) -> None:
        """Delete entries (one transaction)."""
        ids = list(ids)
        if not ids:
            return
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("DELETE FROM memories WHERE id=?", [(i,) for i in ids])

    def touch(self, ids: Iterable[int], now: float, *, recalled: bool) -> None:
        """Mark entries accessed at ``now`` (and count a recall), one transaction."""
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("UPDATE memories SET accessed=?, recalls=recalls+? WHERE id=?",
                                   [(now, 1 if recalled else 0, i) for i in ids])
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._open_lock:
            self._open.pop(str(self.path), None)
        self._conn.close()


def _row(r: tuple) -> dict[str, Any]:
    d = dict(zip(COLUMNS, r))
    d["tags"] = json.loads(d["tags"] or "[]")
    d["embedding"] = json.loads(d["embedding"]) if d["embedding"] else None
    return d
