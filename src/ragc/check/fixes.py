"""Applying the machine-applicable suggestions of diagnostics to a source
text (``ragc check --fix``, and the authoring loop before a repair round).

Only suggestions marked :attr:`~ragc.diagnostics.model.Applicability.MACHINE_APPLICABLE`
are applied (rustc's ``--fix`` rule: ``maybe-incorrect`` ones need a human or
the model). Edits are applied from the end of the text so earlier offsets
stay valid; an edit that overlaps one already taken is skipped (the next
check reports it again). Offsets are code-point offsets (``Span.offset``).
"""

from __future__ import annotations

from typing import Iterable

from ragc.diagnostics.model import Applicability, Diagnostic


def apply_fixes(text: str, diagnostics: Iterable[Diagnostic], file: str | None = None) -> tuple[str, list[str]]:
    """``(new_text, applied)``: ``text`` with every non-overlapping
    machine-applicable suggestion applied, and one line per edit
    (``LINE:COL CODE message``). ``file``: only suggestions for this file
    (None: every suggestion whose span file matches the diagnostic's)."""
    edits = []
    for d in diagnostics:
        for s in d.suggestions:
            if s.applicability is not Applicability.MACHINE_APPLICABLE:
                continue
            if file is not None and s.span.file != file:
                continue
            edits.append((s.span.offset, s.span.end_offset, s.replacement,
                          f"{s.span.line}:{s.span.column} {d.code} {s.message}"))
    edits = list({(e[0], e[1], e[2]): e for e in edits}.values())  # one edit suggested twice is one edit
    edits.sort(key=lambda e: (e[0], e[1]), reverse=True)
    out = text
    applied: list[str] = []
    limit = len(text) + 1  # start of the last edit taken: later edits must end before it
    for start, end, replacement, what in edits:
        if end > limit or start > len(text) or (start == end == limit and applied):
            continue
        out = out[:start] + replacement + out[end:]
        limit = start
        applied.append(what)
    applied.reverse()
    return out, applied
