"""Source locations of the keys and values of a TOML document.

``tomllib`` (TOML 1.0) parses but keeps no positions, so registry
diagnostics could not point at the offending key. :func:`locate` scans the
text once more and maps every key path to the span of its key and of its
value, covering the three ways TOML spells a path:

* table headers ``[models.default]`` and array-of-tables headers
  ``[[x.y]]`` (the path gets the element index, as in the parsed data);
* dotted keys ``a.b.c = 1`` (relative to the current table);
* inline tables ``params = { temperature = 0.2 }`` and array elements
  (``tools = ["a", "b"]`` gives ``(..., "tools", 0)`` and ``(..., 1)``).

The scanner assumes the text is valid TOML (call it after ``tomllib``
accepted the text); on anything unexpected it stops and returns what it
found so far. It never raises.

Syntax reference: https://toml.io/en/v1.0.0 (keys, tables, inline tables,
arrays of tables, strings).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ragc.diagnostics.model import Span

KeyPath = tuple  # tuple[str | int, ...]

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class TomlLocation:
    """Where a key path is written. ``key`` is the span of the key (for a
    table, its whole header ``[a.b]``); ``value`` the span of the value
    (``None`` for a header)."""

    key: Span
    value: Span | None
    header: bool = False


class _Stop(Exception):
    """Internal: the scanner met something it does not understand."""


class _Scanner:
    def __init__(self, text: str, file: str):
        self.t = text
        self.n = len(text)
        self.file = file
        self.i = 0
        self.line_starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]
        self.found: dict[KeyPath, TomlLocation] = {}
        self.aot_count: dict[KeyPath, int] = {}

    # -- positions
    def span(self, a: int, b: int) -> Span:
        la = bisect.bisect_right(self.line_starts, a) - 1
        lb = bisect.bisect_right(self.line_starts, b) - 1
        return Span(self.file, a, b, la + 1, a - self.line_starts[la] + 1, lb + 1, b - self.line_starts[lb] + 1)

    # -- lexical helpers
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j] if j < self.n else ""

    def skip_ws(self) -> None:
        while self.i < self.n and self.t[self.i] in " \t":
            self.i += 1

    def skip_ws_nl(self) -> None:
        """Whitespace, newlines and comments (inside arrays)."""
        while self.i < self.n:
            ch = self.t[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif ch == "#":
                self.skip_comment()
            else:
                return

    def skip_comment(self) -> None:
        while self.i < self.n and self.t[self.i] != "\n":
            self.i += 1

    def string(self) -> str:
        """Read a string at ``self.i``; return its (approximately decoded) text."""
        t = self.t
        if t.startswith('"""', self.i) or t.startswith("'''", self.i):
            q = t[self.i:self.i + 3]
            end = t.find(q, self.i + 3)
            while end != -1 and q == '"""' and _escaped(t, end):
                end = t.find(q, end + 1)
            if end == -1:
                raise _Stop
            # up to two quotes may directly precede the closing delimiter
            end += 3
            extra = 0
            while extra < 2 and end < self.n and t[end] == q[0]:
                end += 1
                extra += 1
            body = t[self.i + 3:end - 3]
            self.i = end
            return body
        q = t[self.i]
        j = self.i + 1
        while j < self.n and t[j] != q:
            if q == '"' and t[j] == "\\":
                j += 1
            if t[j] == "\n":
                raise _Stop
            j += 1
        if j >= self.n:
            raise _Stop
        body = t[self.i + 1:j]
        self.i = j + 1
        if q == '"' and "\\" in body:
            body = body.encode("utf-8").decode("unicode_escape", errors="replace")
        return body

    def key_part(self) -> str:
        ch = self.peek()
        if ch in "\"'":
            return self.string()
        j = self.i
        while j < self.n and self.t[j] in _BARE:
            j += 1
        if j == self.i:
            raise _Stop
        part = self.t[self.i:j]
        self.i = j
        return part

    def dotted_key(self) -> tuple[list[str], int, int]:
        """A (dotted) key; returns its parts and its start/end offsets."""
        start = self.i
        parts = [self.key_part()]
        end = self.i
        while True:
            self.skip_ws()
            if self.peek() != ".":
                break
            self.i += 1
            self.skip_ws()
            parts.append(self.key_part())
            end = self.i
        return parts, start, end

    # -- values
    def value(self, path: KeyPath) -> int:
        """Skip the value at ``self.i`` (recording nested keys); return its end."""
        ch = self.peek()
        if ch in "\"'":
            self.string()
            return self.i
        if ch == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_ws_nl()
                if self.peek() == "]":
                    self.i += 1
                    return self.i
                a = self.i
                b = self.value(path + (index,))
                self.found.setdefault(path + (index,), TomlLocation(self.span(a, b), self.span(a, b)))
                index += 1
                self.skip_ws_nl()
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "]":
                    raise _Stop
        if ch == "{":
            self.i += 1
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self.i += 1
                    return self.i
                self.key_value(path)
                self.skip_ws()
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "}":
                    raise _Stop
        # scalar: number, bool, date-time: up to a delimiter
        j = self.i
        while j < self.n and self.t[j] not in ",]}#\n\r":
            j += 1
        end = j
        while end > self.i and self.t[end - 1] in " \t":
            end -= 1
        if end == self.i:
            raise _Stop
        self.i = end
        return end

    def key_value(self, table: KeyPath) -> None:
        parts, ka, kb = self.dotted_key()
        path = table + tuple(parts)
        self.skip_ws()
        if self.peek() != "=":
            raise _Stop
        self.i += 1
        self.skip_ws()
        va = self.i
        vb = self.value(path)
        self.found[path] = TomlLocation(self.span(ka, kb), self.span(va, vb))
        # intermediate tables of a dotted key point at the whole key
        for k in range(1, len(parts)):
            self.found.setdefault(table + tuple(parts[:k]), TomlLocation(self.span(ka, kb), None))

    def header(self) -> KeyPath:
        a = self.i
        aot = self.t.startswith("[[", self.i)
        self.i += 2 if aot else 1
        self.skip_ws()
        parts, _, _ = self.dotted_key()
        self.skip_ws()
        close = "]]" if aot else "]"
        if not self.t.startswith(close, self.i):
            raise _Stop
        self.i += len(close)
        path: KeyPath = tuple(parts)
        if aot:
            idx = self.aot_count.get(path, 0)
            self.aot_count[path] = idx + 1
            path = path + (idx,)
        self.found[path] = TomlLocation(self.span(a, self.i), None, header=True)
        for k in range(1, len(parts)):
            self.found.setdefault(tuple(parts[:k]), TomlLocation(self.span(a, self.i), None, header=True))
        return path

    def run(self) -> dict[KeyPath, TomlLocation]:
        table: KeyPath = ()
        try:
            while self.i < self.n:
                self.skip_ws()
                ch = self.peek()
                if ch in ("\n", "\r"):
                    self.i += 1
                    continue
                if ch == "#":
                    self.skip_comment()
                    continue
                if ch == "":
                    break
                if ch == "[":
                    table = self.header()
                else:
                    self.key_value(table)
                self.skip_ws()
                if self.peek() == "#":
                    self.skip_comment()
        except (_Stop, IndexError):
            pass
        return self.found


def _escaped(text: str, pos: int) -> bool:
    """Whether the character at ``pos`` is preceded by an odd number of backslashes."""
    k = pos - 1
    count = 0
    while k >= 0 and text[k] == "\\":
        count += 1
        k -= 1
    return count % 2 == 1


def locate(text: str, file: str) -> dict[KeyPath, TomlLocation]:
    """Map each key path of a valid TOML document to its :class:`TomlLocation`.

    Args:
        text: the document.
        file: the file name to put in the spans.

    Returns:
        ``{("models", "default"): TomlLocation(header span, None, True),
        ("models", "default", "provider"): TomlLocation(key span, value span), ...}``.
    """
    return _Scanner(text, file).run()


def nearest(found: dict[KeyPath, TomlLocation], path: KeyPath) -> TomlLocation | None:
    """The location of ``path``, else of its longest located prefix."""
    for k in range(len(path), 0, -1):
        loc = found.get(tuple(path[:k]))
        if loc is not None:
            return loc
    return None
