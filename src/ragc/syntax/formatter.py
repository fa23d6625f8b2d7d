"""The canonical layout of a ``.rag`` file (what ``ragc fmt`` writes).

Entry points: :func:`format_source` (text in, formatted text or diagnostics
out) and :func:`format_module` (a canonical module and its source text in,
text out). Layout rules:

* two spaces per level; items stay in source order;
* blank lines: a single blank line the author left between two items (or
  comments) is kept, runs collapse to one, none at the start or end of a
  block; exactly one blank line precedes every graph, ``node``, graph-level
  ``input``/``output`` schema and top-level ``join`` with a block, unless it
  opens its block;
* settings blocks (``defaults``, ``retry``, ``budget``, ``command``, join
  blocks), nodes, graphs, ``routes`` and schemas: one item per line,
  ``key value``;
* data objects: ``{ k: v, k2: v2 }`` on one line when the whole line fits in
  :data:`WIDTH` columns and the object holds no comment and no ``\"\"\"``
  string, else one ``k: v`` per line with commas between; lists (and
  ``send [ ... ]``) likewise;
* ``\"\"\"`` strings: opening quotes after the key, text one level deeper than
  the key's line, closing quotes on their own line at the text's indent
  (value-preserving thanks to the dedent rule of :mod:`ragc.syntax.strings`);
* strings re-escaped minimally (JSON escapes, non-ASCII kept), durations as
  written;
* comments: every comment is kept. A comment on its own line stays before
  the item (or list element, or closing ``}``) it preceded; a comment at the
  end of a line stays at the end of the line of the item it followed. A
  comment inside an item that is laid out on one line (between a key and its
  value, inside a condition) moves to its own line before that item.

The output is idempotent and parses back to the same canonical tree.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from ragc.diagnostics.model import Diagnostic
from ragc.syntax import ast as A
from ragc.syntax.canon import SETTINGS_KEYS, canonicalize
from ragc.syntax.strings import string_value

WIDTH = 100
"""Longest line (in characters) a data object or list is put on."""

_INDENT = "  "


@dataclass
class FormatResult:
    """Outcome of :func:`format_source`.

    ``text`` is the formatted source, or ``None`` when the source has syntax
    errors (then ``diagnostics`` holds them). ``diagnostics`` may also hold
    warnings for a source that was formatted.
    """

    text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.text is not None


def format_source(text: str, file: str = "<string>") -> FormatResult:
    """Parse, canonicalise and lay out one source.

    Args:
        text: the source.
        file: the path shown in diagnostics.

    Returns:
        A :class:`FormatResult`; ``text`` is ``None`` if the source has
        syntax errors (a file that does not parse is never rewritten).
    """
    from ragc.syntax.parser import parse  # the parser imports nothing from here

    result = parse(text, file)
    if not result.ok:
        return FormatResult(None, result.diagnostics)
    return FormatResult(format_module(canonicalize(result.module), text), result.diagnostics)


def format_module(module: A.Module, source: str) -> str:
    """Lay out ``module`` (normally canonicalised) with the comments it holds.

    Args:
        module: the tree; its spans must point into ``source`` (they place
            comments and blank lines).
        source: the text the module was parsed from.

    Returns:
        The formatted text: ``""`` for an empty file, else lines ending in ``\\n``.
    """
    lines = _Printer(module, source).module_lines()
    return "\n".join(lines) + "\n" if lines else ""


# --------------------------------------------------------------------------- literals


def quote(s: str) -> str:
    """``s`` as a one-line string literal with minimal JSON escapes."""
    out = ['"']
    for ch in s:
        out.append(_escape_char(ch, quote_all=True))
    out.append('"')
    return "".join(out)


_SIMPLE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _escape_char(ch: str, quote_all: bool) -> str:
    if ch in _SIMPLE_ESCAPES and (quote_all or ch not in '"\n\t'):
        return _SIMPLE_ESCAPES[ch]
    o = ord(ch)
    if o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
        return f"\\u{o:04x}"
    return ch


def _triple_text(value: str, indent: str) -> str | None:
    """The block spelling of a ``\"\"\"`` string whose text lines start with
    ``indent``, or None if that spelling would not give back ``value``."""
    encoded = []
    for line in value.split("\n"):
        parts = []
        quotes = 0
        for ch in line:
            if ch == '"':
                quotes += 1
                parts.append('\\"' if quotes >= 3 else '"')
                if quotes >= 3:
                    quotes = 0
                continue
            quotes = 0
            parts.append(_escape_char(ch, quote_all=False))
        enc = "".join(parts)
        if enc and not enc.strip(" \t"):
            enc = _ws_escape(enc[0]) + enc[1:]  # keep a whitespace-only line from being emptied
        if enc and enc[-1] in " \t":
            enc = enc[:-1] + _ws_escape(enc[-1])  # visible, and safe from editors that strip line ends
        encoded.append(enc)
    nonblank = [e for e in encoded if e.strip(" \t")]
    if nonblank and all(e[0] in " \t" for e in nonblank):
        k = encoded.index(nonblank[0])
        encoded[k] = _ws_escape(encoded[k][0]) + encoded[k][1:]  # keep the common margin
    body = "\n".join(indent + e if e else "" for e in encoded)
    text = '"""\n' + body + "\n" + indent + '"""'
    try:
        if string_value(text) == (value, True):
            return text
    except ValueError:
        return None
    return None


def _ws_escape(ch: str) -> str:
    return "\\t" if ch == "\t" else f"\\u{ord(ch):04x}"


def _triple_inline(value: str) -> str:
    """A one-line ``\"\"\"`` spelling that keeps any value (fallback)."""
    out = []
    for k, ch in enumerate(value):
        if ch == '"' or ch == "\\" or ch == "\n" or (k == 0 and ch in " \t"):
            out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", " ": "\\u0020", "\t": "\\t"}[ch])
        else:
            out.append(_escape_char(ch, quote_all=False))
    return '"""' + "".join(out) + '"""'


