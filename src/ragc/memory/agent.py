"""What an agent with ``memory = ["STORE", ...]`` gets (``docs/memory.md``).

* **Recall** (:meth:`AgentMemory.recall_block`), once, before the agent's
  first model call: each store's :meth:`recall` for the agent's task (its
  first user message), rendered as a ``# Memory`` section appended to the
  agent's task (the last message before its first model call, where a small
  model reads it, like prefetched tool results) -- at most ``recall`` entries per store (working memory: all
  of it), the whole section cut to ``recall_tokens`` tokens (the smallest of
  the agent's stores; ``chars / 4`` like :func:`ragc.harness.history.estimate_tokens`).
* **Tools**: ``memory_save`` (text, and per kind ``tldr``, ``key``,
  ``importance``, ``tags``; ``store`` picks one of the agent's stores,
  default the first), ``memory_search`` (query, ``k``, ``tags``) and, when
  a ``memory_files`` store is among them, ``memory_read`` (a file's body).

Exactly once: a ``memory_save`` runs inside a journaled tool call, whose
identity (run id, activation, call key) is the save's ``origin``
(:data:`CALL_ORIGIN`, set by the harness). A resumed run replays recorded
calls without running them, and a call that ran but was not yet journaled
when the process died runs again with the same origin, which the store
ignores (:mod:`ragc.memory.db`). A memory file is keyed by its title, so
saving it again rewrites the same file.
"""

from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from ragc.harness.errors import ToolError
from ragc.harness.tools.base import Tool
from ragc.harness.types import ToolResult
from ragc.memory.stores import MemoryError_, MemoryFilesStore, MemoryStore, open_memory
from ragc.registry.model import Registry

CALL_ORIGIN: contextvars.ContextVar[str | None] = contextvars.ContextVar("ragc_memory_call_origin", default=None)
"""The identity of the tool call being made (``run/activation/key``); a save's ``origin``."""

CHARS_PER_TOKEN = 4
TOOL_NAMES = ("memory_save", "memory_search", "memory_read")


class SaveArgs(BaseModel):
    """Arguments of ``memory_save``."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="what to remember, in one or two plain sentences")
    tldr: str = Field("", description="a one-line summary (memory files show it at the start of later runs)")
    key: str = Field("", description="a short name; saving the same key again replaces the entry")
    importance: float = Field(0.5, ge=0, le=1, description="0 (trivial) to 1 (essential)")
    tags: list[str] = Field(default_factory=list, description="labels to search by")
    store: str = Field("", description="which memory store (default: the first)")


class SearchArgs(BaseModel):
    """Arguments of ``memory_search``."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="what to look for")
    k: int = Field(5, ge=1, le=20, description="how many entries")
    tags: list[str] = Field(default_factory=list, description="only entries with all these tags")
    store: str = Field("", description="which memory store (default: all)")


