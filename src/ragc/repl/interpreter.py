"""The ``.ragsh`` language: Starlark, evaluated by starlark-rust through
``starlark-pyo3``, with limits and a namespace that persists across cells.

Why Starlark: it is an existing language designed to run untrusted
configuration code hermetically (https://github.com/bazelbuild/starlark,
"spec.md"): no file, network, clock, environment or process access exists in
the language at all, there is no ``import`` and no ``while``, values have no
``__class__``-style reflection, and its syntax is a subset of Python that
models already write well. The evaluator is a Rust implementation (Meta's
starlark-rust) rather than ours, and it exposes the two hooks the
:class:`~ragc.repl.policy.ReplPolicy` needs: a cancellation callback called
about every 1000 bytecode instructions (operations and time) and a call-stack
cap (depth). Lua through ``lupa`` was the other candidate; its standard
library must be taken apart to sandbox it (``io``, ``os``, ``load``,
``debug``, ``string.dump``...) and it has unbounded ``while`` loops, so the
safety would rest on our own stripping instead of the language's design.

What a cell can touch is exactly: Starlark's standard builtins, the ``json``
module, and the capability builtins the session passes in (see
:mod:`ragc.repl.capabilities`). ``load`` statements are refused.

Persistence: after each cell, the top-level names it bound are read back.
Data values (``None``, bools, numbers, strings, lists, dicts) are copied
into the next cell's module (so they stay mutable); functions (``def`` and
``lambda``) stay in the frozen module of the cell that defined them and are
brought into later cells by a ``load`` the session writes itself (a function
sees the globals of the cell that defined it, as frozen then).
"""

from __future__ import annotations

import ast as pyast
import inspect
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import starlark as sl

from ragc.repl.errors import ReplError, ReplLimitError, from_starlark
from ragc.repl.policy import ReplPolicy

_EXTENSIONS = [sl.LibraryExtension.Json, sl.LibraryExtension.Map, sl.LibraryExtension.Filter,
               sl.LibraryExtension.StructType]
"""Library extensions offered to scripts: pure data helpers only (no
``Print``: ``print`` is the session's, counted against ``max_output_bytes``;
no ``Debug``/``Breakpoint``: they read the terminal)."""

_ASSIGN_FALLBACK = re.compile(r"^(?:def\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:[-+*/%|&^]|//)?=(?!=)|^def\s+([A-Za-z_]\w*)",
                              re.M)


class StopCell(Exception):
    """Raised by a builtin to end the cell early without an error (``answer``)."""


@dataclass
class CellOutcome:
    """The value of a cell's last expression (``None`` when it ends with a
    statement) and whether it was ended by :class:`StopCell`."""

    value: Any
    stopped: bool = False


def _dialect() -> sl.Dialect:
    d = sl.Dialect.extended()  # top-level for/if, def, lambda, f-strings
    d.enable_load = True  # only the session's own loads; user loads are refused before evaluation
    return d


