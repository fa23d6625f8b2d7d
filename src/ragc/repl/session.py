"""A ``.ragsh`` session: the interpreter, the capability builtins, the
session builtins (``print``, ``show_vars``, ``answer``) and the event loop
the calls run on.

::

    with ReplSession(registry) as s:
        r = s.run_cell('x = model_query("fast", "Say hi")\\nprint(x)')
        r = s.run_cell('answer(x)')
        assert r.answered and s.answer == ...

``ragc repl FILE.ragsh`` runs a file as one cell; ``ragc repl`` reads cells
from the terminal; the namespace persists between cells either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from anyio.from_thread import start_blocking_portal

from ragc.registry.model import Registry
from ragc.repl.authoring import GraphBook
from ragc.repl.capabilities import Capabilities
from ragc.repl.errors import CapabilityError, ReplError, ReplLimitError
from ragc.repl.interpreter import Interpreter, StopCell
from ragc.repl.policy import ReplPolicy

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
class ReplSession:
    """One session. Use it as a context manager (it owns an event loop thread).

    Args:
        registry: the registry whose capabilities the session offers.
        policy: the limits (default :class:`ReplPolicy`).
        root: directory of ``.ragc/`` (approvals, generated graphs); default
            the current directory.
        workspace: root of file tools of graph runs (default: the registry's).
        write: receives printed text as it is printed (default: kept only in
            :attr:`CellResult.output`).
    """

    registry: Registry
    policy: ReplPolicy = field(default_factory=ReplPolicy)
    root: Path | None = None
    workspace: str | None = None
    write: Callable[[str], None] | None = None
    answer: Any = None
    answered: bool = False
    output_bytes: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root is not None else Path.cwd()
        self._cell_output: list[str] = []
        self._portal_cm = None
        self.capabilities: Capabilities | None = None
        self.graphs = GraphBook(self.registry, self.policy, self.root)
        self.interpreter = Interpreter(self.policy, {})

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> "ReplSession":
        from ragc.harness.facade import Harness

        self._portal_cm = start_blocking_portal()
        portal = self._portal_cm.__enter__()
        harness = Harness(self.registry, workspace=self.workspace)
        self.capabilities = Capabilities(self.registry, self.policy, portal, harness, self.graphs,
                                         self.interpreter.remaining_s, workspace=self.workspace)
        self._portal = portal
        self._harness = harness
        self.interpreter.builtins = {**self.capabilities.builtins(), **self._session_builtins()}
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._portal.call(self._harness.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    # ------------------------------------------------------------------ cells

    def run_cell(self, source: str, file: str = "<cell>") -> CellResult:
        """Evaluate one cell; never raises for a script's mistakes (they are
        in :attr:`CellResult.error`)."""
        if self.capabilities is None:
            raise RuntimeError("use ReplSession as a context manager")
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
        return {
            "print": self._print,
            "show_vars": self._show_vars,
            "answer": self._answer,
            "graph_define": graphs.define,
            "graph_validate": graphs.validate,
            "graph_compile": graphs.compile,
            "graph_diff": graphs.diff,
        }

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


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _type_name(value: Any) -> str:
    return {type(None): "None", bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "dict", tuple: "tuple"}.get(type(value), type(value).__name__)
