"""A test helper: a non-recursive GBNF grammar as one Python regular
expression, so a test can check which texts a grammar accepts without a
model.

Covers the GBNF the local provider emits (llama.cpp grammars/README.md):
rules ``name ::= body``, string literals with ``\\"``, ``\\\\``, ``\\n``,
``\\t``, ``\\r``, ``\\xNN`` escapes, character classes (copied as they
are: their escapes and ranges mean the same in ``re``), rule references,
groups, ``|`` and the postfix operators ``? * + {m} {m,} {m,n}``.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'\s*(?:(?P<lit>"(?:[^"\\]|\\.)*")|(?P<cls>\[(?:[^\]\\]|\\.)*\])|(?P<name>[a-zA-Z0-9-]+)'
                    r'|(?P<rep>\{\d+(?:,\d*)?\})|(?P<op>[()|?*+]))')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "[": "[", "]": "]"}


class RecursiveGrammar(ValueError):
    """The grammar refers to a rule from inside itself (no regex for it)."""


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_rules(grammar: str) -> dict[str, str]:
    """Rule name -> body text (one rule per line, as the provider writes them)."""
    rules = {}
    for line in grammar.splitlines():
        if line.strip():
            name, body = line.split(" ::= ", 1)
            rules[name.strip()] = body
    return rules


def to_regex(grammar: str, start: str = "root") -> str:
    """The regex (for ``re.fullmatch(..., re.S)``) of rule ``start``.

    Raises:
        RecursiveGrammar: a rule refers to itself, directly or not.
        KeyError: an undefined rule.
    """
    rules = parse_rules(grammar)

    def expand(name: str, active: tuple[str, ...]) -> str:
        if name in active:
            raise RecursiveGrammar(" -> ".join([*active, name]))
        body = rules[name]
        out, pos = [], 0
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            if m is None:
                if body[pos:].strip():
                    raise ValueError(f"cannot read rule {name!r} at {body[pos:]!r}")
                break
            pos = m.end()
            if m.group("lit"):
                out.append(re.escape(_unescape(m.group("lit")[1:-1])))
            elif m.group("cls"):
                out.append(m.group("cls"))
            elif m.group("name"):
                out.append("(?:" + expand(m.group("name"), (*active, name)) + ")")
            elif m.group("rep"):
                out.append(m.group("rep"))
            else:
                op = m.group("op")
                out.append("(?:" if op == "(" else op)
        return "".join(out)

    return expand(start, ())


def accepts(grammar: str, text: str) -> bool:
    """Does ``grammar`` (start rule ``root``) derive exactly ``text``?"""
    return re.fullmatch(to_regex(grammar), text, re.S) is not None