def top_level_names(source: str) -> list[str]:
    """Names a cell binds at module level (assignments, ``for`` targets,
    ``def``), in order of appearance, without duplicates.

    Starlark's syntax is a subset of Python's, so Python's own parser reads
    it (https://github.com/bazelbuild/starlark/blob/master/spec.md#grammar-reference);
    nothing is executed. A cell Python cannot parse falls back to a line scan.
    """
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        seen = []
        for m in _ASSIGN_FALLBACK.finditer(source):
            name = m.group(1) or m.group(2)
            if name and name not in seen:
                seen.append(name)
        return seen
    out: list[str] = []

    def bind(target: pyast.AST) -> None:
        if isinstance(target, pyast.Name) and target.id not in out:
            out.append(target.id)
        elif isinstance(target, (pyast.Tuple, pyast.List)):
            for t in target.elts:
                bind(t)

    def walk(stmts: list[pyast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, pyast.Assign):
                for t in s.targets:
                    bind(t)
            elif isinstance(s, (pyast.AugAssign, pyast.AnnAssign)):
                bind(s.target)
            elif isinstance(s, pyast.FunctionDef):
                bind(pyast.Name(id=s.name))
            elif isinstance(s, pyast.For):
                bind(s.target)
                walk(s.body)
                walk(s.orelse)
            elif isinstance(s, pyast.If):
                walk(s.body)
                walk(s.orelse)

    walk(tree.body)
    return out


class Interpreter:
    """Evaluates cells of one session.

    Args:
        policy: the limits (``max_operations``, ``max_depth``, ``timeout_s``,
            ``max_source_bytes`` apply here; the others in the builtins).
        builtins: name -> Python callable offered to every cell. A callable
            receives converted Python values (dict, list, str, int, float,
            bool, None) and must return such values. It may raise
            :class:`ReplError` (reported as the cell's error, at the call's
            location) or :class:`StopCell`.
    """

    def __init__(self, policy: ReplPolicy, builtins: Mapping[str, Callable[..., Any]]):
        self.policy = policy
        self.builtins = dict(builtins)
        self.namespace: dict[str, Any] = {}
        self._functions: dict[str, str] = {}  # name -> id of the cell whose frozen module holds it
        self._frozen: dict[str, sl.FrozenModule] = {}
        self._globals = sl.Globals.extended_by(_EXTENSIONS)
        self._cells = 0
        self._pending: BaseException | None = None
        self._stop_reason: ReplLimitError | None = None
        self.deadline: float = float("inf")
        self.ticks = 0

    # ------------------------------------------------------------------ public

    @property
    def function_names(self) -> list[str]:
        """Names of the functions the session's cells defined."""
        return sorted(self._functions)

    def remaining_s(self) -> float:
        """Seconds left before the running cell's deadline (0 when past it)."""
        return max(0.0, self.deadline - time.monotonic())

    def eval_cell(self, source: str, file: str = "<cell>") -> CellOutcome:
        """Evaluate one cell.

        Returns:
            A :class:`CellOutcome`.

        Raises:
            ReplError: a syntax or evaluation error, a refused ``load``, a
                builtin's error; :class:`ReplLimitError` for a limit.
            KeyboardInterrupt: Ctrl-C during the cell (the session stays usable).
        """
        size = len(source.encode("utf-8"))
        if size > self.policy.max_source_bytes:
            raise ReplLimitError("max_source_bytes",
                                 f"the cell is {size} bytes, more than max_source_bytes ({self.policy.max_source_bytes})")
        self._cells += 1
        cell_id = f"ragsh-cell:{self._cells}"
        try:
            user_ast = sl.parse(file, source, _dialect())
        except sl.StarlarkError as e:
            raise from_starlark(str(e)) from None
        if user_ast.loads():
            raise ReplError("`load` is not available in .ragsh", line=1, kind="refused",
                            hint="every capability is a builtin; values from earlier cells are already defined")
        bound = top_level_names(source)
        prefix = self._load_prefix(exclude=set(bound))
        program = sl.parse(file, prefix + source, _dialect()) if prefix else user_ast
        module = sl.Module()
        for name, value in self.namespace.items():
            if name not in self._functions:
                module[name] = value
        for name, fn in self.builtins.items():
            module.add_callable(name, self._guard(name, fn))
        self._pending = None
        self._stop_reason = None
        self.ticks = 0
        self.deadline = time.monotonic() + self.policy.timeout_s
        options = sl.EvalOptions(check_cancelled=self._check, max_callstack_size=self.policy.max_depth)
        loader = sl.FileLoader(self._load)
        try:
            result = sl.eval_with(options, module, program, self._globals, loader)
            outcome = CellOutcome(_plain(result.value))
        except sl.StarlarkError as e:
            outcome = None
            error: BaseException = e
        finally:
            self.deadline = float("inf")
        self._keep(module, bound, cell_id)
        if outcome is not None:
            return outcome
        pending, self._pending = self._pending, None
        if isinstance(pending, StopCell):
            return CellOutcome(None, stopped=True)
        if isinstance(pending, KeyboardInterrupt):  # Ctrl-C while a builtin ran: the caller decides
            raise KeyboardInterrupt
        where = from_starlark(str(error), line_offset=prefix.count("\n"))
        if isinstance(pending, ReplError):
            if pending.line is None:
                pending.line, pending.column = where.line, where.column
            raise pending from None
        if self._stop_reason is not None:
            reason = self._stop_reason
            reason.line, reason.column = where.line, where.column
            raise reason from None
        if "call stack" in str(error).lower() or "recursion" in str(error).lower():
            raise ReplLimitError("max_depth", f"call depth exceeded max_depth ({self.policy.max_depth})",
                                 line=where.line, column=where.column) from None
        if pending is not None:  # a bug in a builtin: say what, not a traceback
            raise ReplError(f"internal error in a builtin: {type(pending).__name__}: {pending}",
                            line=where.line, column=where.column) from None
        raise where from None

    # ------------------------------------------------------------------ internals

    def _load_prefix(self, exclude: set[str]) -> str:
        """``load(...)`` lines, put before the cell, bringing the earlier
        cells' functions in (except names this cell rebinds); error lines are
        shifted back by their number."""
        by_cell: dict[str, list[str]] = {}
        for name, cell in self._functions.items():
            if name not in exclude:
                by_cell.setdefault(cell, []).append(name)
        parts = []
        for cell, names in sorted(by_cell.items()):
            parts.append("load(" + ", ".join(_quote(x) for x in [cell, *sorted(names)]) + ")")
        return "".join(p + "\n" for p in parts)

    def _load(self, module_id: str) -> sl.FrozenModule:
        frozen = self._frozen.get(module_id)
        if frozen is None:  # cannot happen: user loads are refused before evaluation
            raise ReplError("`load` is not available in .ragsh", kind="refused")
        return frozen

    def _keep(self, module: sl.Module, bound: list[str], cell_id: str) -> None:
        """Read back the names the cell bound (those it reached before an
        error too) and the earlier data values (a cell may have mutated them)."""
        has_function = False
        for name in list(dict.fromkeys([*self.namespace, *bound])):
            if name in self.builtins:
                continue
            try:
                value = _read(module, name)
            except _Unset:
                continue
            except (sl.StarlarkError, KeyError):
                # not reached, or not data: a function stays in this cell's frozen module
                if self._is_function(module, name):
                    self._functions[name] = cell_id
                    self.namespace.pop(name, None)
                    has_function = True
                continue
            self.namespace[name] = value
            self._functions.pop(name, None)
        if has_function:
            self._frozen[cell_id] = module.freeze()

    @staticmethod
    def _is_function(module: sl.Module, name: str) -> bool:
        try:
            _read(module, name)
        except _Unset:
            return False
        except sl.StarlarkError as e:
            return "serialize" in str(e) or "function" in str(e)
        except KeyError:
            return False
        return False

    def _check(self) -> bool:
        """starlark-rust's cancellation hook: one tick per ~1000 instructions."""
        self.ticks += 1
        if self.ticks > self.policy.max_operations:
            self._stop_reason = ReplLimitError(
                "max_operations", f"the cell ran more than max_operations ({self.policy.max_operations}) ticks "
                                  "of about 1000 instructions each")
            return True
        if time.monotonic() > self.deadline:
            self._stop_reason = ReplLimitError("timeout_s", f"the cell ran longer than timeout_s ({self.policy.timeout_s:g}s)")
            return True
        return False

    def _guard(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a builtin: check the arguments against its signature, and
        remember what it raised (starlark-pyo3 flattens Python exceptions
        into a StarlarkError text), so the cell reports the builtin's own
        error with its hint."""
        signature = inspect.signature(fn)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as e:
                self._pending = ReplError(f"{name}(): {e}", kind="eval",
                                          hint=f"{name}{signature}".replace("'", ""))
                raise
            try:
                return fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 - re-raised as the cell's error by eval_cell
                self._pending = e
                raise

        return call


class _Unset(Exception):
    """A name the cell's module never allocated (the cell failed before it ran)."""


def _read(module: sl.Module, name: str) -> Any:
    """``module[name]``. starlark-rust panics (pyo3's ``PanicException``, a
    ``BaseException``) reading a name of a module whose evaluation failed at
    name resolution, before its slots existed; that is :class:`_Unset`."""
    try:
        return module[name]
    except (sl.StarlarkError, KeyError):
        raise
    except BaseException as e:  # noqa: BLE001 - only the panic is translated
        if type(e).__name__ == "PanicException":
            raise _Unset(name) from None
        raise


def _plain(value: Any) -> Any:
    """A cell's last value as plain data (a function shows as its repr)."""
    if isinstance(value, (type(None), bool, int, float, str, list, dict, tuple)):
        return value
    return repr(value)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
