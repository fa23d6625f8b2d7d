"""What every checker pass receives: the diagnostic bag, the registry, the
source text (to place spans inside template strings) and the options."""

from __future__ import annotations

from dataclasses import dataclass

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

    def text(self, span: Span) -> str:
        """The source text of ``span``."""
        return self.source[span.offset:span.end_offset]

    def span_at(self, offset: int, end: int) -> Span:
        """A span for ``source[offset:end]`` (same file)."""
        line = self.source.count("\n", 0, offset) + 1
        col = offset - (self.source.rfind("\n", 0, offset) + 1) + 1
        end_line = line + self.source.count("\n", offset, end)
        end_col = end - (self.source.rfind("\n", 0, end) + 1) + 1
        return Span(self.file, offset, end, line, col, end_line, end_col)
