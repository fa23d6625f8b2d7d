"""Passage-level retrieval: the ``search`` tool's ``mode = "passages"``.

A small model answers well from the one paragraph that states the answer and
badly from a file listing or a bag of matching lines. This module splits the
workspace's text files into *passages* and ranks them for a question:

* **Markdown** (``.md``, ``.rst``, ``.txt``): one passage per section (a
  heading and the lines up to the next heading), long sections cut at blank
  lines into pieces of at most :data:`MAX_PASSAGE_LINES`; every piece keeps
  its heading trail (``Runtime > Joins > Quorum``).
* **Python** (``.py``): the module docstring, then one passage per
  top-level or class-level ``def``/``class`` (with its decorators and
  comments), long ones cut into windows; the heading is the definition's
  qualified name.
* **Anything else** (``.rag``, ``.toml``, ``.lark``...): windows of at most
  :data:`MAX_PASSAGE_LINES` lines cut at blank lines.

Ranking is BM25F (Robertson, Zaragoza and Taylor, "Simple BM25 extension to
multiple weighted fields", CIKM 2004) over three fields of a passage: its
heading trail (weight :data:`HEADING_WEIGHT`), definition lines (``def``,
``class``, a table row's first cell: :data:`DEFINITION_WEIGHT`) and the rest
of its prose (weight 1). Lines that are commands or code examples inside
documentation (fenced blocks, ``$ ...`` prompts) count for
:data:`COMMAND_WEIGHT` only, so a passage that *explains* a term beats a
command line that merely contains it. Words are lower-cased, split at
non-alphanumerics (``quorum_join`` is ``quorum`` and ``join``), stripped of
English stop words and stemmed with the Snowball English stemmer
(``snowballstemmer``), so ``fires`` matches ``fire`` and ``branches``
matches ``branch``.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

MAX_PASSAGE_LINES = 24
"""Longest passage, in lines (about 1 KiB of prose; a small model's prompt stays short)."""

MAX_PASSAGE_CHARS = 1100
"""Characters of a passage's text shown to the model (cut at a line end; a
three-row table after a paragraph of prose fits)."""

HEADING_WEIGHT = 3.0
DEFINITION_WEIGHT = 2.0
COMMAND_WEIGHT = 0.3
BM25_K1, BM25_B = 1.2, 0.75

PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt")

STOPWORDS = frozenset(
    "a an and are as at be by does do did for from how in is it of on or the to what when where which who whom why "
    "with after before into that this these those there their its was were has have had can will would should could "
    "about happens happen i you we they he she them our your my me us not no yes if then than so such any all each "
    "some most more much many also only just very via per use used using get gets make makes".split())
"""Words that carry no meaning for retrieval (English function words)."""

_WORD = re.compile(r"[a-z0-9]+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_PY_DEF = re.compile(r"^( {0,4})(?:async\s+def|def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")
_FENCE = re.compile(r"^\s*(```|~~~)")


_LOCAL = threading.local()


def _stemmer():
    # a Snowball stemmer keeps its cursor in the object: one per thread (searches of
    # parallel branches run in worker threads at the same time)
    st = getattr(_LOCAL, "stemmer", None)
    if st is None:
        import snowballstemmer

        st = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return st


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """The index terms of ``text``: lower-cased alphanumeric words, stop words
    removed, one-letter words dropped, Snowball-stemmed (in text order, with
    repeats)."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


@dataclass
class Passage:
    """One retrievable piece of a file.

    Attributes:
        path: the file, relative to the workspace root.
        start, end: first and last line (1-based, inclusive).
        heading: the heading trail or the definition's qualified name ("" if none).
        lines: the passage's lines.
        kinds: per line, ``"prose"``, ``"definition"`` or ``"command"``.
    """

    path: str
    start: int
    end: int
    heading: str
    lines: list[str]
    kinds: list[str]
    fields: dict[str, dict[str, int]] = field(default_factory=dict)
    length: float = 0.0

    def text(self, limit: int = MAX_PASSAGE_CHARS) -> str:
        """The passage's text, cut at a line end to at most ``limit`` characters.

        Markdown table rows are shown as one line per row that names each
        cell by its column (:func:`table_lines`): a small model reads "3:
        meaning: a run is interrupted" right where it misreads the third
        cell of a pipe-separated row (the exit-code and join-policy questions
        of ``tests/quality/research_tasks.json`` were answered from the wrong
        row).
        """
        out: list[str] = []
        size = 0
        for line in table_lines(self.lines, self.kinds):
            if size + len(line) + 1 > limit and out:
                out.append("[...]")
                break
            out.append(line)
            size += len(line) + 1
        return "\n".join(out).strip("\n")


def _cells(row: str) -> list[str]:
    """The cells of a Markdown table row ``| a | b |`` (``\\|`` is a literal bar)."""
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def table_lines(lines: list[str], kinds: list[str]) -> list[str]:
    """``lines`` with every Markdown table rewritten as one line per body row,
    ``- HEADER1 CELL1 — HEADER2: CELL2. HEADER3: CELL3`` (the header row and the
    ``|---|`` rule are dropped; a row whose table has no header in this
    passage shows its cells as ``- CELL1 — CELL2. CELL3``). Other lines are
    unchanged.

    Args:
        lines: a passage's lines; kinds: per line, as :attr:`Passage.kinds`
            (``"table"`` marks a row).
    """
    return [line for line, _ in _shown(lines, kinds)]


def _shown(lines: list[str], kinds: list[str]) -> list[tuple[str, str]]:
    """The lines :func:`table_lines` shows, each with its kind: ``"row"`` for
    a rewritten table row, else the line's kind in ``kinds``."""
    out: list[tuple[str, str]] = []
    header: list[str] | None = None
    prev_table = False
    for i, (line, kind) in enumerate(zip(lines, kinds)):
        if kind != "table":
            out.append((line, kind))
            header, prev_table = None, False
            continue
        if _TABLE_RULE.match(line):
            prev_table = True
            continue
        cells = _cells(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not prev_table and _TABLE_RULE.match(nxt):  # the header row
            header, prev_table = cells, True
            continue
        prev_table = True
        first, rest = cells[0], cells[1:]
        if header and len(header) == len(cells):
            subject = f"{header[0]} {first}" if header[0] else first
            described = ". ".join(f"{h}: {c}" if h else c for h, c in zip(header[1:], rest) if c)
        else:
            subject, described = first, ". ".join(c for c in rest if c)
        out.append((f"- {subject} — {described}" if described else f"- {subject}", "row"))
    return out


def _windows(lines: list[str], start: int, limit: int) -> Iterable[tuple[int, list[str]]]:
    """Cut ``lines`` (the first numbered ``start``) into pieces of at most
    ``limit`` lines, preferring to cut after a blank line."""
    i = 0
    while i < len(lines):
        end = min(len(lines), i + limit)
        if end < len(lines):
            for j in range(end - 1, i + limit // 2, -1):
                if not lines[j].strip():
                    end = j + 1
                    break
        lo, hi = i, end
        while lo < hi and not lines[lo].strip():  # no blank lines at either end
            lo += 1
        while hi > lo and not lines[hi - 1].strip():
            hi -= 1
        if hi > lo:
            yield start + lo, lines[lo:hi]
        i = end


def _markdown(path: str, lines: list[str]) -> list[Passage]:
    out: list[Passage] = []
    trail: list[tuple[int, str]] = []
    section_start = 0
    kinds: list[str] = []
    in_fence = False
    for ln in lines:
        if _FENCE.match(ln):
            in_fence = not in_fence
            kinds.append("command")
        elif in_fence or ln.lstrip().startswith("$ "):
            kinds.append("command")
        elif _HEADING.match(ln):
            kinds.append("heading")
        elif ln.lstrip().startswith("|") and ln.count("|") >= 3:
            kinds.append("table")
        else:
            kinds.append("prose")

    def flush(upto: int) -> None:
        body = lines[section_start:upto]
        body_kinds = kinds[section_start:upto]
        heading = " > ".join(t for _, t in trail)
        for first, chunk in _windows(body, section_start + 1, MAX_PASSAGE_LINES):
            ks = body_kinds[first - 1 - section_start:first - 1 - section_start + len(chunk)]
            out.append(Passage(path, first, first + len(chunk) - 1, heading, chunk, ks))

    in_fence = False
    for i, ln in enumerate(lines):
        if _FENCE.match(ln):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(ln)
        if m:
            flush(i)
            level = len(m.group(1))
            trail = [(lv, t) for lv, t in trail if lv < level] + [(level, m.group(2).strip("` "))]
            section_start = i + 1
    flush(len(lines))
    return out


def _python(path: str, lines: list[str]) -> list[Passage]:
    starts: list[tuple[int, str]] = []  # (line index, qualified name)
    cls = ""
    for i, ln in enumerate(lines):
        m = _PY_DEF.match(ln)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        if indent == 0:
            cls = name if ln.lstrip().startswith("class") else ""
            qual = name
        elif cls:
            qual = f"{cls}.{name}"
        else:
            continue
        j = i
        while j > 0 and (lines[j - 1].lstrip().startswith("@") or lines[j - 1].lstrip().startswith("#")):
            j -= 1
        starts.append((j, qual))
    bounds = [(0, "")] + starts
    out: list[Passage] = []
    for n, (first, qual) in enumerate(bounds):
        last = bounds[n + 1][0] if n + 1 < len(bounds) else len(lines)
        if last <= first:
            continue
        body = lines[first:last]
        for s, chunk in _windows(body, first + 1, MAX_PASSAGE_LINES + 6):
            ks = ["definition" if _PY_DEF.match(x) else "prose" for x in chunk]
            out.append(Passage(path, s, s + len(chunk) - 1, qual or path.rsplit("/", 1)[-1], chunk, ks))
    return out


def _plain(path: str, lines: list[str]) -> list[Passage]:
    name = path.rsplit("/", 1)[-1]
    return [Passage(path, s, s + len(chunk) - 1, name, chunk, ["prose"] * len(chunk))
            for s, chunk in _windows(lines, 1, MAX_PASSAGE_LINES)]


def split(path: str, text: str) -> list[Passage]:
    """The passages of one file (rules in the module doc).

    Args:
        path: the file's workspace-relative path (its suffix picks the rules).
        text: the file's text.
    """
    lines = text.splitlines()
    low = path.lower()
    if low.endswith(PROSE_SUFFIXES):
        passages = _markdown(path, lines)
    elif low.endswith(".py"):
        passages = _python(path, lines)
    else:
        passages = _plain(path, lines)
    for p in passages:
        heading = {}
        for t in terms(p.heading.replace("_", " ")):
            heading[t] = heading.get(t, 0) + 1
        prose: dict[str, int] = {}
        definition: dict[str, int] = {}
        command: dict[str, int] = {}
        for ln, kind in zip(p.lines, p.kinds):
            if kind == "heading":
                continue
            if kind == "table":  # a table row's first cell names what the row defines
                cells = [c for c in ln.strip().strip("|").split("|")]
                target_first, rest = cells[0], "|".join(cells[1:])
                for t in terms(target_first):
                    definition[t] = definition.get(t, 0) + 1
                target, src = prose, rest
            else:
                target = {"definition": definition, "command": command}.get(kind, prose)
                src = ln
            for t in terms(src):
                target[t] = target.get(t, 0) + 1
        p.fields = {"heading": heading, "definition": definition, "prose": prose, "command": command}
        p.length = sum(prose.values()) + sum(definition.values()) + sum(command.values()) + sum(heading.values())
    return passages


FIELD_WEIGHTS = {"heading": HEADING_WEIGHT, "definition": DEFINITION_WEIGHT, "prose": 1.0, "command": COMMAND_WEIGHT}


def rank(passages: list[Passage], query: str, k: int) -> list[tuple[float, Passage]]:
    """The ``k`` passages that best match ``query``, best first (BM25F, see
    the module doc; idf over the given passages; ties by path and line).
    Passages that share no term with the query are never returned."""
    q = list(dict.fromkeys(terms(query)))
    if not q or not passages:
        return []
    n = len(passages)
    avg = sum(p.length for p in passages) / n or 1.0
    df: dict[str, int] = {t: 0 for t in q}
    weighted: list[dict[str, float]] = []
    for p in passages:
        tf: dict[str, float] = {}
        for name, counts in p.fields.items():
            w = FIELD_WEIGHTS[name]
            for t in q:
                c = counts.get(t)
                if c:
                    tf[t] = tf.get(t, 0.0) + w * c
        for t in tf:
            df[t] += 1
        weighted.append(tf)
    scored: list[tuple[float, Passage]] = []
    for p, tf in zip(passages, weighted):
        if not tf:
            continue
        norm = BM25_K1 * (1 - BM25_B + BM25_B * p.length / avg)
        score = 0.0
        for t, f in tf.items():
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            score += idf * f * (BM25_K1 + 1) / (f + norm)
        scored.append((score, p))
    scored.sort(key=lambda sp: (-sp[0], sp[1].path, sp[1].start))
    return scored[:k]
