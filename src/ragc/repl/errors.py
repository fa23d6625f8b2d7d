"""Errors of ``.ragsh`` cells: what went wrong, where, and what to do.

A cell never surfaces a Python traceback: Starlark errors (syntax, unknown
names, type errors), refused capabilities and exhausted limits all become a
:class:`ReplError` with a 1-based ``line``/``column`` in the cell (when one
is known) and a ``hint``.
"""

from __future__ import annotations

import re


class ReplError(Exception):
    """A cell failed.

    Attributes:
        message: one line, lowercase, no final period.
        line, column: 1-based position in the cell (``None`` if unknown).
        hint: one line of advice (or ``None``).
        detail: Starlark's own rendering (source snippet), when it has one.
        kind: ``"syntax"``, ``"eval"``, ``"capability"``, ``"limit"`` or ``"refused"``.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 hint: str | None = None, detail: str | None = None, kind: str = "eval"):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.detail = detail
        self.kind = kind

    def render(self, file: str = "<cell>") -> str:
        """``error: MESSAGE`` with ``--> FILE:LINE:COL`` and ``= help: HINT`` lines."""
        out = [f"error: {self.message}"]
        if self.line is not None:
            out.append(f"  --> {file}:{self.line}:{self.column or 1}")
        if self.hint:
            out.append(f"  = help: {self.hint}")
        return "\n".join(out) + "\n"

    def to_json(self) -> dict:
        """``{"kind", "message", "line", "column", "hint"}``."""
        return {"kind": self.kind, "message": self.message, "line": self.line, "column": self.column,
                "hint": self.hint}


class ReplLimitError(ReplError):
    """A :class:`~ragc.repl.policy.ReplPolicy` limit was reached; ``limit``
    names it (``max_calls``...)."""

    def __init__(self, limit: str, message: str, **kw):
        kw.setdefault("hint", f"raise `{limit}` (ragc repl --{limit.replace('_', '-')} N) if the work is legitimate")
        super().__init__(message, kind="limit", **kw)
        self.limit = limit


class CapabilityError(ReplError):
    """A builtin refused or failed (unknown registry name, bad argument,
    unapproved graph, provider failure)."""

    def __init__(self, message: str, **kw):
        kw.setdefault("kind", "capability")
        super().__init__(message, **kw)


_WHERE = re.compile(r"-->\s*(?P<file>[^\n]*?):(?P<line>\d+):(?P<col>\d+)")
_ERROR_LINE = re.compile(r"^error: (?P<msg>.*)$", re.M)


def from_starlark(text: str, *, line_offset: int = 0) -> ReplError:
    """A :class:`ReplError` from the text of a ``starlark.StarlarkError``.

    starlark-rust renders errors as ``error: MESSAGE`` followed by
    ``--> FILE:LINE:COL`` and a snippet (rustc's layout), possibly after a
    ``Traceback`` block; the *last* location is the innermost one.

    Args:
        text: ``str(error)``.
        line_offset: subtracted from reported lines (lines the session
            put before the user's first line).
    """
    found = _ERROR_LINE.findall(text)
    message = found[-1].strip() if found else (text.strip().splitlines() or ["evaluation failed"])[-1]
    kind = "syntax" if message.startswith("Parse error") else "eval"
    line = column = None
    where = list(_WHERE.finditer(text))
    if where:
        m = where[-1]
        line = int(m["line"]) - line_offset
        column = int(m["col"])
    hint = None
    if "not found" in message and "Variable" in message:
        hint = "builtins: model_query, agent_query, tool_call, graph_run (and *_batched), graph_define, " \
               "graph_validate, graph_compile, graph_diff, show_vars, answer, print"
    elif kind == "syntax" and ("import" in message or "while" in message):
        hint = ".ragsh is Starlark: no import, no while; use a for loop over range(N)"
    msg = message[:1].lower() + message[1:] if message[:1].isupper() and not message[:2].isupper() else message
    return ReplError(msg, line=line, column=column, hint=hint, detail=text, kind=kind)
