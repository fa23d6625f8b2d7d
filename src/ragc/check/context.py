"""What every checker pass receives: the diagnostic bag, the registry, the
source text (to place spans inside template strings) and the options."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ragc.diagnostics.model import DiagnosticBag, Span
from ragc.registry.model import Registry


@dataclass
class Ctx:
    """Checker context.

    Args:
        bag: where diagnostics go.
        registry: the registry names are resolved against; ``None`` when it
            is unavailable (then registry names are not checked).
        source: the text of the file being checked.
        file: its name as used in spans.
        untrusted: check against ``[policies.untrusted]`` too.
    """

    bag: DiagnosticBag
    registry: Registry | None
    source: str
    file: str
    untrusted: bool = False
    _line_starts: list[int] | None = field(default=None, repr=False)

    def text(self, span: Span) -> str:
        """The source text of ``span``."""
        return self.source[span.offset:span.end_offset]

    def span_at(self, offset: int, end: int) -> Span:
        """A span for ``source[offset:end]`` (same file); line starts are
        computed once, so each call is O(log lines)."""
        if self._line_starts is None:
            self._line_starts = [0] + [i + 1 for i, ch in enumerate(self.source) if ch == "\n"]
        starts = self._line_starts
        line = bisect.bisect_right(starts, offset)
        end_line = bisect.bisect_right(starts, end)
        return Span(self.file, offset, end, line, offset - starts[line - 1] + 1, end_line,
                    end - starts[end_line - 1] + 1)
