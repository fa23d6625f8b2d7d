"""Decay, recall scores and eviction, after seed 004's agent-runtime
(``DecayPolicy::exponential(half_life)``, ``RecallPolicy::Hybrid {
recency_weight, frequency_weight }``, per-agent capacity that evicts the
lowest-importance item).

All times are seconds (``time.time()``); scores are unitless.
"""

from __future__ import annotations

import math
from typing import Any


def decay(age_s: float, half_life_s: float | None) -> float:
    """``0.5 ** (age / half_life)``: 1 for a new entry, 0.5 after one half-life;
    always 1 without a half-life (no decay)."""
    if not half_life_s:
        return 1.0
    return 0.5 ** (max(0.0, age_s) / half_life_s)


def retention(row: dict[str, Any], now: float, half_life_s: float | None) -> float:
    """What an entry is worth keeping: its importance decayed by age. The entry
    with the lowest retention is evicted first (ties: the oldest)."""
    return float(row["importance"]) * decay(now - float(row["created"]), half_life_s)


def recall_score(row: dict[str, Any], now: float, half_life_s: float | None, *, relevance: float = 0.0,
                 recency_weight: float = 0.3, frequency_weight: float = 0.1) -> float:
    """The hybrid recall score of an entry:

    ``retention + recency_weight * decay(time since last access) +
    frequency_weight * log1p(recalls) / log1p(10) + relevance``

    where ``relevance`` (0..1) is the entry's similarity to the agent's task
    (lexical or embedding; 0 when there is no query). Without a half-life the
    recency term uses one day, so recently used entries still come first."""
    since = now - float(row["accessed"])
    recency = decay(since, half_life_s or 86_400.0)
    frequency = math.log1p(int(row.get("recalls") or 0)) / math.log1p(10)
    return retention(row, now, half_life_s) + recency_weight * recency + frequency_weight * frequency + relevance


def victims(rows: list[dict[str, Any]], capacity: int | None, now: float, half_life_s: float | None,
            *, adding: int = 1) -> list[int]:
    """Ids to evict so that ``rows`` plus ``adding`` new entries fit in
    ``capacity``: lowest :func:`retention` first, then oldest."""
    if capacity is None:
        return []
    excess = len(rows) + adding - capacity
    if excess <= 0:
        return []
    ranked = sorted(rows, key=lambda r: (retention(r, now, half_life_s), r["created"], r["id"]))
    return [r["id"] for r in ranked[:excess]]


def lru_victims(rows: list[dict[str, Any]], capacity: int | None, *, adding: int = 1) -> list[int]:
    """Ids to evict from a bounded LRU: least recently accessed first."""
    if capacity is None:
        return []
    excess = len(rows) + adding - capacity
    if excess <= 0:
        return []
    ranked = sorted(rows, key=lambda r: (r["accessed"], r["id"]))
    return [r["id"] for r in ranked[:excess]]