def number(v: A.Int | A.Float) -> str:
    """An integer or float as the grammar reads it back (no exponent)."""
    if isinstance(v, A.Int):
        return str(v.value)
    x = v.value
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    text = format(Decimal(repr(x)), "f")
    if "." not in text:
        text += ".0"
    return text


def type_text(t: A.Type, value_text=None) -> str:
    """``list[string]?``, ``{ title: string, tags: list[string] }`` and the
    like (object types print on one line).

    Args:
        t: the type.
        value_text: ``f(value) -> str`` that spells a default on one line.
            The grammar accepts defaults on the fields of an object type
            (the checker rejects them with ``E0709``); they are printed
            (``{ title: string = "x" }``) only when this is given, else left
            out (for messages).
    """
    if isinstance(t, A.ObjectType):
        parts = []
        for f in t.fields:
            part = f"{f.name.name}: {type_text(f.type, value_text)}"
            if f.default is not None and value_text is not None:
                part += " = " + value_text(f.default)
            parts.append(part)
        out = "{ " + ", ".join(parts) + " }" if parts else "{}"
    else:
        out = t.name.name
        if t.args:
            out += "[" + ", ".join(type_text(a, value_text) for a in t.args) + "]"
    return out + ("?" if t.optional else "")


# --------------------------------------------------------------------------- comments


