"""Decoding of string and duration literals.

String escapes are JSON's (RFC 8259 §7): ``\\" \\\\ \\/ \\b \\f \\n \\r \\t
\\uXXXX``. Any other backslash sequence is an error (``E0004``).

Triple-quoted strings (``\"\"\"...\"\"\"``) follow one dedent rule, applied
before escapes are decoded:

1. if the opening ``\"\"\"`` is followed by a line break (after optional
   spaces), that first line is dropped;
2. if the closing ``\"\"\"`` stands on a line of its own (only spaces before
   it), that last line is dropped together with the line break before it;
3. the whitespace prefix common to all remaining non-blank lines is removed
   (Python's :func:`textwrap.dedent`), and whitespace-only lines become empty.

Line breaks inside the string may be ``\\n`` or ``\\r\\n``; both read as
``\\n``. Whitespace written as an escape (``\\u0020``, ``\\t``) is not
whitespace for steps 1–3, which is how a value keeps leading or trailing
blanks.

So the formatter may re-indent a triple-quoted string freely without changing
its value.
"""

from __future__ import annotations

import re
import textwrap

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt]|.|$)", re.DOTALL)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class EscapeError(ValueError):
    """A bad backslash escape. ``offset`` is the escape's offset inside the
    string body (after the opening quotes)."""

    def __init__(self, message: str, offset: int, length: int):
        super().__init__(message)
        self.offset = offset
        self.length = length


def decode_escapes(body: str) -> str:
    """Resolve JSON escapes in ``body``; raises :class:`EscapeError`."""
    if "\\" not in body:
        return body

    def repl(m: re.Match) -> str:
        esc = m.group(1)
        if esc in _SIMPLE:
            return _SIMPLE[esc]
        if len(esc) == 5 and esc[0] == "u":
            return chr(int(esc[1:], 16))
        shown = "\\" + esc if esc else "\\"
        raise EscapeError(f"unknown escape `{shown}` in string", m.start(), len(m.group(0)))

    return _ESCAPE.sub(repl, body)


def dedent_triple(body: str) -> str:
    """Apply the dedent rule (steps 1–3 of the module docstring) to the raw
    text between the triple quotes; escapes are not yet decoded."""
    lines = body.replace("\r\n", "\n").split("\n")
    if len(lines) > 1 and lines[0].strip(" \t") == "":
        lines = lines[1:]
    if len(lines) > 1 and lines[-1].strip(" \t") == "":
        lines = lines[:-1]
    return textwrap.dedent("\n".join(lines))


def string_value(token_text: str) -> tuple[str, bool]:
    """Decode a STRING or LONG_STRING token's text. Returns ``(value, triple)``;
    raises :class:`EscapeError` (offsets relative to the token start)."""
    if token_text.startswith('"""'):
        raw = token_text[3:-3]
        try:
            return decode_escapes(dedent_triple(raw)), True
        except EscapeError as e:
            # Report against the raw body: find the first bad escape there.
            try:
                decode_escapes(raw)
            except EscapeError as raw_err:
                raise EscapeError(str(raw_err), raw_err.offset + 3, raw_err.length) from None
            raise EscapeError(str(e), 3, 1) from None
    try:
        return decode_escapes(token_text[1:-1]), False
    except EscapeError as e:
        raise EscapeError(str(e), e.offset + 1, e.length) from None


def duration_seconds(text: str) -> float:
    """``"250ms"`` -> 0.25, ``"5m"`` -> 300.0. Raises ValueError otherwise."""
    m = _DURATION.fullmatch(text)
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration: 0.25 -> ``250ms``,
    300 -> ``5m``, 90 -> ``90s``."""
    for unit in ("h", "m", "s"):
        n = seconds / _UNIT_SECONDS[unit]
        if n >= 1 and abs(n - round(n)) < 1e-9:
            return f"{int(round(n))}{unit}"
    ms = seconds * 1000
    if abs(ms - round(ms)) < 1e-9:
        return f"{int(round(ms))}ms"
    return f"{seconds:g}s"
