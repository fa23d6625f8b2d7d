"""The CodeAct loop of a ``kind repl`` node: a model writes ``.ragsh`` cells,
a :class:`~ragc.repl.cells.CellSession` runs them, and their output goes
back to the model, until a cell calls ``answer(...)``.

One *turn* is one model call (effect key ``m<n>``) followed by the cell its
reply holds (effect key ``c<n>``, effect kind ``cell``). The cell is the
reply's fenced code blocks (```` ```ragsh ````, ```` ```starlark ```` or
```` ```python ````; several blocks are run as one cell, in order). A reply
without a block costs a turn and is answered with a reminder. The cell's
printed output, its last value and its error (with the position and help
of :class:`~ragc.repl.errors.ReplError`) are sent back as the next user
message, truncated to :data:`FEEDBACK_CHARS`.

Exactly once: before a cell runs, the effect log is asked for ``c<n>``;
a recorded cell is not run again, its recorded namespace (data variables),
output and answer are restored instead, and the model's turns are served by
the harness from their ``m<n>`` records. So a resumed run repeats no
completed model call and no completed cell. Functions (``def``) defined by a
cell that is restored from the journal are not restored (only data values
are journaled); the feedback of a later failing cell tells the model so it
can define them again.

An optional *prologue* (upstream's ``script``) runs as cell ``c0`` before
the first model turn; its output opens the conversation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import anyio.to_thread

from ragc.harness.types import EffectLog, Message
from ragc.repl.cells import CellResult, CellSession

FEEDBACK_CHARS = 4000
"""At most this many characters of a cell's output go back to the model."""

_BLOCK = re.compile(r"```[ \t]*(ragsh|starlark|python|py)?[ \t]*\n(.*?)```", re.S)

SYSTEM = """\
You solve the task by writing cells of .ragsh code (Starlark, a small subset of Python: no import, no while,
no classes, no file or network access). Put each cell in a fenced block:

```ragsh
x = tool_call("TOOL", {"arg": "value"})
print(x)
```

Variables persist between cells. After each cell you see what it printed, its last value, or its error.
Functions you may call:
{functions}
- print(*values), show_vars()
- answer(value{route}): ends the task with `value` as the result; call it once you are sure.
Work in small steps and print what you need to see."""


@dataclass
class CodeActResult:
    """How the loop ended.

    Attributes:
        answered: a cell called ``answer``.
        answer: its value (``None`` without one).
        route: the ``route=`` given to ``answer`` (``None``: not given).
        turns: model turns taken.
        cells: ``{"key", "ok", "error"}`` per cell run or restored, in order.
    """

    answered: bool = False
    answer: Any = None
    route: str | None = None
    turns: int = 0
    cells: list[dict[str, Any]] = field(default_factory=list)


def extract_cell(text: str) -> str | None:
    """The code of a model reply: its fenced ``ragsh``/``starlark``/``python``
    blocks (or unlabelled ones) joined in order, or ``None`` without any."""
    blocks = [m.group(2).strip("\n") for m in _BLOCK.finditer(text or "")]
    blocks = [b for b in blocks if b.strip()]
    return "\n".join(blocks) if blocks else None


def system_prompt(functions: list[str], routes: list[str], extra: str | None) -> str:
    """The loop's system message: how cells are written, the ``functions``
    the node grants (one line each), the labels ``answer`` may pick, then the
    node's own ``system`` text."""
    route = ""
    if routes:
        route = ', route="LABEL"' + f" (optional; LABEL one of: {', '.join(routes)})"
    text = SYSTEM.replace("{functions}", "\n".join(functions) or "- (none)").replace("{route}", route)
    return text + ("\n\n" + extra if extra else "")


def feedback(key: str, r: CellResult) -> str:
    """What the model is told about cell ``key``'s result ``r``."""
    parts = [f"[cell {key}]"]
    if r.output:
        parts.append("output:\n" + r.output.rstrip("\n"))
    if r.error is not None:
        parts.append("error: " + r.error.render(f"<cell {key}>"))
    elif r.value is not None:
        parts.append("value: " + _json(r.value))
    if len(parts) == 1:
        parts.append("(no output)")
    text = "\n".join(parts)
    if len(text) > FEEDBACK_CHARS:
        text = text[:FEEDBACK_CHARS] + f"\n... ({len(text) - FEEDBACK_CHARS} more characters cut)"
    return text