class _Comments:
    """The comments of the source, each emitted exactly once, in order."""

    def __init__(self, comments: tuple[A.Comment, ...]):
        self.items = sorted(comments, key=lambda c: c.span.offset)
        self.offsets = [c.span.offset for c in self.items]
        self.taken = [False] * len(self.items)

    def _range(self, lo: int, hi: int):
        """Untaken comments starting in ``[lo, hi)``, by binary search."""
        k = bisect.bisect_left(self.offsets, lo)
        items, taken = self.items, self.taken
        while k < len(items) and items[k].span.offset < hi:
            if not taken[k]:
                yield k, items[k]
            k += 1

    def any_within(self, lo: int, hi: int) -> bool:
        return next(self._range(lo, hi), None) is not None

    def take(self, lo: int, hi: int, exclude: list[tuple[int, int]] = ()) -> list[A.Comment]:
        """Take the comments starting in ``[lo, hi)`` but not in ``exclude`` ranges."""
        out = []
        for k, c in list(self._range(lo, hi)):
            if any(a <= c.span.offset < b for a, b in exclude):
                continue
            self.taken[k] = True
            out.append(c)
        return out

    def take_trailing(self, after: int, line: int, limit: int) -> A.Comment | None:
        """The end-of-line comment after offset ``after`` on source line ``line``."""
        for k, c in self._range(after, limit):
            if not c.own_line and c.span.line == line:
                self.taken[k] = True
                return c
        return None

    def rest(self) -> list[A.Comment]:
        out = [c for k, c in enumerate(self.items) if not self.taken[k]]
        self.taken = [True] * len(self.items)
        return out


def _text(c: A.Comment) -> str:
    return c.text.rstrip()


# --------------------------------------------------------------------------- printer


def _is_container(v) -> bool:
    return isinstance(v, (A.ObjectV, A.ListV))


def _forced_blank(item) -> bool:
    """Items that always get a blank line before them (unless first in their block)."""
    if isinstance(item, (A.Node, A.SchemaBlock, A.Graph)):
        return True
    return isinstance(item, A.JoinDecl) and item.block is not None


