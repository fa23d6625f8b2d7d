"""Hard limits on what one ``.rag`` file may hold, reported as diagnostics.

The limits keep every later stage (checker, lowering, formatter) bounded in
time and recursion depth whatever a file contains, including files written
by a model. Each breach is an error with the span of its cause:

===========================  =====  ==========================================
limit                        code   span
===========================  =====  ==========================================
source size 1 MiB (UTF-8)    E0020  line 1, column 1
nesting depth 64             E0021  the bracket (or ``not``) that goes deeper
10 000 nodes per graph       E0022  the name of the first node over the limit
100 graphs per file          E0023  the name of the first graph over the limit
number literal 100 chars     E0024  the literal
===========================  =====  ==========================================

The size and depth limits stop the parse (the result has no module); the
count and number limits keep the tree so the rest of the file is still
reported (a number over the limit reads as ``0``).
"""

from __future__ import annotations

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span
from ragc.syntax import ast as A

MAX_SOURCE_BYTES = 1024 * 1024
"""Largest accepted source, in bytes of UTF-8."""

MAX_NESTING = 64
"""Deepest accepted nesting of ``{``/``[``/``(`` plus chained ``not``."""

MAX_NODES_PER_GRAPH = 10_000
"""Most ``node`` items one graph may declare."""

MAX_GRAPHS = 100
"""Most graphs one file may declare."""

MAX_NUMBER_LENGTH = 100
"""Longest integer, decimal or duration literal, in characters (Python
refuses to convert integers of more than 4300 digits, and a longer decimal
is no longer a finite float)."""


def source_size_diagnostic(text: str, file: str) -> Diagnostic | None:
    """E0020 when ``text`` is over :data:`MAX_SOURCE_BYTES` bytes of UTF-8, else None.

    Counting code points first keeps the common case free of an encode.
    """
    if len(text) * 4 <= MAX_SOURCE_BYTES:
        return None
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size <= MAX_SOURCE_BYTES:
        return None
    mib = -(-size * 10 // (1024 * 1024)) / 10  # rounded up: a file just over the limit never reads "1.0 MiB"
    return Diagnostic(
        "E0020", Severity.ERROR,
        f"source file is too large ({mib:.1f} MiB; the limit is 1 MiB)",
        Label(Span.point(file, 0, 1, 1), "file starts here"),
        help="split the workflow into several files and reference them through `[graphs.*]` in the registry",
    )


def nesting_diagnostic(span: Span) -> Diagnostic:
    """E0021 at ``span``, the opening bracket or ``not`` past :data:`MAX_NESTING`."""
    return Diagnostic(
        "E0021", Severity.ERROR,
        f"nesting is too deep (the limit is {MAX_NESTING} levels)",
        Label(span, f"level {MAX_NESTING + 1} starts here"),
        help="flatten the value: move nested data into a channel or split it into several fields",
    )


def number_length_diagnostic(span: Span) -> Diagnostic:
    """E0024 at ``span``, a number or duration literal longer than :data:`MAX_NUMBER_LENGTH`."""
    return Diagnostic(
        "E0024", Severity.ERROR,
        f"number is too long (the limit is {MAX_NUMBER_LENGTH} characters)",
        Label(span, "this literal"),
        help="write a smaller number",
    )


def count_diagnostics(module: A.Module) -> list[Diagnostic]:
    """E0022/E0023 for a parsed module: too many nodes in a graph, too many graphs."""
    out: list[Diagnostic] = []
    if len(module.graphs) > MAX_GRAPHS:
        first_over = module.graphs[MAX_GRAPHS]
        out.append(Diagnostic(
            "E0023", Severity.ERROR,
            f"too many graphs in one file ({len(module.graphs)}; the limit is {MAX_GRAPHS})",
            Label(first_over.name.span, f"graph number {MAX_GRAPHS + 1}"),
            help="split the file and reference the other graphs through `[graphs.*]` in the registry",
        ))
    for graph in module.graphs:
        count = 0
        for item in graph.items:
            if isinstance(item, A.Node):
                count += 1
                if count == MAX_NODES_PER_GRAPH + 1:
                    total = len(graph.nodes)
                    out.append(Diagnostic(
                        "E0022", Severity.ERROR,
                        f"graph `{graph.name.name}` has too many nodes ({total}; the limit is {MAX_NODES_PER_GRAPH})",
                        Label(item.name.span, f"node number {MAX_NODES_PER_GRAPH + 1}"),
                        secondary=(Label(graph.name.span, "in this graph"),),
                        help="move part of the work into a subgraph (`kind subgraph`)",
                    ))
                    break
    return out
