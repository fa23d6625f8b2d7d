"""Tokenising a ``.rag`` source for the recovering parser.

The whole file is lexed up front with one Lark ``BasicLexer`` over every
terminal of ``grammar/rag.lark`` (whitespace skipped, comments kept apart).
The parser then types each keyword token the way Lark's contextual lexer
would (a keyword the parser does not expect where it stands is a ``NAME``),
so a valid program gives exactly the tokens Lark itself would give, while
the recovery code can look ahead and back freely.

A byte-order mark at the very start is skipped, as ``ragc fmt`` drops it.

Lexical mistakes never stop the lexer; each becomes one diagnostic and the
lexer resumes after it:

* a run of characters no terminal starts with: ``E0003``, one diagnostic per
  run, the run is skipped;
* a word with non-ASCII letters (``nöde``): ``E0003``, kept as one name so
  the parse goes on as if it were valid;
* a ``"`` string not closed on its line: ``E0005``; the string becomes a
  placeholder token to the end of its line, so the parser still sees a value;
* a ``\"\"\"`` never closed is only noted (:attr:`LexResult.open_triple`):
  Lark reads it as ``""`` then ``"``, which may still parse; the parser turns
  it into ``E0005`` when the parse fails after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token

from ragc.diagnostics.model import Applicability, DiagnosticBag, Span, Suggestion
from ragc.syntax.grammar import parse_tables
from ragc.syntax.limits import MAX_NESTING, nesting_diagnostic

OPENERS = {"LBRACE": "RBRACE", "LSQB": "RSQB", "LPAR": "RPAR"}
CLOSERS = {v: k for k, v in OPENERS.items()}


class Placeholder(Token):
    """A token the lexer made up to stand for a broken one (an unterminated
    string, a non-ASCII name). Its value must not be decoded again."""


@dataclass
class LexResult:
    """The tokens of one source.

    Attributes:
        tokens: significant tokens in source order (no whitespace, no comments).
        comments: ``COMMENT`` tokens in source order.
        line_start: ``line_start[i]`` is true when ``tokens[i]`` is the first
            token on its line.
        open_triple: offset of a triple quote that is never closed (the lexer then
            read it as ``""`` followed by ``"``, as Lark does). When the parse
            fails after that point, the parser reports this instead of the
            errors that follow from it.
        too_deep: set when the nesting limit was exceeded (the parse stops).
    """

    tokens: list[Token] = field(default_factory=list)
    comments: list[Token] = field(default_factory=list)
    line_start: list[bool] = field(default_factory=list)
    open_triple: int | None = None
    too_deep: bool = False


def token_span(file: str, tok: Token) -> Span:
    """The :class:`Span` of one Lark token."""
    return Span(file, tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)


def _make(cls, type_: str, text: str, start: int, line: int, column: int) -> Token:
    """A token of ``text`` starting at ``start`` (line/column 1-based)."""
    newlines = text.count("\n")
    if newlines:
        end_line = line + newlines
        end_column = len(text) - text.rfind("\n")
    else:
        end_line, end_column = line, column + len(text)
    return cls(type_, text, start, line, column, end_line, end_column, start + len(text))


def _is_word_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Scanner:
    """One compiled regex for every terminal: optional whitespace, then the
    terminals in the order Lark's own lexer tries them (priority, then
    longest possible match, then pattern length, then name), keywords found
    by exact lookup of ``NAME`` matches as Lark's ``UnlessCallback`` does.
    ``tests/syntax/test_syn_lexer.py`` checks it against Lark's lexer."""

    def __init__(self):
        import re

        lexer = parse_tables().lexer
        scanner = lexer.scanner  # Lark's terminal order, keywords folded into NAME
        names = [t.name for t in scanner.terminals if t.name != "WS"]
        by_name = {t.name: t for t in scanner.terminals}
        alternatives = "|".join(f"(?P<{n}>{by_name[n].pattern.to_regexp()})" for n in names)
        self.regex = re.compile(r"[ \t\f\r\n]*(?:" + alternatives + ")")
        self.space = re.compile(r"[ \t\f\r\n]*")
        self.keywords: dict[str, dict[str, str]] = {}
        for type_, callback in lexer.callback.items():
            words = getattr(callback, "scanner", None)
            if words is not None:
                self.keywords[type_] = {t.pattern.value: t.name for t in words.terminals}


