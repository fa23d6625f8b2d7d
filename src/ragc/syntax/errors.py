"""Wording of syntax errors: how terminals and tokens are named in messages.

A user reads "expected `,` or `]`, found `b`", never ``RSQB`` or
``__ANON_0``. Sets of expected terminals are summarised: when a value may
come, the value terminals read "a value"; when a name may come, keywords
that are also valid names there are not listed one by one.
"""

from __future__ import annotations

from lark import Token

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

# Terminals that begin a value; all of them together read "a value".
_VALUE_TERMINALS = frozenset({"STRING", "LONG_STRING", "INT", "FLOAT", "DURATION", "TRUE", "FALSE", "NULL",
                              "LSQB", "LBRACE", "NAME"})
_VALUE_CORE = frozenset({"STRING", "INT", "LSQB", "LBRACE", "NAME"})
# Keywords that continue a construct rather than name something; listed even
# when a name is also expected.
_STRUCTURE_WORDS = frozenset({"AND", "OR"})

# Order of appearance in "expected ..." lists: punctuation, words, catch-alls.
_ORDER = ["COMMA", "RSQB", "RBRACE", "RPAR", "ARROW", "COLON", "EQUAL", "DOT", "QMARK", "LBRACE", "LSQB", "LPAR",
          "COMP_OP"]


def describe_terminal(name: str) -> str:
    """Human wording for a terminal name (keywords print as `` `graph` ``)."""
    if name in TERMINAL_DESCRIPTIONS:
        return TERMINAL_DESCRIPTIONS[name]
    if name.isupper() and name.isalpha():
        return f"`{name.lower()}`"
    return f"`{name}`"


def _rank(name: str) -> tuple:
    if name in _ORDER:
        return (0, _ORDER.index(name), name)
    if name.isalpha() and name not in TERMINAL_DESCRIPTIONS:
        return (1, 0, name)  # keywords, alphabetically
    return (2, 0, name)


def describe_expected(expected: set[str] | frozenset[str]) -> str:
    """``{"COMMA", "RSQB"}`` -> "one of `,` or `]`"-style wording.

    Args:
        expected: terminal names the parser can take next (``$END`` for end of file).
    """
    names = set(expected)
    words: list[str] = []
    value = _VALUE_CORE <= names
    if value:
        names -= _VALUE_TERMINALS
    if "NAME" in names:
        names = {n for n in names if not (n.isalpha() and n.isupper() and n not in TERMINAL_DESCRIPTIONS)
                 or n in _STRUCTURE_WORDS or n == "NAME"}
    end = "$END" in names
    names.discard("$END")
    catch_all = []
    if "NAME" in names:
        names.discard("NAME")
        catch_all.append("a name")
    if value:
        catch_all.append("a value")
    for n in sorted(names, key=_rank):
        w = describe_terminal(n)
        if w not in words:
            words.append(w)
    words += catch_all
    if end:
        words.append("end of file")
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return "one of " + ", ".join(words[:-1]) + " or " + words[-1]


def describe_found(tok: Token | None) -> str:
    """How to name the token the parser did not expect."""
    if tok is None or tok.type == "$END":
        return "end of file"
    if tok.type in ("STRING", "LONG_STRING"):
        return "a string"
    text = str(tok)
    if "\n" in text or len(text) > 30:
        return describe_terminal(tok.type)
    return f"`{text}`"
