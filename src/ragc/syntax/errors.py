"""Turning Lark's parse exceptions into diagnostics with human wording.

Terminal names in messages come from :data:`TERMINAL_DESCRIPTIONS`, so a user
reads "expected `}` or a name", never ``RBRACE`` or ``__ANON_0``.
"""

from __future__ import annotations

import lark

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span

TERMINAL_DESCRIPTIONS: dict[str, str] = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "DURATION": "a duration (like `30s`)",
    "COMP_OP": "a comparison operator",
    "ARROW": "`->`",
    "COLON": "`:`",
    "QMARK": "`?`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "COMMA": "`,`",
    "DOT": "`.`",
    "EQUAL": "`=`",
    "$END": "end of file",
}


def describe_terminal(name: str) -> str:
    """Human wording for a terminal name (keywords print as `` `graph` ``)."""
    if name in TERMINAL_DESCRIPTIONS:
        return TERMINAL_DESCRIPTIONS[name]
    if name.isupper() and name.isalpha():
        return f"`{name.lower()}`"
    return f"`{name}`"


def describe_expected(expected: set[str] | frozenset[str]) -> str:
    words = sorted({describe_terminal(t) for t in expected})
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _offset_to_linecol(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def syntax_error_diagnostic(err: lark.exceptions.UnexpectedInput, text: str, file: str) -> Diagnostic:
    """One diagnostic for a Lark ``UnexpectedInput`` (token, character or EOF)."""
    if isinstance(err, lark.exceptions.UnexpectedToken):
        tok = err.token
        expected = describe_expected(err.accepts or err.expected)
        if tok.type == "$END":
            offset = len(text)
            line, col = _offset_to_linecol(text, offset)
            span = Span.point(file, offset, line, col)
            return Diagnostic("E0002", Severity.ERROR, f"unexpected end of file, expected {expected}",
                              Label(span, "file ends here"),
                              help="a `{` is probably missing its `}`")
        span = Span(file, tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)
        shown = str(tok) if len(str(tok)) <= 30 else str(tok)[:27] + "..."
        return Diagnostic("E0001", Severity.ERROR, f"unexpected `{shown}`, expected {expected}",
                          Label(span, "unexpected here"))
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        offset = err.pos_in_stream
        line, col = err.line, err.column
        ch = text[offset] if offset < len(text) else ""
        span = Span(file, offset, offset + 1, line, col, line, col + 1)
        if ch == '"':
            return Diagnostic("E0003", Severity.ERROR, "unterminated string",
                              Label(span, "string starts here"),
                              help='close it with `"` on the same line, or use `"""` for text over several lines')
        return Diagnostic("E0003", Severity.ERROR, f"unexpected character `{ch}`",
                          Label(span, "not valid here"))
    if isinstance(err, lark.exceptions.UnexpectedEOF):
        offset = len(text)
        line, col = _offset_to_linecol(text, offset)
        span = Span.point(file, offset, line, col)
        return Diagnostic("E0002", Severity.ERROR, "unexpected end of file",
                          Label(span, "file ends here"))
    raise TypeError(f"not a parse error: {err!r}")