_SCANNER: _Scanner | None = None


def _scanner() -> _Scanner:
    global _SCANNER
    if _SCANNER is None:
        _SCANNER = _Scanner()
    return _SCANNER


def lex(text: str, file: str, bag: DiagnosticBag) -> LexResult:
    """Tokenise ``text``; lexical problems go to ``bag`` (never raises).

    Args:
        text: the whole source.
        file: path used in spans.
        bag: receives ``E0003``/``E0005`` (and ``E0021`` for nesting).

    Returns:
        A :class:`LexResult`. Token positions are Lark's: ``start_pos`` and
        ``end_pos`` 0-based offsets, ``line``/``column`` 1-based, ``end_column``
        just past the last character.
    """
    sc = _scanner()
    match = sc.regex.match
    keywords = sc.keywords
    out = LexResult()
    tokens, comments = out.tokens, out.comments
    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0  # a UTF-8 byte-order mark is skipped (it counts as a column)
    line = 1
    line_start = 0  # offset of the first character of `line`
    count = text.count
    rfind = text.rfind
    new_token = str.__new__
    while pos < n:
        m = match(text, pos)
        if m is None:
            # Only whitespace, or a character no terminal starts with.
            ws = sc.space.match(text, pos).end()
            nl = count("\n", pos, ws)
            if nl:
                line += nl
                line_start = rfind("\n", pos, ws) + 1
            pos = ws
            if pos >= n:
                break
            pos, line, line_start = _lex_error(text, file, bag, out, pos, line, line_start)
            continue
        type_ = m.lastgroup
        start = m.start(type_)
        if start != pos:
            nl = count("\n", pos, start)
            if nl:
                line += nl
                line_start = rfind("\n", pos, start) + 1
        end = m.end()
        value = m.group(type_)
        col = start - line_start + 1
        if type_ in keywords:
            type_ = keywords[type_].get(value, type_)
        # Token(...) goes through Lark's keyword-compatibility shim (about
        # three times the cost); the slots are filled directly instead.
        tok = new_token(Token, value)
        tok.type = type_
        tok.value = value
        tok.start_pos = start
        tok.end_pos = end
        tok.line = line
        tok.column = col
        if "\n" in value:
            end_line = line + value.count("\n")
            new_start = rfind("\n", start, end) + 1
            tok.end_line = end_line
            tok.end_column = end - new_start + 1
            line, line_start = end_line, new_start
        else:
            tok.end_line = line
            tok.end_column = col + (end - start)
        pos = end
        if type_ == "COMMENT":
            comments.append(tok)
        elif type_ == "STRING" and end - start == 2 and end < n and text[end] == '"':
            # `"""` with no closing `"""`: the longest match was the empty string.
            if out.open_triple is None:
                out.open_triple = start
            tokens.append(tok)
        else:
            tokens.append(tok)
    _mark_line_starts(out)
    _check_nesting(out, file, bag)
    return out


