""""Did you mean ...?": closest names by edit distance.

Distance: optimal string alignment (the restricted Damerau–Levenshtein
distance: insertions, deletions, substitutions and transpositions of adjacent
characters, each costing 1; no substring edited twice). Wagner & Fischer,
"The String-to-String Correction Problem", JACM 21(1), 1974, with
Damerau's transposition (CACM 7(3), 1964); the same measure rustc uses in
``rustc_span::edit_distance``.

Threshold (rustc's rule): a candidate is suggested when its distance is at
most ``max(len(name), 3) // 3`` and smaller than ``len(name)`` (so a
one-letter name is not "corrected" into an unrelated one-letter name); a
case-insensitive exact match is always suggested.
"""

from __future__ import annotations

from typing import Iterable


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b``.

    Args:
        a, b: the strings.
        limit: if given, the result is only exact up to ``limit``; any larger
            distance is reported as ``limit + 1`` (early exit).

    Returns:
        The number of edits (>= 0).
    """
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if limit is not None and abs(la - lb) > limit:
        return limit + 1
    if not la or not lb:
        return max(la, lb)
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ai = a[i - 1]
        row_min = cur[0]
        for j in range(1, lb + 1):
            cost = 0 if ai == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ai == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            row_min = min(row_min, v)
        if limit is not None and row_min > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[lb]


def threshold(name: str) -> int:
    """Largest distance still suggested for ``name``."""
    return max(len(name), 3) // 3


def closest(name: str, candidates: Iterable[str], *, limit: int = 1) -> list[str]:
    """Up to ``limit`` candidates closest to ``name``, best first (ties by
    name); empty when none is close enough. ``name`` itself is never returned."""
    best: list[tuple[int, str]] = []
    lim = threshold(name)
    lower = name.lower()
    for c in set(candidates):
        if c == name:
            continue
        if c.lower() == lower:
            best.append((0, c))
            continue
        d = edit_distance(name, c, lim)
        if d <= lim and d < len(name):
            best.append((d, c))
    best.sort()
    return [c for _, c in best[:limit]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate or ``None``."""
    found = closest(name, candidates)
    return found[0] if found else None
