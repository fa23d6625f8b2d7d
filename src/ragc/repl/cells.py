"""Cells of a ``.ragsh`` session: :class:`CellSession` evaluates cells in
one persistent namespace with the capability builtins and the session
builtins (``print``, ``show_vars``, ``answer``, ``graph_define``...).

It does not own an event loop: :meth:`CellSession.attach` gives it a
*portal* (an object whose ``call(async_fn, *args)`` runs ``async_fn`` on an
event loop and returns its result, from the thread that evaluates the cell)
and a harness. :class:`ragc.repl.session.ReplSession` attaches a portal of
its own loop thread (``ragc repl``); a ``kind repl`` node attaches the run's
loop through :class:`LoopPortal` and evaluates cells in a worker thread, so
the cells' model, tool and agent calls go through the run's harness, budget
and journal (``ragc.runtime.nodes.repl``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import anyio.from_thread

from ragc.registry.model import Registry
from ragc.repl.authoring import GraphBook
from ragc.repl.capabilities import Capabilities
from ragc.repl.errors import CapabilityError, ReplError, ReplLimitError
from ragc.repl.interpreter import Interpreter, StopCell
from ragc.repl.policy import ReplPolicy


class LoopPortal:
    """A portal onto the event loop that started the current worker thread
    (``anyio.to_thread.run_sync``): ``call`` runs an async function there
    and waits for it (``anyio.from_thread.run``)."""

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` on the loop; its result, or what it raised."""
        return anyio.from_thread.run(fn, *args)


SHOW_VALUE_CHARS = 80


@dataclass
class CellResult:
    """What one cell did.

    ``value``: its last expression's value (``None`` after a statement);
    ``output``: what it printed; ``error``: the :class:`ReplError` that
    ended it (``None`` if it succeeded); ``answered``: it called ``answer``.
    """

    value: Any = None
    output: str = ""
    error: ReplError | None = None
    answered: bool = False

    @property
    def ok(self) -> bool:
        """The cell ended without an error (an ``answer`` included)."""
        return self.error is None


@dataclass
class CellSession:
    """One session's cells, without an event loop of its own (see the module
    doc); call :meth:`attach` before :meth:`run_cell`.

    Args:
        registry: the registry whose capabilities the session offers.
        policy: the limits (default :class:`ReplPolicy`).
        root: directory of ``.ragc/`` (approvals, generated graphs); default
            the current directory.
        workspace: root of file tools of graph runs (default: the registry's).
        write: receives printed text as it is printed (default: kept only in
            :attr:`CellResult.output`).
        routes: the route labels ``answer(value, route=LABEL)`` may pick
            (a ``repl`` node); ``None``: ``answer(value)`` only.
        authoring: offer ``graph_define``/``graph_validate``/``graph_compile``/
            ``graph_diff`` (they write ``.ragc/generated/``; a node does not).
    """

    registry: Registry
    policy: ReplPolicy = field(default_factory=ReplPolicy)
    root: Path | None = None
    workspace: str | None = None
    write: Callable[[str], None] | None = None
    answer: Any = None
    answered: bool = False
    output_bytes: int = 0
    routes: tuple[str, ...] | None = None
    authoring: bool = True
    answer_route: str | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root is not None else Path.cwd()
        self._cell_output: list[str] = []
        self._portal_cm = None
        self.capabilities: Capabilities | None = None
        self.graphs = GraphBook(self.registry, self.policy, self.root)
        self.interpreter = Interpreter(self.policy, {})

    # ------------------------------------------------------------------ life cycle

    def attach(self, portal: Any, harness: Any,
               graph_runner: Callable[..., Awaitable[dict]] | None = None) -> Capabilities:
        """Give the session the ``portal`` its calls run through and the
        ``harness`` that makes them; returns the :class:`Capabilities`
        (whose ``granted``, ``effects``... a caller may set)."""
        self.capabilities = Capabilities(self.registry, self.policy, portal, harness, self.graphs,
                                         self.interpreter.remaining_s, workspace=self.workspace,
                                         graph_runner=graph_runner)
        self.interpreter.builtins = {**self.capabilities.builtins(), **self._session_builtins()}
        return self.capabilities

    # ------------------------------------------------------------------ cells

    def run_cell(self, source: str, file: str = "<cell>") -> CellResult:
        """Evaluate one cell; never raises for a script's mistakes (they are
        in :attr:`CellResult.error`)."""
        if self.capabilities is None:
            raise RuntimeError("attach() the session first (ReplSession: use it as a context manager)")
        self._cell_output = []
        result = CellResult()
        try:
            outcome = self.interpreter.eval_cell(source, file)
            result.value = outcome.value
            result.answered = outcome.stopped and self.answered
        except ReplError as e:
            result.error = e
        result.output = "".join(self._cell_output)
        return result

    # ------------------------------------------------------------------ session builtins

    def _session_builtins(self) -> dict[str, Callable[..., Any]]:
        graphs = self.graphs
        out: dict[str, Callable[..., Any]] = {
            "print": self._print,
            "show_vars": self._show_vars,
            "answer": self._answer if self.routes is None else self._answer_route,
        }
        if self.authoring:
            out.update(graph_define=graphs.define, graph_validate=graphs.validate, graph_compile=graphs.compile,
                       graph_diff=graphs.diff)
        return out

    def _emit(self, text: str) -> None:
        size = len(text.encode("utf-8"))
        if self.output_bytes + size > self.policy.max_output_bytes:
            raise ReplLimitError("max_output_bytes", f"output would pass max_output_bytes "
                                                     f"({self.policy.max_output_bytes}; {self.output_bytes} written)")
        self.output_bytes += size
        self._cell_output.append(text)
        if self.write is not None:
            self.write(text)

    def _print(self, *args: Any, sep: str = " ") -> None:
        """``print(*args, sep=" ")``: strings as they are, other values as JSON."""
        if not isinstance(sep, str):
            raise CapabilityError(f"print(): `sep` must be a string, got {type(sep).__name__}")
        self._emit(sep.join(a if isinstance(a, str) else _show(a) for a in args) + "\n")

    def _show_vars(self) -> None:
        """``show_vars()``: one line per session variable and function."""
        lines = []
        for name in sorted(self.interpreter.namespace):
            value = self.interpreter.namespace[name]
            text = _show(value)
            if len(text) > SHOW_VALUE_CHARS:
                text = text[: SHOW_VALUE_CHARS - 3] + "..."
            lines.append(f"{name}: {_type_name(value)} = {text}")
        lines += [f"{name}: function" for name in self.interpreter.function_names]
        self._emit("\n".join(lines) + "\n" if lines else "(no variables)\n")

    def _answer(self, value: Any) -> None:
        """``answer(value)``: the session's result; ends the cell."""
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise CapabilityError("answer(): the value must be data (string, number, list, dict...)") from None
        self.answer = value
        self.answered = True
        raise StopCell()

    def _answer_route(self, value: Any, route: str | None = None) -> None:
        """``answer(value, route=None)`` (a ``repl`` node): the result, and
        the route label the node takes (one of :attr:`routes`)."""
        if route is not None and route not in (self.routes or ()):
            raise CapabilityError(f"answer(): `{route}` is not a route of this node",
                                  hint="routes: " + (", ".join(self.routes or ()) or "none (omit `route`)"))
        self.answer_route = route
        self._answer(value)


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _type_name(value: Any) -> str:
    return {type(None): "None", bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "dict", tuple: "tuple"}.get(type(value), type(value).__name__)
