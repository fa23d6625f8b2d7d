"""Agent memory as registry stores (``[stores.NAME] kind = ...``; ``docs/memory.md``).

* :mod:`ragc.memory.db`: the SQLite file entries live in (one transaction per write);
* :mod:`ragc.memory.scoring`: decay, recall scores and eviction (seed 004's
  ``DecayPolicy``, ``RecallPolicy::Hybrid`` and per-agent capacity);
* :mod:`ragc.memory.search`: lexical (BM25) and embedding similarity;
* :mod:`ragc.memory.stores`: the four kinds (``episodic``, ``semantic``,
  ``working``, ``memory_files``);
* :mod:`ragc.memory.agent`: what an agent with ``memory = [...]`` gets: the
  recalled block in its prompt and the ``memory_save`` / ``memory_search`` /
  ``memory_read`` tools.

This package sits beside the harness: it uses the harness's tool types and
passage tokenizer, and :class:`ragc.harness.Harness` uses it for agents.
"""

from __future__ import annotations

from ragc.memory.stores import MemoryEntry, open_memory

__all__ = ["MemoryEntry", "open_memory"]
