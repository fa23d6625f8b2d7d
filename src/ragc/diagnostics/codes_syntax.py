"""Catalogue entries of the syntax layer (``E00xx``: syntax errors and limits);
merged into :func:`ragc.diagnostics.codes.catalogue`.

Every example is a ``.rag`` source that reports its code when parsed
(``tests/syntax/test_syn_codes.py``), except ``E0020`` and ``E0022``, whose
examples describe a file too large to print.
"""

from __future__ import annotations

from ragc.diagnostics.codes import CodeInfo

GENERATED_EXAMPLES = frozenset({"E0020", "E0022"})
"""Codes whose example cannot be a literal source (a 1 MiB file, 10 001 nodes)."""


def _e(code: str, title: str, explanation: str, example: str) -> CodeInfo:
    return CodeInfo(code, "error", title, explanation, example, "rag")


CODES = (
    _e("E0001", "unexpected token",
       "The parser met a token that cannot come where it stands. The message lists what could "
       "come instead. When dropping the token makes the rest of the line parse, the suggestion "
       "says so; a missing `->` between a route label and its target is reported here too.",
       """
graph g {
  start a
  node a {
    kind: : model
  }
}
"""),
    _e("E0002", "unexpected end of file",
       "The file ends in the middle of an item (a key without its value, a `[` list, a "
       "condition). The secondary label shows the block that is still open.",
       """
graph g {
  start a
  node a {
    next [b,
"""),
    _e("E0003", "unexpected character",
       "A character that starts no token of the language (`@`, `;`, `#`, or a letter outside "
       "ASCII in a name). Comments start with `//`; names use ASCII letters, digits and `_`; "
       "items are separated by line breaks.",
       """
graph g {
  start a
  node a {
    kind model; // `;` is not a separator
  }
}
"""),
    _e("E0004", "unknown escape in a string",
       "Strings use JSON's escapes: `\\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and "
       "`\\uXXXX`. Write `\\\\` for a backslash.",
       r"""
graph g {
  start a
  node a {
    kind model
    prompt "C:\path"
  }
}
"""),
    _e("E0005", "unterminated string",
       "A `\"` string must end on the line it starts on; a `\"\"\"` string must be closed with "
       "`\"\"\"`. Use `\"\"\"` for text over several lines.",
       """
graph g {
  start a
  node a {
    kind model
    prompt "Summarise the input
  }
}
"""),
    _e("E0006", "unclosed delimiter",
       "A `{`, `[` or `(` is never closed. It is noticed where something appears that cannot be "
       "inside the open block (a `node` inside a node, an item after a list) or at the end of "
       "the file; the secondary label points at the opening bracket that most likely lacks its "
       "closing one (judged by indentation).",
       """
graph g {
  start a
  node a {
    kind model
    next b

  node b {
    kind model
  }
}
"""),
    _e("E0007", "mismatched closing delimiter",
       "A bracket is closed by the wrong kind of bracket, as in `[a, b}`. The secondary label "
       "shows the opening bracket.",
       """
graph g {
  start a
  node a {
    kind agent
    tools ["search", "read_repo"}
  }
}
"""),
    _e("E0008", "channel without a reducer",
       "`channel NAME REDUCER` needs its reducer: `last`, `append`, `messages`, `merge`, `sum`, "
       "`union`, `min`, `max`, or a registry `[reducers.*]` name.",
       """
graph g {
  start a
  channel notes
  node a { kind model }
}
"""),
    _e("E0009", "item outside a graph",
       "A `}` closes the graph before its last item, so the items after it are outside any "
       "graph. Remove the extra `}` (the label shows it) or move the item into a graph.",
       """
graph g {
  start a
  node a {
    kind model
  }
  }
  node b {
    kind model
  }
}
"""),
    _e("E0010", "missing comma",
       "Elements of a list (and of `send [ ... ]`) are separated by commas.",
       """
graph g {
  start a
  node a {
    kind agent
    tools ["search" "read_repo"]
  }
}
"""),
    _e("E0011", "key without a value",
       "A setting is written `key value`; the line ends after the key.",
       """
graph g {
  start a
  node a {
    kind model
    prompt
  }
}
"""),
    _e("E0012", "more than one join policy",
       "A join block takes one `policy` (`all`, `any`, `quorum N`); keep one of them.",
       """
graph g {
  start a
  node a {
    kind model
    send [ b {} ]
    join c { policy all policy any }
  }
  node b { kind model }
  node c { kind model }
}
"""),
    _e("E0020", "source file too large",
       "A `.rag` file may hold at most 1 MiB (of UTF-8). Split the workflow and reference the "
       "other graphs through `[graphs.*]` in the registry.",
       """
// a file of more than 1 048 576 bytes
"""),
    _e("E0021", "nesting too deep",
       "Brackets (and chained `not`s) may nest 64 levels deep. Flatten the value.",
       "graph g { start a  node a { kind model  metadata { x: " + "[" * 65 + "]" * 65 + " } } }\n"),
    _e("E0022", "too many nodes in a graph",
       "A graph may declare at most 10 000 nodes. Move part of the work into a subgraph.",
       """
// a graph with 10 001 `node` items
"""),
    _e("E0023", "too many graphs in a file",
       "A file may declare at most 100 graphs. Split it and reference the other graphs "
       "through `[graphs.*]` in the registry.",
       "".join(f"graph g{i} {{}}\n" for i in range(101))),
    _e("E0024", "number too long",
       "An integer, decimal or duration literal may be at most 100 characters long (longer "
       "integers cannot be converted and longer decimals are not finite). Write a smaller number.",
       "graph g {\n  start a\n  node a { kind model  retry { max_attempts " + "9" * 101 + " } }\n}\n"),
)
