"""The diagnostic model shared by every stage (syntax, registry, checker, runtime).

A diagnostic follows rustc's shape: a stable code (``E0101``), a severity, a
lowercase message without a final period, a primary span with a label,
secondary labelled spans, an optional ``help`` line and machine-readable
suggestions (text edits with an applicability, as in rustc's
``Applicability``: ``machine-applicable`` edits may be applied by tools
without review, ``maybe-incorrect`` ones need a human or an LLM to confirm).

Positions: ``line`` and ``column`` are 1-based; ``column`` counts Unicode code
points; ``offset``/``end_offset`` are 0-based code-point offsets into the
source text, ``end`` is exclusive. These are what the JSON output reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable, Iterator


class Severity(str, enum.Enum):
    """How bad a diagnostic is. Only ``error`` makes ``ragc check`` exit 1."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Applicability(str, enum.Enum):
    """Whether a suggestion may be applied without review (rustc's terms)."""

    MACHINE_APPLICABLE = "machine-applicable"
    MAYBE_INCORRECT = "maybe-incorrect"


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open region ``[offset, end_offset)`` of one source file.

    Args:
        file: the path as the user gave it (or ``"<string>"``).
        offset, end_offset: 0-based code-point offsets, end exclusive.
        line, column: 1-based position of ``offset``.
        end_line, end_column: 1-based position of ``end_offset`` (the column
            just past the last character, as in LSP ranges).
    """

    file: str
    offset: int
    end_offset: int
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(file: str, offset: int, line: int, column: int) -> "Span":
        """An empty span at one position (for "expected X here")."""
        return Span(file, offset, offset, line, column, line, column)

    def cover(self, other: "Span") -> "Span":
        """The smallest span containing both ``self`` and ``other`` (same file)."""
        first = self if self.offset <= other.offset else other
        last = self if self.end_offset >= other.end_offset else other
        return Span(self.file, first.offset, last.end_offset, first.line, first.column,
                    last.end_line, last.end_column)

    def to_range(self) -> dict:
        """The JSON ``range`` object: 1-based ``{"start": {line, column}, "end": {...}}``."""
        return {
            "start": {"line": self.line, "column": self.column},
            "end": {"line": self.end_line, "column": self.end_column},
        }


@dataclass(frozen=True, slots=True)
class Label:
    """A span with a short message, drawn under the source snippet."""

    span: Span
    message: str = ""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A proposed edit: replace the text of ``span`` with ``replacement``."""

    message: str
    span: Span
    replacement: str
    applicability: Applicability = Applicability.MAYBE_INCORRECT


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a source file, a registry or a run.

    Args:
        code: stable identifier documented in ``docs/diagnostics.md``
            (``E`` errors, ``W`` warnings; see :mod:`ragc.diagnostics.codes`).
        severity: error, warning or note.
        message: rustc style, lowercase first word, no final period.
        primary: the primary label (its span is the diagnostic's location);
            ``None`` only for problems with no source location at all.
        secondary: further labelled spans, possibly in other files.
        help: one line of advice, e.g. ``did you mean `prompt`?``.
        suggestions: machine-readable edits.
        notes: extra ``= note: ...`` lines.
    """

    code: str
    severity: Severity
    message: str
    primary: Label | None
    secondary: tuple[Label, ...] = ()
    help: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def span(self) -> Span | None:
        """The primary label's span (None for a diagnostic without location)."""
        return self.primary.span if self.primary else None

    @property
    def is_error(self) -> bool:
        """True for severity ``error`` (what makes a command exit 1)."""
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        """``(file, offset, end_offset, code)``; diagnostics without location first."""
        s = self.span
        return (s.file, s.offset, s.end_offset, self.code) if s else ("", -1, -1, self.code)


@dataclass
class DiagnosticBag:
    """Collects diagnostics; stages append, never raise on the first problem.

    ``extend``/``add`` keep insertion order; :meth:`sorted` gives the order the
    renderers print (file, then position, then code). Exact duplicates (same
    code, message and primary span) are dropped, so a cascade can never print
    the same line twice.
    """

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, diag: Diagnostic) -> Diagnostic:
        """Append ``diag`` unless an exact duplicate is already held; returns it."""
        key = (diag.code, diag.message, diag.span)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)
        return diag

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        """:meth:`add` each of ``diags`` in order."""
        for d in diags:
            self.add(d)

    def error(self, code: str, message: str, span: Span | None, label: str = "", **kw) -> Diagnostic:
        """Add an error with a primary label; ``kw`` as for :class:`Diagnostic`."""
        return self.add(Diagnostic(code, Severity.ERROR, message,
                                   Label(span, label) if span else None, **kw))

    def warning(self, code: str, message: str, span: Span | None, label: str = "", **kw) -> Diagnostic:
        """Add a warning with a primary label; ``kw`` as for :class:`Diagnostic`."""
        return self.add(Diagnostic(code, Severity.WARNING, message,
                                   Label(span, label) if span else None, **kw))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.items if d.is_error)

    @property
    def warning_count(self) -> int:
        return sum(1 for d in self.items if d.severity is Severity.WARNING)

    def sorted(self) -> list[Diagnostic]:
        """A new list in print order (see :meth:`Diagnostic.sort_key`)."""
        return sorted(self.items, key=Diagnostic.sort_key)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