class CodeActLoop:
    """Runs the loop over one session.

    Args:
        session: an attached :class:`CellSession` (its namespace persists
            across the loop's cells).
        complete: ``async (messages, key) -> reply text``: one model turn
            (the caller passes ``key`` to the harness, which journals it).
        effects: the activation's effect log (cells are journaled here).
        max_turns: model turns allowed (>= 1).
        system: the system message (see :func:`system_prompt`).
        task: the first user message.
        prologue: ``.ragsh`` source run as cell ``c0`` first (``None``: none).
    """

    def __init__(self, session: CellSession, complete: Callable[[list[Message], str], Awaitable[str]],
                 effects: EffectLog, *, max_turns: int, system: str, task: str, prologue: str | None = None):
        self.session = session
        self.complete = complete
        self.effects = effects
        self.max_turns = max_turns
        self.system = system
        self.task = task
        self.prologue = prologue

    async def run(self) -> CodeActResult:
        """Turns until ``answer(...)`` or ``max_turns``; never raises for a
        cell's mistakes (they are fed back). Model-call failures propagate."""
        out = CodeActResult()
        messages = [Message(role="system", content=self.system), Message(role="user", content=self.task)]
        if self.prologue is not None:
            r = await self.cell("c0", self.prologue, out)
            if self._done(out):
                return out
            messages[-1] = Message(role="user", content=self.task + "\n\nThe setup cell ran first:\n"
                                   + feedback("c0", r))
        for n in range(1, self.max_turns + 1):
            out.turns = n
            reply = await self.complete(messages, f"m{n}")
            messages.append(Message(role="assistant", content=reply))
            source = extract_cell(reply)
            if source is None:
                messages.append(Message(role="user", content="No code cell found. Write one ```ragsh block; call "
                                                             "answer(value) when you have the result."))
                continue
            r = await self.cell(f"c{n}", source, out)
            if self._done(out):
                return out
            messages.append(Message(role="user", content=feedback(f"c{n}", r)))
        return out

    def _done(self, out: CodeActResult) -> bool:
        s = self.session
        if s.answered:
            out.answered, out.answer, out.route = True, s.answer, s.answer_route
        return out.answered

    async def cell(self, key: str, source: str, out: CodeActResult) -> CellResult:
        """Run cell ``key`` once: restored from the effect log when it is
        recorded there, else evaluated in a worker thread and journaled."""
        s = self.session
        recorded = self.effects.get(key)
        if recorded is not None:
            r = self._restore(recorded)
        else:
            caps = s.capabilities
            if caps is not None:
                caps.new_scope(key + ".")
            try:
                r = await anyio.to_thread.run_sync(s.run_cell, source, f"<cell {key}>", abandon_on_cancel=True)
            except anyio.get_cancelled_exc_class():
                # the node was cancelled (a join fired, the run stopped): the cell stops at its next
                # evaluation tick, and any capability call it would still make is refused
                s.interpreter.deadline = 0.0
                raise
            await self.effects.put(key, "cell", self._record(source, r))  # type: ignore[arg-type]
        out.cells.append({"key": key, "ok": r.ok, "error": r.error.message if r.error else None})
        return r

    def _record(self, source: str, r: CellResult) -> dict[str, Any]:
        s = self.session
        return {
            "source": source, "ok": r.ok, "output": r.output, "value": _plain(r.value),
            "error": r.error.to_json() if r.error is not None else None,
            "answered": s.answered, "answer": _plain(s.answer), "route": s.answer_route,
            "namespace": _plain(dict(s.interpreter.namespace)),
            "output_bytes": s.output_bytes, "calls": s.capabilities.calls if s.capabilities else 0,
        }

    def _restore(self, rec: dict[str, Any]) -> CellResult:
        from ragc.repl.errors import ReplError

        s = self.session
        s.interpreter.namespace = dict(rec.get("namespace") or {})
        s.output_bytes = int(rec.get("output_bytes") or 0)
        if s.capabilities is not None:
            s.capabilities.calls = int(rec.get("calls") or 0)
        if rec.get("answered"):
            s.answer, s.answered, s.answer_route = rec.get("answer"), True, rec.get("route")
        err = rec.get("error")
        error = None
        if isinstance(err, dict):
            error = ReplError(str(err.get("message", "")), line=err.get("line"), column=err.get("column"),
                              hint=err.get("hint"), kind=str(err.get("kind") or "eval"))
        return CellResult(value=rec.get("value"), output=str(rec.get("output") or ""), error=error,
                          answered=bool(rec.get("answered")))


def _plain(value: Any) -> Any:
    """``value`` as JSON data (tuples become lists; anything else its repr)."""
    return json.loads(json.dumps(value, default=repr))


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
