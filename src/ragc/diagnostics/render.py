"""Rendering diagnostics: rustc-style text with source snippets, and JSON.

Text layout (after rustc's emitter, ``rustc_errors::emitter``)::

    error[E0101]: unknown node `reviw`
     --> flow.rag:7:10
      |
    4 |   node review {
      |        ------ a node with a similar name is defined here
    ...
    7 |     next reviw
      |          ^^^^^ not a node of graph `g`
      |
      = help: did you mean `review`?
    suggestion: replace with `review` (maybe-incorrect)
      |
    7 |     next review
      |          ~~~~~~

    error: aborting due to 1 error

The primary span is underlined with ``^``, secondary spans with ``-``,
suggested replacements with ``~``. Labels in another file get their own
``::: file:line:col`` block. A span over several lines is underlined on its
first line. Lines between labelled lines are elided with ``...`` when more
than one line apart.

Summary line (last line, when there are diagnostics):
``error: aborting due to N error(s)[; M warning(s) emitted]`` or, without
errors, ``warning: M warning(s) emitted``.

JSON (:func:`render_json`) follows the versioned schema of ``ragc check
--format json`` (``format_version`` 1); lines and columns are 1-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span, Suggestion

JSON_FORMAT_VERSION = 1

# rich style names per kind of text (used only with color=True)
_STYLES = {
    "error": "bold red",
    "warning": "bold yellow",
    "note": "bold green",
    "help": "bold cyan",
    "gutter": "bold blue",
    "primary_error": "bold red",
    "primary_warning": "bold yellow",
    "primary_note": "bold green",
    "secondary": "bold blue",
    "suggestion": "bold green",
    "bold": "bold",
}


# --------------------------------------------------------------------------- styled text


@dataclass
class _Line:
    """One output line as ``(text, style-or-None)`` pieces."""

    parts: list[tuple[str, str | None]]

    def plain(self) -> str:
        return "".join(t for t, _ in self.parts).rstrip()


def _ln(*parts: tuple[str, str | None] | str) -> _Line:
    return _Line([(p, None) if isinstance(p, str) else p for p in parts])


# --------------------------------------------------------------------------- source access


class _Source:
    """Lines of one file, 1-based, with tabs expanded to 4 spaces for display.

    Columns in spans count code points of the raw line; :meth:`display_col`
    converts to the display column after tab expansion.
    """

    def __init__(self, text: str):
        self.raw = text.split("\n")

    def line(self, n: int) -> str | None:
        if 1 <= n <= len(self.raw):
            return self.raw[n - 1].rstrip("\r")
        return None

    @staticmethod
    def expand(text: str) -> str:
        return text.replace("\t", "    ")

    def display_col(self, n: int, col: int) -> int:
        """0-based display position of 1-based column ``col`` on line ``n``."""
        raw = self.line(n) or ""
        return len(self.expand(raw[: max(col - 1, 0)]))


@dataclass
class _Mark:
    span: Span
    message: str
    char: str  # "^" primary, "-" secondary
    style: str


def _underline(src: _Source, span: Span, line_no: int) -> tuple[int, int]:
    """Display start and width of the underline of ``span`` on ``line_no``
    (its first line); at least one character wide."""
    text = src.line(line_no) or ""
    start = src.display_col(line_no, span.column)
    if span.end_line == span.line:
        end = src.display_col(line_no, span.end_column)
    else:
        end = len(src.expand(text))
    return start, max(end - start, 1)


def _snippet(marks: Sequence[_Mark], src: _Source | None, width: int) -> list[_Line]:
    """The numbered source lines for ``marks`` (all in one file) with underlines."""
    gutter = ("gutter")
    pad = " " * width
    out: list[_Line] = [_ln((f"{pad} |", gutter))]
    if src is None:
        return out
    by_line: dict[int, list[_Mark]] = {}
    for m in marks:
        if src.line(m.span.line) is not None:
            by_line.setdefault(m.span.line, []).append(m)
    prev: int | None = None
    for line_no in sorted(by_line):
        if prev is not None and line_no - prev > 2:
            out.append(_ln(("...", gutter)))
        elif prev is not None and line_no - prev == 2:
            mid = src.expand(src.line(prev + 1) or "")
            if len(mid) > MAX_SNIPPET_WIDTH:
                mid = mid[:MAX_SNIPPET_WIDTH] + "..."
            out.append(_ln((f"{prev + 1:>{width}} | ", gutter), mid))
        text = src.expand(src.line(line_no) or "")
        # underlines, sorted by column; labels of all but the last one go on
        # their own lines below (rustc draws them with `|` connectors; we keep
        # one label per line, rightmost first, which reads the same way)
        line_marks = sorted(by_line[line_no], key=lambda m: (m.span.column, m.char != "^"))
        text, shift, limit = _window(text, [_underline(src, m.span, line_no) for m in line_marks])
        out.append(_ln((f"{line_no:>{width}} | ", gutter), text))
        row = [" "] * (len(text) + 1)
        styles: list[str | None] = [None] * (len(text) + 1)
        for m in line_marks:
            start, w = _underline(src, m.span, line_no)
            start, w = _clip(start, w, shift, limit)
            if start + w > len(row):
                row += [" "] * (start + w - len(row))
                styles += [None] * (start + w - len(styles))
            for i in range(start, start + w):
                if row[i] == " " or m.char == "^":
                    row[i] = m.char
                    styles[i] = m.style
        last = line_marks[-1]
        under = "".join(row).rstrip()
        parts: list[tuple[str, str | None]] = [(f"{pad} | ", gutter)]
        parts += _group(under, styles)
        if last.message:
            parts.append((" " + last.message, last.style))
        out.append(_Line(parts))
        for m in reversed(line_marks[:-1]):
            if not m.message:
                continue
            start, _ = _clip(*_underline(src, m.span, line_no), shift, limit)
            out.append(_Line([(f"{pad} | ", gutter), (" " * start, None), ("|", m.style)]))
            out.append(_Line([(f"{pad} | ", gutter), (" " * start, None), (m.message, m.style)]))
        prev = line_no
    return out


MAX_SNIPPET_WIDTH = 160
"""Source lines longer than this (in columns) are shown as a window around
their marks, cut with ``...`` (a minified or generated line can be megabytes)."""


def _window(text: str, marks: list[tuple[int, int]]) -> tuple[str, int, int]:
    """``(shown text, shift, limit)`` for a source line: the text itself when
    short, else a :data:`MAX_SNIPPET_WIDTH` window starting a little before
    the first mark. A mark at column ``c`` is drawn at ``c - shift``; columns
    at or past ``limit`` are outside the window."""
    if len(text) <= MAX_SNIPPET_WIDTH:
        return text, 0, len(text) + 1
    first = min((start for start, _ in marks), default=0)
    lo = max(0, min(first - 20, len(text) - MAX_SNIPPET_WIDTH))
    hi = lo + MAX_SNIPPET_WIDTH
    head = "..." if lo > 0 else ""
    tail = "..." if hi < len(text) else ""
    return head + text[lo:hi] + tail, lo - len(head), hi


def _clip(start: int, width: int, shift: int, limit: int) -> tuple[int, int]:
    """An underline ``(start, width)`` in source columns, moved into a window
    (see :func:`_window`) and cut at its end (at least one column wide)."""
    end = min(start + width, limit)
    start = min(start, limit - 1)
    return start - shift, max(1, end - start)


def _group(text: str, styles: list[str | None]) -> list[tuple[str, str | None]]:
    """Split ``text`` into runs of equal style."""
    parts: list[tuple[str, str | None]] = []
    for i, ch in enumerate(text):
        st = styles[i] if i < len(styles) else None
        if parts and parts[-1][1] == st:
            parts[-1] = (parts[-1][0] + ch, st)
        else:
            parts.append((ch, st))
    return parts


def _suggestion_block(s: Suggestion, src: _Source | None, width: int) -> list[_Line]:
    """``suggestion: msg (applicability)`` and, for a one-line edit, the patched line."""
    head = _ln(("suggestion", "suggestion"), (f": {s.message} ({s.applicability.value})", "bold"))
    out = [head]
    pad = " " * width
    first, last = (src.line(s.span.line), src.line(s.span.end_line)) if src is not None else (None, None)
    if first is None or last is None:
        out.append(_ln((f"{pad} = ", "gutter"), f"replace with `{s.replacement}`"))
        return out
    a, b = s.span.column - 1, s.span.end_column - 1
    if not s.replacement:
        # a deletion: show the removed text marked with `-`
        if s.span.line != s.span.end_line:
            out.append(_ln((f"{pad} = ", "gutter"), f"remove lines {s.span.line}-{s.span.end_line}"))
            return out
        start = len(src.expand(first[:a]))
        width_marked = max(len(src.expand(first[a:b])), 1)
        text, shift, limit = _window(src.expand(first), [(start, width_marked)])
        start, width_marked = _clip(start, width_marked, shift, limit)
        out.append(_ln((f"{pad} |", "gutter")))
        out.append(_ln((f"{s.span.line:>{width}} | ", "gutter"), text))
        out.append(_Line([(f"{pad} | ", "gutter"), (" " * start, None), ("-" * width_marked, "suggestion")]))
        return out
    patched = (first[:a] + s.replacement + last[b:]).split("\n")
    out.append(_ln((f"{pad} |", "gutter")))
    start = len(src.expand(first[:a]))
    width_marked = max(len(src.expand(s.replacement)), 1)
    for k, text in enumerate(patched):
        number = f"{s.span.line:>{width}}" if k == 0 else "+" * width
        shown, shift, limit = _window(src.expand(text), [(start, width_marked)] if k == 0 else [])
        if k == 0 and len(patched) == 1:
            start, width_marked = _clip(start, width_marked, shift, limit)
        out.append(_ln((f"{number} | ", "gutter"), shown))
    if len(patched) == 1:
        out.append(_Line([(f"{pad} | ", "gutter"), (" " * start, None), ("~" * width_marked, "suggestion")]))
    return out


def _location(span: Span) -> str:
    return f"{span.file}:{span.line}:{span.column}"


def _render_one(d: Diagnostic, sources: Mapping[str, str], cache: dict[str, _Source | None]) -> list[_Line]:
    sev = d.severity.value
    out = [_ln((f"{sev}[{d.code}]", sev), (f": {d.message}", "bold"))]

    def src_of(file: str) -> _Source | None:
        if file not in cache:
            text = sources.get(file)
            cache[file] = _Source(text) if text is not None else None
        return cache[file]

    labels: list[_Mark] = []
    if d.primary is not None:
        labels.append(_Mark(d.primary.span, d.primary.message, "^", f"primary_{sev}"))
    labels += [_Mark(l.span, l.message, "-", "secondary") for l in d.secondary]
    line_numbers = [m.span.line for m in labels] + [s.span.line for s in d.suggestions]
    width = len(str(max(line_numbers, default=1)))

    if labels:
        files: list[str] = []
        for m in labels:
            if m.span.file not in files:
                files.append(m.span.file)
        for i, file in enumerate(files):
            marks = [m for m in labels if m.span.file == file]
            first = marks[0].span
            arrow = "-->" if i == 0 else ":::"
            out.append(_ln((" " * width + arrow, "gutter"), " " + _location(first)))
            out += _snippet(marks, src_of(file), width)
    tail: list[_Line] = []
    if d.help:
        tail.append(_ln((" " * width + " = ", "gutter"), ("help", "bold"), f": {d.help}"))
    for note in d.notes:
        tail.append(_ln((" " * width + " = ", "gutter"), ("note", "bold"), f": {note}"))
    if tail and labels:
        out.append(_ln((" " * width + " |", "gutter")))
    out += tail
    for s in d.suggestions:
        out += _suggestion_block(s, src_of(s.span.file), width)
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(errors: int, warnings: int) -> str:
    """The final line: ``error: aborting due to 2 errors; 1 warning emitted``,
    ``warning: 1 warning emitted``, or ``""`` when there is nothing to report."""
    if errors:
        text = f"error: aborting due to {_plural(errors, 'error')}"
        if warnings:
            text += f"; {_plural(warnings, 'warning')} emitted"
        return text
    if warnings:
        return f"warning: {_plural(warnings, 'warning')} emitted"
    return ""


def _to_string(lines: Iterable[_Line], color: bool) -> str:
    lines = list(lines)
    if not color:
        return "".join(l.plain() + "\n" for l in lines)
    import io

    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=100_000,
                      highlight=False, soft_wrap=True, emoji=False, markup=False)
    for l in lines:
        text = Text()
        for part, style in l.parts:
            text.append(part, style=_STYLES.get(style or "", None))
        text.rstrip()
        console.print(text)
    return buf.getvalue()


def render_text(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str], *,
                color: bool = False, summary: bool = True) -> str:
    """Render diagnostics as rustc-style text.

    Args:
        diagnostics: in the order to print (callers pass them sorted).
        sources: file name (as in the spans) -> its text; a file missing here
            is shown without a snippet.
        color: ANSI colours through rich (for a terminal).
        summary: append the summary line (see :func:`summary_line`).

    Returns:
        The text, each line ending in ``\\n``; ``""`` for no diagnostics.
    """
    if not diagnostics:
        return ""
    cache: dict[str, _Source | None] = {}
    lines: list[_Line] = []
    for i, d in enumerate(diagnostics):
        if i:
            lines.append(_ln(""))
        lines += _render_one(d, sources, cache)
    if summary:
        errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
        warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
        line = summary_line(errors, warnings)
        if line:
            head, rest = line.split(":", 1)
            lines += [_ln(""), _ln((head, head), (":" + rest, "bold"))]
    return _to_string(lines, color)


# --------------------------------------------------------------------------- JSON


def _label_json(label: Label, primary: bool) -> dict:
    return {"file": label.span.file, "range": label.span.to_range(), "message": label.message,
            "primary": primary}


def diagnostic_json(d: Diagnostic) -> dict:
    """One diagnostic as a JSON-ready dict (see :func:`render_json`)."""
    span = d.span
    labels = ([_label_json(d.primary, True)] if d.primary else []) + [_label_json(l, False) for l in d.secondary]
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "file": span.file if span else None,
        "range": span.to_range() if span else None,
        "labels": labels,
        "help": d.help,
        "notes": list(d.notes),
        "suggestions": [
            {"message": s.message, "file": s.span.file, "range": s.span.to_range(),
             "replacement": s.replacement, "applicability": s.applicability.value}
            for s in d.suggestions
        ],
    }


def render_json(diagnostics: Sequence[Diagnostic]) -> dict:
    """The versioned JSON document of ``ragc check --format json``::

        {"format_version": 1,
         "diagnostics": [{"code", "severity", "message", "file",
                          "range": {"start": {"line", "column"}, "end": {...}},
                          "labels": [{"file", "range", "message", "primary"}],
                          "help", "notes",
                          "suggestions": [{"message", "file", "range",
                                           "replacement", "applicability"}]}],
         "summary": {"errors": N, "warnings": N}}

    Lines and columns are 1-based; ``end`` is exclusive. ``file`` and
    ``range`` are ``null`` for a diagnostic without location; ``help`` is
    ``null`` when absent.
    """
    return {
        "format_version": JSON_FORMAT_VERSION,
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
        "summary": {
            "errors": sum(1 for d in diagnostics if d.severity is Severity.ERROR),
            "warnings": sum(1 for d in diagnostics if d.severity is Severity.WARNING),
        },
    }