class ReadArgs(BaseModel):
    """Arguments of ``memory_read``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the memory file's name, as listed under # Memory")


class AgentMemory:
    """The memory stores of one agent.

    Args:
        agent: the agent's name (entries are kept per agent).
        stores: ``[stores.NAME]`` names of memory kinds.
        registry: the registry (store entries, ``base_dir``).

    Raises:
        KeyError: a name that is not a memory store (the checker reports it first).
    """

    def __init__(self, agent: str, stores: Sequence[str], registry: Registry):
        self.agent = agent
        self.stores: dict[str, MemoryStore | MemoryFilesStore] = {}
        for name in stores:
            entry = registry.stores[name]
            self.stores[name] = open_memory(name, entry, registry.base_dir)
        self.token_bound = min((registry.stores[n].recall_tokens for n in stores), default=0)

    def recall_block(self, task: str) -> str:
        """The ``# Memory`` section for the agent's task ("" when nothing is
        remembered), bounded to ``token_bound`` tokens."""
        lines: list[str] = []
        for name, store in self.stores.items():
            entries = store.recall(self.agent, task, store.entry.recall)
            if not entries:
                continue
            head = {"memory_files": f"Memory files in `{name}` (read one with memory_read):",
                    "working": f"Working notes (`{name}`):",
                    "episodic": f"Earlier events (`{name}`), most relevant first:",
                    "semantic": f"Known facts (`{name}`):"}[store.kind]
            lines.append(head)
            lines += [e.line() for e in entries]
        if not lines:
            return ""
        text = "# Memory\n" + "\n".join(lines)
        limit = self.token_bound * CHARS_PER_TOKEN
        if len(text) > limit:
            cut = text[:limit]
            text = cut[: cut.rfind("\n")] if "\n" in cut else cut
        return text

    def _store(self, name: str) -> MemoryStore | MemoryFilesStore:
        if not name:
            return next(iter(self.stores.values()))
        store = self.stores.get(name)
        if store is None:
            raise ToolError(f"no memory store `{name}`; this agent has: {', '.join(self.stores)}")
        return store

    async def _save(self, args: BaseModel) -> ToolResult:
        a: SaveArgs = args  # type: ignore[assignment]
        store = self._store(a.store)
        origin = CALL_ORIGIN.get()
        try:
            if isinstance(store, MemoryFilesStore):
                name = store.save(self.agent, a.text, key=a.key or None, tldr=a.tldr, origin=origin)
                return ToolResult(content=f"saved memory file `{name}` in `{store.name}`",
                                  value={"store": store.name, "file": name})
            saved = store.save(self.agent, a.text, key=a.key or None, tags=a.tags, importance=a.importance,
                               origin=origin)
        except MemoryError_ as exc:
            raise ToolError(str(exc)) from None
        note = "saved" if saved is not None else "already saved (this call ran before)"
        return ToolResult(content=f"{note} in `{store.name}`", value={"store": store.name, "id": saved})

    async def _search(self, args: BaseModel) -> ToolResult:
        a: SearchArgs = args  # type: ignore[assignment]
        stores = [self._store(a.store)] if a.store else list(self.stores.values())
        hits = []
        for store in stores:
            hits += store.search(self.agent, a.query, a.k, tags=a.tags)
        hits.sort(key=lambda e: -e.score)
        hits = hits[: a.k]
        if not hits:
            return ToolResult(content=f"nothing remembered matches {a.query!r}", value=[])
        return ToolResult(content="\n".join(e.line() for e in hits),
                          value=[{"store": e.store, "key": e.key, "text": e.text, "tags": e.tags, "score": e.score}
                                 for e in hits])

    async def _read(self, args: BaseModel) -> ToolResult:
        a: ReadArgs = args  # type: ignore[assignment]
        files = [s for s in self.stores.values() if isinstance(s, MemoryFilesStore)]
        problems = []
        for store in files:
            try:
                return ToolResult(content=store.read(a.name))
            except MemoryError_ as exc:
                problems.append(str(exc))
        raise ToolError("; ".join(problems) or "this agent has no memory_files store")

    def tools(self) -> dict[str, Tool]:
        """``memory_save``, ``memory_search`` and (with a ``memory_files``
        store) ``memory_read``, by name."""
        kinds = ", ".join(f"{n} ({s.kind})" for n, s in self.stores.items())
        out = {
            "memory_save": Tool("memory_save", f"Remember something for later runs. Stores: {kinds}.", SaveArgs,
                                self._save, timeout_s=30, kind="memory:save"),
            "memory_search": Tool("memory_search", "Search what you remembered in earlier runs.", SearchArgs,
                                  self._search, timeout_s=30, kind="memory:search"),
        }
        if any(isinstance(s, MemoryFilesStore) for s in self.stores.values()):
            out["memory_read"] = Tool("memory_read", "Read the body of a memory file listed under # Memory.",
                                      ReadArgs, self._read, timeout_s=30, kind="memory:read")
        return out
