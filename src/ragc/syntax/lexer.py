"""Tokenising a ``.rag`` source for the recovering parser.

The whole file is lexed up front with one Lark ``BasicLexer`` over every
terminal of ``grammar/rag.lark`` (whitespace skipped, comments kept apart).
The parser then types each keyword token the way Lark's contextual lexer
would (a keyword the parser does not expect where it stands is a ``NAME``),
so a valid program gives exactly the tokens Lark itself would give, while
the recovery code can look ahead and back freely.

Lexical mistakes never stop the lexer; each becomes one diagnostic and the
lexer resumes after it:

* a run of characters no terminal starts with: ``E0003``, one diagnostic per
  run, the run is skipped;
* a word with non-ASCII letters (``nöde``): ``E0003``, kept as one name so
  the parse goes on as if it were valid;
* a ``"`` string not closed on its line, or a ``\"\"\"`` string never closed:
  ``E0005``; the string becomes a placeholder token (to the end of its line,
  resp. of the file) so the parser still sees a value there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import LexerState, TextSlice

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
        swallowed_eof: an unterminated ``\"\"\"`` string ran to the end of the
            file, so errors at the end of the file are consequences, not causes.
        too_deep: set when the nesting limit was exceeded (the parse stops).
    """

    tokens: list[Token] = field(default_factory=list)
    comments: list[Token] = field(default_factory=list)
    line_start: list[bool] = field(default_factory=list)
    swallowed_eof: bool = False
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


def lex(text: str, file: str, bag: DiagnosticBag) -> LexResult:
    """Tokenise ``text``; lexical problems go to ``bag`` (never raises).

    Args:
        text: the whole source.
        file: path used in spans.
        bag: receives ``E0003``/``E0005`` (and ``E0021`` for nesting).
    """
    lexer = parse_tables().lexer
    state = LexerState(TextSlice(text, 0, len(text)))
    ctr = state.line_ctr
    out = LexResult()
    tokens, comments = out.tokens, out.comments
    n = len(text)
    while True:
        try:
            tok = lexer.next_token(state)
        except EOFError:
            break
        except UnexpectedCharacters:
            _lex_error(text, file, bag, state, out)
            if out.swallowed_eof:
                break
            continue
        if tok.type == "COMMENT":
            comments.append(tok)
            continue
        if tok.type == "STRING" and tok == '""' and tok.end_pos < n and text[tok.end_pos] == '"':
            # `"""` that never closes: the longest match was the empty string `""`.
            start = tok.start_pos
            ph = _make(Placeholder, "LONG_STRING", text[start:], start, tok.line, tok.column)
            bag.error("E0005", "unterminated triple-quoted string",
                      Span(file, start, start + 3, tok.line, tok.column, tok.line, tok.column + 3),
                      "this `\"\"\"` is never closed",
                      help='close the string with `"""`; write `\\"` for a quote inside it')
            ctr.feed(text[tok.end_pos:])
            tokens.append(ph)
            out.swallowed_eof = True
            break
        tokens.append(tok)
    _mark_line_starts(out)
    _check_nesting(out, file, bag)
    return out


def _lex_error(text: str, file: str, bag: DiagnosticBag, state: LexerState, out: LexResult) -> None:
    """Handle the character at the lexer's position that starts no token."""
    ctr = state.line_ctr
    pos, line, col = ctr.char_pos, ctr.line, ctr.column
    ch = text[pos]
    n = len(text)
    if ch == '"':
        end = text.find("\n", pos)
        end = n if end < 0 else end
        ph = _make(Placeholder, "STRING", text[pos:end], pos, line, col)
        bag.error("E0005", "unterminated string", Span(file, pos, pos + 1, line, col, line, col + 1),
                  "this `\"` is never closed",
                  help='close the string with `"` on the same line, or use `"""` for text over several lines')
        ctr.feed(text[pos:end])
        out.tokens.append(ph)
        return
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
        bag.error("E0003", f"unexpected character `{_printable(bad)}` in name `{_printable(word)}`", token_span(file, ph),
                  "not an ASCII letter, digit or `_`",
                  help="names use the ASCII letters `a`-`z`, `A`-`Z`, digits and `_`")
        ctr.feed(text[pos:end])
        out.tokens.append(ph)
        return
    if ch == "#":
        # Almost surely a comment in another language's syntax: skip the line.
        end = text.find("\n", pos)
        end = n if end < 0 else end
        bag.error("E0003", "unexpected character `#`", Span(file, pos, pos + 1, line, col, line, col + 1),
                  "comments start with `//`",
                  suggestions=(Suggestion("write `//`", Span(file, pos, pos + 1, line, col, line, col + 1), "//",
                                          Applicability.MACHINE_APPLICABLE),))
        ctr.feed(text[pos:end])
        return
    # A run of characters that start no token: one diagnostic for the run.
    lexer = parse_tables().lexer
    whole = state.text
    end = pos + 1
    while end < n and not text[end].isspace() and text[end] != '"' and not _is_word_char(text[end]) \
            and lexer.match(whole, end) is None:
        end += 1
    run = text[pos:end]
    shown = _printable(run if len(run) <= 20 else run[:17] + "...")
    what = "character" if len(run) == 1 else "characters"
    bag.error("E0003", f"unexpected {what} `{shown}`",
              Span(file, pos, end, line, col, line, col + len(run)), "not valid here",
              help=_char_help(run))
    ctr.feed(run)


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