class _Printer:
    def __init__(self, module: A.Module, source: str):
        self.module = module
        self.src = source
        self.comments = _Comments(module.comments)

    # ------------------------------------------------------------------ source helpers

    def _blank_between(self, lo: int, hi: int) -> bool:
        """Did the author leave a blank line between offsets ``lo`` and ``hi``?"""
        return self.src.count("\n", max(lo, 0), max(hi, 0)) >= 2

    def _find_open(self, start: int, ch: str, limit: int | None = None) -> int:
        """Offset of the first ``ch`` in ``[start, limit)`` outside comments and
        strings; ``start`` itself when there is none (a construct that the
        canonical form spells differently from the source)."""
        src = self.src
        i = start
        n = len(src) if limit is None else min(limit, len(src))
        while i < n:
            c = src[i]
            if c == ch:
                return i
            if c == "/" and src.startswith("//", i):
                j = src.find("\n", i)
                i = n if j < 0 else j
                continue
            if c == '"':
                # skip a string (only names and keys precede the brackets we look for)
                j = i + 1
                while j < n and src[j] != '"' and src[j] != "\n":
                    j += 2 if src[j] == "\\" else 1
                i = j + 1
                continue
            i += 1
        return start

    def _hoist(self, lo: int, hi: int, indent: int, exclude: list[tuple[int, int]] = ()) -> list[str]:
        """Own-line copies of the comments in ``[lo, hi)`` not claimed by a container."""
        return [_INDENT * indent + _text(c) for c in self.comments.take(lo, hi, exclude)]

    # ------------------------------------------------------------------ sequences

    def _seq(self, indent: int, open_off: int, close_off: int, children, render, sep: str = "",
             force_blank=None) -> tuple[list[str], str]:
        """Lines of the children of a container laid out one per line.

        Args:
            indent: the children's level.
            open_off / close_off: offsets of the opening and closing brackets.
            render: ``render(child, indent, suffix) -> list[str]``.
            sep: written after every child but the last (``","`` for data).
            force_blank: ``f(child) -> bool`` for children that get a blank
                line before them.

        Returns:
            ``(lines, open_comment)`` where ``open_comment`` is the text of an
            end-of-line comment after the opening bracket (or ``""``).
        """
        comments = self.comments
        out: list[str] = []
        pad = _INDENT * indent
        open_line = self.src.count("\n", 0, max(open_off, 0)) + 1
        first_start = children[0].span.offset if children else close_off
        open_comment = comments.take_trailing(open_off + 1, open_line, first_start) if open_off >= 0 else None
        prev_end = open_off + 1 if open_comment is None else open_comment.span.end_offset
        first = True
        n = len(children)
        for k, child in enumerate(children):
            start = child.span.offset
            leading = comments.take(prev_end, start)
            group_start = leading[0].span.offset if leading else start
            if not first and (self._blank_between(prev_end, group_start) or (force_blank and force_blank(child))):
                out.append("")
            cursor = None
            for c in leading:
                if cursor is not None and self._blank_between(cursor, c.span.offset):
                    out.append("")
                out.append(pad + _text(c))
                cursor = c.span.end_offset
            if cursor is not None and self._blank_between(cursor, start):
                out.append("")
            lines = render(child, indent, sep if k < n - 1 else "")
            nxt = children[k + 1].span.offset if k < n - 1 else close_off
            trailing = comments.take_trailing(child.span.end_offset, child.span.end_line, nxt)
            if trailing is not None:
                lines[-1] += " " + _text(trailing)
                prev_end = trailing.span.end_offset
            else:
                prev_end = child.span.end_offset
            out.extend(lines)
            first = False
        rest = comments.take(prev_end, close_off)
        cursor = prev_end
        for c in rest:
            if (not first or cursor != prev_end) and self._blank_between(cursor, c.span.offset) and out:
                out.append("")
            out.append(pad + _text(c))
            cursor = c.span.end_offset
        return out, (" " + _text(open_comment)) if open_comment is not None else ""

    def _block(self, indent: int, header: str, span, open_off: int, children, render,
               sep: str = "", force_blank=None, suffix: str = "") -> list[str]:
        """``header {`` children ``}`` (``header {}`` when empty)."""
        close_off = span.end_offset - 1
        if not children and not self.comments.any_within(open_off, close_off):
            return [_INDENT * indent + header + " {}" + suffix]
        body, open_comment = self._seq(indent + 1, open_off, close_off, children, render, sep, force_blank)
        return [_INDENT * indent + header + " {" + open_comment] + body + [_INDENT * indent + "}" + suffix]

    # ------------------------------------------------------------------ module and graphs

    def module_lines(self) -> list[str]:
        m = self.module
        lines, _ = self._seq(0, -1, len(self.src), list(m.graphs), self._graph, force_blank=_forced_blank)
        for c in self.comments.rest():  # never lose a comment, whatever the tree
            lines.append(_text(c))
        return lines

    def _graph(self, g: A.Graph, indent: int, suffix: str) -> list[str]:
        open_off = self._find_open(g.name.span.end_offset, "{", g.span.end_offset)
        pre = self._hoist(g.span.offset, open_off, indent)
        return pre + self._block(indent, f"graph {g.name.name}", g.span, open_off, list(g.items),
                                 self._graph_item, force_blank=_forced_blank, suffix=suffix)

    def _graph_item(self, item, indent: int, suffix: str) -> list[str]:
        if isinstance(item, A.Node):
            return self._node(item, indent, suffix)
        if isinstance(item, A.SchemaBlock):
            return self._schema(item.which, item.span, item.fields, indent, suffix)
        if isinstance(item, A.Channel):
            head = f"channel {item.name.name} {item.reducer.name}"
            for arg in item.args:  # upstream's reducer arguments, kept for the checker's E0293
                head += " " + (quote(arg.value) if isinstance(arg, A.Str) else number(arg))
            if item.options is None:
                return self._hoist(item.span.offset, item.span.end_offset, indent) + [_INDENT * indent + head + suffix]
            return self._keyed(item.span, head, item.options, indent, suffix, settings=False)
        if isinstance(item, A.JoinDecl):
            head = f"join [{', '.join(s.name for s in item.sources)}] -> {item.target.name}"
            return self._join_like(item.span, head, item.block, indent, suffix)
        if isinstance(item, A.Edge):
            text = f"edge {item.source.name} -> {item.target.name}" if not item.bare else \
                f"{item.source.name} -> {item.target.name}"
            return self._hoist(item.span.offset, item.span.end_offset, indent) + [_INDENT * indent + text + suffix]
        if isinstance(item, A.Allow):
            return self._keyed(item.span, f"allow {item.what.name}", item.value, indent, suffix, settings=False)
        if isinstance(item, A.Field):
            return self._field(item, indent, suffix)
        raise TypeError(f"unknown graph item {type(item).__name__}")

    def _schema(self, head: str, span, fields, indent: int, suffix: str) -> list[str]:
        open_off = self._find_open(span.offset, "{", span.end_offset)
        pre = self._hoist(span.offset, open_off, indent)
        return pre + self._block(indent, head, span, open_off, list(fields), self._schema_field, suffix=suffix)

    def _schema_field(self, f: A.SchemaField, indent: int, suffix: str) -> list[str]:
        # Comments inside an object type (and its defaults) are in `f.span`: hoisted below.
        head = f.name.name + (": " if f.colon else " ") + type_text(f.type, self._flat)
        if f.default is None:
            return self._hoist(f.span.offset, f.span.end_offset, indent) + [_INDENT * indent + head + suffix]
        return self._keyed(f.span, head + " =", f.default, indent, suffix, settings=False)

    # ------------------------------------------------------------------ nodes

    def _node(self, node: A.Node, indent: int, suffix: str) -> list[str]:
        open_off = self._find_open(node.name.span.end_offset, "{", node.span.end_offset)
        pre = self._hoist(node.span.offset, open_off, indent)
        return pre + self._block(indent, f"node {node.name.name}", node.span, open_off, list(node.items),
                                 self._node_item, suffix=suffix)

    def _node_item(self, item, indent: int, suffix: str) -> list[str]:
        pad = _INDENT * indent
        if isinstance(item, A.Field):
            return self._field(item, indent, suffix)
        if isinstance(item, A.Send):
            return self._send(item, indent, suffix)
        if isinstance(item, A.JoinRef):
            return self._join_like(item.span, f"join {item.target.name}", item.block, indent, suffix)
        if isinstance(item, A.Routes):
            open_off = self._find_open(item.span.offset, "{", item.span.end_offset)
            pre = self._hoist(item.span.offset, open_off, indent)
            return pre + self._block(indent, "routes", item.span, open_off, list(item.routes), self._route,
                                     suffix=suffix)
        if isinstance(item, A.Policy):
            return self._hoist(item.span.offset, item.span.end_offset, indent) + [pad + self._policy_text(item) + suffix]
        if isinstance(item, A.OutputSchema):
            return self._schema("schema", item.span, item.fields, indent, suffix)
        if isinstance(item, A.Allow):
            return self._keyed(item.span, f"allow {item.what.name}", item.value, indent, suffix, settings=False)
        raise TypeError(f"unknown node item {type(item).__name__}")

    def _policy_text(self, p: A.Policy) -> str:
        return f"policy {p.name.name}" + (f" {self._number(p.count)}" if p.count is not None else "")

    def _number(self, v: A.Int | A.Float) -> str:
        """A number as the author wrote it (``0.50`` stays ``0.50``) when the
        span still points at that spelling, else :func:`number`."""
        written = self.src[v.span.offset:v.span.end_offset]
        try:
            same = (int(written) == v.value) if isinstance(v, A.Int) else (
                "." in written and float(written) == v.value and "e" not in written.lower())
        except ValueError:
            same = False
        return written if same and written.strip() == written else number(v)

    def _route(self, r: A.Route, indent: int, suffix: str) -> list[str]:
        pre = self._hoist(r.span.offset, r.span.end_offset, indent)
        text = f"{r.label.name} -> {r.target.name}"
        if r.when is None:
            return pre + [_INDENT * indent + text + suffix]
        cond = self._condition_lines(r.when, indent)
        cond[0] = _INDENT * indent + text + " when " + cond[0]
        cond[-1] += suffix
        return pre + cond

    def _join_like(self, span, head: str, block: A.JoinBlock | None, indent: int, suffix: str) -> list[str]:
        if block is None:
            return self._hoist(span.offset, span.end_offset, indent) + [_INDENT * indent + head + suffix]
        open_off = self._find_open(block.span.offset, "{", block.span.end_offset)
        pre = self._hoist(span.offset, open_off, indent)
        children = sorted(([block.policy] if block.policy else []) + list(block.fields), key=lambda x: x.span.offset)
        return pre + self._block(indent, head, block.span, open_off, children, self._join_setting, suffix=suffix)

    def _join_setting(self, item, indent: int, suffix: str) -> list[str]:
        if isinstance(item, A.Policy):
            return self._hoist(item.span.offset, item.span.end_offset, indent) + \
                [_INDENT * indent + self._policy_text(item) + suffix]
        return self._field(item, indent, suffix)

    def _send(self, s: A.Send, indent: int, suffix: str) -> list[str]:
        pad = _INDENT * indent
        if s.spelling == "single" and len(s.entries) == 1:
            pre = self._hoist(s.span.offset, s.entries[0].span.offset, indent)
            return pre + self._entry_lines(s.entries[0], indent, suffix, lead="send ")
        sends = s.spelling == "sends"
        head = "sends" if sends else "send"
        open_off = self._find_open(s.span.offset, "[", s.span.end_offset)
        close_off = s.span.end_offset - 1 if open_off != s.span.offset else s.span.end_offset
        pre = self._hoist(s.span.offset, open_off, indent)
        if not self.comments.any_within(open_off, close_off):
            flats = [self._entry_inline(e) for e in s.entries]
            if all(f is not None for f in flats):
                inner = " ".join("send " + f for f in flats) if sends else ", ".join(flats)
                text = f"{head} [ {inner} ]" if inner else f"{head} []"
                if len(pad) + len(text) + len(suffix) <= WIDTH:
                    return pre + [pad + text + suffix]
        lead = "send " if sends else ""

        def render(entry, ind, sfx):
            return self._entry_lines(entry, ind, sfx, lead=lead)

        body, open_comment = self._seq(indent + 1, open_off, close_off, list(s.entries), render,
                                       "" if sends else ",")
        return pre + [pad + head + " [" + open_comment] + body + [pad + "]" + suffix]

    def _entry_inline(self, e: A.SendEntry) -> str | None:
        out = e.target.name
        if e.mapping is not None:  # upstream's named input mapping (E0294), only in the `sends` form
            return out + " " + quote(e.mapping.value)
        if e.payload is not None:
            flat = self._inline(e.payload)
            if flat is None:
                return None
            out += " " + flat
        if e.loop is not None:
            src = self._inline(e.loop.source)
            if src is None:
                return None
            out += f" for {e.loop.var.name} in {src}"
        return out

    def _entry_lines(self, e: A.SendEntry, indent: int, suffix: str, lead: str = "") -> list[str]:
        """One send entry: ``target { payload } for VAR in SOURCE``."""
        pad = _INDENT * indent
        head = lead + e.target.name
        if e.mapping is not None:
            head += " " + quote(e.mapping.value)
        exclude = []
        if e.payload is not None:
            exclude.append((e.payload.span.offset, e.payload.span.end_offset))
        if e.loop is not None and _is_container(e.loop.source):
            exclude.append((e.loop.source.span.offset, e.loop.source.span.end_offset))
        pre = self._hoist(e.span.offset, e.span.end_offset, indent, exclude)
        loop_head = f" for {e.loop.var.name} in " if e.loop is not None else ""
        if e.payload is None:
            if e.loop is None:
                return pre + [pad + head + suffix]
            src = self._value_lines(e.loop.source, indent, len(head) + len(loop_head), suffix, settings=False)
            return pre + [pad + head + loop_head + src[0]] + src[1:]
        src_flat = self._inline(e.loop.source) if e.loop is not None else ""
        if src_flat is not None:
            tail = (loop_head + src_flat if e.loop is not None else "") + suffix
            lines = self._value_lines(e.payload, indent, len(head) + 1, tail, settings=False)
            lines[0] = pad + head + " " + lines[0]
            return pre + lines
        lines = self._value_lines(e.payload, indent, len(head) + 1, "", settings=False)
        lines[0] = pad + head + " " + lines[0]
        src = self._value_lines(e.loop.source, indent, len(lines[-1]) - len(pad) + len(loop_head), suffix,
                                settings=False)
        lines[-1] += loop_head + src[0]
        return pre + lines + src[1:]

    # ------------------------------------------------------------------ fields and values

    def _field(self, f: A.Field, indent: int, suffix: str) -> list[str]:
        key = f.key.name + (":" if f.colon else "")
        return self._keyed(f.span, key, f.value, indent, suffix, settings=f.key.name in SETTINGS_KEYS)

    def _keyed(self, span, head: str, value, indent: int, suffix: str, settings: bool) -> list[str]:
        """``head value`` with the value laid out after the head."""
        exclude = [(value.span.offset, value.span.end_offset)] if _is_container(value) else []
        pre = self._hoist(span.offset, span.end_offset, indent, exclude)
        lines = self._value_lines(value, indent, len(head) + 1, suffix, settings)
        lines[0] = _INDENT * indent + head + " " + lines[0]
        return pre + lines

    def _pair(self, p: A.Pair, indent: int, suffix: str, settings: bool) -> list[str]:
        key = p.key.name if isinstance(p.key, A.Ident) else quote(p.key.value)
        if p.colon:
            key += ":"
        child_settings = settings and p.key_name in SETTINGS_KEYS
        return self._keyed(p.span, key, p.value, indent, suffix, child_settings)

    def _flat(self, v) -> str:
        """``v`` on one line whatever it holds (``\"\"\"`` strings in their
        one-line spelling); for values inside an object type, whose comments
        the caller has already hoisted."""
        return self._inline(v, force=True)

    def _inline(self, v, force: bool = False) -> str | None:
        """``v`` on one line, or None (it holds a comment or a ``\"\"\"`` string);
        never None with ``force`` (see :meth:`_flat`)."""
        if isinstance(v, A.Str):
            if v.triple:
                return _triple_inline(v.value) if force else None
            return quote(v.value)
        if isinstance(v, (A.Int, A.Float)):
            return self._number(v)
        if isinstance(v, A.Duration):
            return v.text
        if isinstance(v, A.Bool):
            return "true" if v.value else "false"
        if isinstance(v, A.Null):
            return "null"
        if isinstance(v, A.Path):
            return self._path(v)
        if isinstance(v, (A.ObjectV, A.ListV, A.Call)) and not force:
            if self.comments.any_within(v.span.offset, v.span.end_offset):
                return None
        if isinstance(v, A.ObjectV):
            parts = []
            for p in v.pairs:
                flat = self._inline(p.value, force)
                if flat is None:
                    return None
                key = p.key.name if isinstance(p.key, A.Ident) else quote(p.key.value)
                parts.append(f"{key}{':' if p.colon else ''} {flat}")
            return "{ " + ", ".join(parts) + " }" if parts else "{}"
        if isinstance(v, A.ListV):
            parts = [self._inline(x, force) for x in v.items]
            if any(x is None for x in parts):
                return None
            return "[" + ", ".join(parts) + "]"
        if isinstance(v, A.Call):
            parts = [self._inline(x, force) for x in v.args]
            if any(x is None for x in parts):
                return None
            return f"{v.func.name}(" + ", ".join(parts) + ")"
        raise TypeError(f"unknown value {type(v).__name__}")

    @staticmethod
    def _path(p: A.Path) -> str:
        out = p.root.name
        for s in p.segments:
            if isinstance(s, A.Attr):
                out += "." + s.name
            elif isinstance(s.key, int):
                out += f"[{s.key}]"
            else:
                out += f"[{quote(s.key)}]"
        return out

    def _value_lines(self, v, indent: int, head_len: int, suffix: str, settings: bool) -> list[str]:
        """Lines of a value that follows a head of ``head_len`` characters on
        a line at ``indent``: the first line has no indentation (the caller
        prefixes it), later lines are complete."""
        pad = _INDENT * indent
        settings_block = settings and isinstance(v, A.ObjectV)
        if not settings_block:
            flat = self._inline(v)
            if flat is not None and (len(pad) + head_len + len(flat) + len(suffix) <= WIDTH
                                     or not _is_container(v) and not isinstance(v, A.Call)):
                return [flat + suffix]
        if isinstance(v, A.Str):
            text = _triple_text(v.value, _INDENT * (indent + 1))
            if text is None:
                return [_triple_inline(v.value) + suffix]
            lines = text.split("\n")
            lines[-1] += suffix
            return lines
        if isinstance(v, A.ObjectV):
            open_off, close_off = v.span.offset, v.span.end_offset - 1
            if not v.pairs and not self.comments.any_within(open_off, close_off):
                return ["{}" + suffix]

            def render(p, ind, sfx):
                return self._pair(p, ind, sfx, settings_block)

            body, open_comment = self._seq(indent + 1, open_off, close_off, list(v.pairs), render,
                                           "" if settings_block else ",")
            return ["{" + open_comment] + body + [pad + "}" + suffix]
        if isinstance(v, A.ListV):
            open_off, close_off = v.span.offset, v.span.end_offset - 1
            body, open_comment = self._seq(indent + 1, open_off, close_off, list(v.items), self._element, ",")
            return ["[" + open_comment] + body + [pad + "]" + suffix]
        if isinstance(v, A.Call):
            open_off = self._find_open(v.func.span.end_offset, "(", v.span.end_offset)
            close_off = v.span.end_offset - 1
            body, open_comment = self._seq(indent + 1, open_off, close_off, list(v.args), self._element, ",")
            return [f"{v.func.name}(" + open_comment] + body + [pad + ")" + suffix]
        raise TypeError(f"unknown value {type(v).__name__}")

    def _element(self, v, indent: int, suffix: str) -> list[str]:
        """One element of a list (or call) laid out one per line."""
        pre = [] if _is_container(v) else self._hoist(v.span.offset, v.span.end_offset, indent)
        lines = self._value_lines(v, indent, 0, suffix, settings=False)
        lines[0] = _INDENT * indent + lines[0]
        return pre + lines

    # ------------------------------------------------------------------ conditions

    _PREC = {"or": 1, "and": 2}

    def _condition_lines(self, c, indent: int) -> list[str]:
        """A condition; one line unless it holds a ``\"\"\"`` string."""
        parts = self._cond(c, 0, indent)
        return parts.split("\n")

    def _cond(self, c, min_prec: int, indent: int) -> str:
        if isinstance(c, A.BoolOp):
            prec = self._PREC[c.op]
            text = f" {c.op} ".join(self._cond(x, prec + 1, indent) for x in c.operands)
            return f"({text})" if prec < min_prec else text
        if isinstance(c, A.Not):
            text = "not " + self._cond(c.operand, 3, indent)
            return f"({text})" if 3 < min_prec else text
        if isinstance(c, A.Compare):
            op = {"not_in": "not in"}.get(c.op, c.op)
            text = f"{self._cond(c.left, 5, indent)} {op} {self._cond(c.right, 5, indent)}"
            return f"({text})" if 4 < min_prec else text
        flat = self._inline(c)
        if flat is not None:
            return flat
        return "\n".join(self._value_lines(c, indent, 0, "", settings=False))