def _lex_error(text: str, file: str, bag: DiagnosticBag, out: LexResult, pos: int, line: int,
               line_start: int) -> tuple[int, int, int]:
    """Handle the character at ``pos`` that starts no token; returns the new
    ``(pos, line, line_start)``."""
    col = pos - line_start + 1
    ch = text[pos]
    n = len(text)
    if ch == '"':
        end = text.find("\n", pos)
        end = n if end < 0 else end
        ph = _make(Placeholder, "STRING", text[pos:end], pos, line, col)
        bag.error("E0005", "unterminated string", Span(file, pos, pos + 1, line, col, line, col + 1),
                  "this `\"` is never closed",
                  help='close the string with `"` on the same line, or use `"""` for text over several lines')
        out.tokens.append(ph)
        return end, line, line_start
    if _is_word_char(ch):
        # A word with letters outside ASCII: keep it one name.
        start, start_line, start_col = pos, line, col
        prev = out.tokens[-1] if out.tokens else None
        if prev is not None and prev.end_pos == pos and (
                prev.type == "NAME" or prev.type in parse_tables().keywords):
            out.tokens.pop()
            start, start_line, start_col = prev.start_pos, prev.line, prev.column
        end = pos
        while end < n and _is_word_char(text[end]):
            end += 1
        word = text[start:end]
        bad = next(c for c in word if not (c.isascii() and _is_word_char(c)))
        ph = _make(Placeholder, "NAME", word, start, start_line, start_col)
        bag.error("E0003", f"unexpected character `{_printable(bad)}` in name `{_printable(word)}`",
                  token_span(file, ph), "not an ASCII letter, digit or `_`",
                  help="names use the ASCII letters `a`-`z`, `A`-`Z`, digits and `_`")
        out.tokens.append(ph)
        return end, line, line_start
    if ch == "#":
        # Almost surely a comment in another language's syntax: skip the line.
        end = text.find("\n", pos)
        end = n if end < 0 else end
        here = Span(file, pos, pos + 1, line, col, line, col + 1)
        bag.error("E0003", "unexpected character `#`", here, "comments start with `//`",
                  suggestions=(Suggestion("write `//`", here, "//", Applicability.MACHINE_APPLICABLE),))
        return end, line, line_start
    # A run of characters that start no token: one diagnostic for the run.
    match = _scanner().regex.match
    end = pos + 1
    while end < n and not text[end].isspace() and text[end] != '"' and not _is_word_char(text[end]) \
            and match(text, end) is None:
        end += 1
    run = text[pos:end]
    shown = _printable(run if len(run) <= 20 else run[:17] + "...")
    what = "character" if len(run) == 1 else "characters"
    bag.error("E0003", f"unexpected {what} `{shown}`",
              Span(file, pos, end, line, col, line, col + len(run)), "not valid here",
              help=_char_help(run))
    return end, line, line_start


def _printable(s: str) -> str:
    """``s`` with control and invisible characters written as ``\\uXXXX``."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in s)


def _char_help(run: str) -> str | None:
    """A hint for common stray characters."""
    if run.startswith("#"):
        return "comments start with `//`"
    if run.startswith("/*") or run == "/":
        return "comments start with `//` and run to the end of the line"
    if run.startswith(";"):
        return "items are separated by line breaks, not `;`"
    if run.startswith("'"):
        return 'strings use double quotes: `"..."`'
    if run.startswith("="):
        return "settings are written `key value` or `key: value`"
    return None


def _mark_line_starts(out: LexResult) -> None:
    prev_line = 0
    flags = out.line_start
    for tok in out.tokens:
        flags.append(tok.line > prev_line)
        prev_line = tok.end_line


def _check_nesting(out: LexResult, file: str, bag: DiagnosticBag) -> None:
    """E0021 at the first bracket (or chained ``not``) deeper than the limit.

    Chained ``not``s count because each one nests the condition tree one level.
    """
    depth = 0
    nots = 0
    for tok in out.tokens:
        ty = tok.type
        if ty in OPENERS:
            depth += 1
            nots = 0
        elif ty in CLOSERS:
            depth = max(0, depth - 1)
            nots = 0
        elif ty == "NOT":
            nots += 1
        else:
            nots = 0
        if depth + nots > MAX_NESTING:
            bag.add(nesting_diagnostic(token_span(file, tok)))
            out.too_deep = True
            return
