"""Python functions a workflow may call: custom nodes, router functions and
custom reducers.

Sources, in order: functions passed to :func:`ragc.load` (``functions=``),
then registry ``[functions.NAME]`` / ``[reducers.NAME]`` entries
(``python = "package.module:attr"``; the registry's directory is put on
``sys.path`` so a module next to ``registry.toml`` imports).

Calling conventions (``docs/runtime.md``, "Custom nodes"):

* a **function node** calls ``f(input, state)`` -- ``input`` is the node's
  evaluated ``input`` mapping (the run input without one), ``state`` a
  read-only view of the channels. A function that declares fewer positional
  parameters gets fewer arguments (``f(input)``, ``f()``). ``async def``
  functions are awaited.
* an object (or class, instantiated once without arguments) with the seed
  node framework's lifecycle: ``prep(state, input) -> p`` (default: returns
  ``input``), ``exec(p) -> e`` (the part that is retried and timed out),
  ``post(state, p, e) -> result`` (default: returns ``e``). Each may be sync
  or async.
* a **router function** is called ``f(state, input)`` and returns a label.
* a **reducer** is called ``f(current, update)`` and returns the new value.

A function node may return :class:`NodeResult` to pick a route label or
write extra channels besides its ``output``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ragc.runtime.errors import RunError


@dataclass(slots=True)
class NodeResult:
    """What a custom node function may return instead of a plain value.

    Args:
        value: the node's result (written to its ``output`` channel).
        route: a route label, for a node with ``routes`` (overrides the
            ``ok`` outcome; must be a declared label, else ``E0903``).
        update: extra channel writes ``{channel: value}``, applied through
            the channels' reducers after the output write.
    """

    value: Any = None
    route: str | None = None
    update: dict[str, Any] = field(default_factory=dict)


def import_object(spec: str, base_dir: Path | None = None) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted).

    Raises:
        ImportError, AttributeError, ValueError: the spec is malformed or the
            module/attribute does not exist (callers wrap this).
    """
    if ":" not in spec:
        raise ValueError(f"`{spec}` is not of the form \"package.module:function\"")
    mod_name, attr = spec.split(":", 1)
    if base_dir is not None:
        d = str(Path(base_dir).resolve())
        if d not in sys.path:
            sys.path.insert(0, d)
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class FunctionTable:
    """Resolves function names for one workflow (API functions first, then
    the registry), caching what it imported.

    Args:
        registry: a ``ragc.registry.model.Registry`` or ``None``.
        functions: ``{name: callable or lifecycle object}`` from the API.
        lenient: a function that cannot be loaded becomes a stub that
            raises when called, instead of an error now (used to replay a
            journal whose functions are not available, e.g. ``ragc runs
            show`` of a run started from Python).
    """

    def __init__(self, registry: Any = None, functions: dict[str, Any] | None = None, *, lenient: bool = False):
        self.registry = registry
        self.given = dict(functions or {})
        self.lenient = lenient
        self._cache: dict[tuple[str, str], Any] = {}

    def _load(self, table: str, name: str) -> Any:
        key = (table, name)
        if key in self._cache:
            return self._cache[key]
        if self.lenient:
            try:
                return self._load_strict(table, name)
            except RunError as e:
                err = e

                def unavailable(*args: Any) -> Any:
                    raise err

                self._cache[key] = unavailable
                return unavailable
        return self._load_strict(table, name)

    def _load_strict(self, table: str, name: str) -> Any:
        key = (table, name)
        if table == "functions" and name in self.given:
            obj = self.given[name]
        else:
            entries = getattr(self.registry, table, None) or {}
            entry = entries.get(name)
            if entry is None:
                where = "the registry" if table == "reducers" else "the registry or `functions=`"
                raise RunError("E0914", f"no {table[:-1]} `{name}` in {where}", kind="config",
                               hint=f"add `[{table}.{name}] python = \"module:function\"` to registry.toml")
            try:
                obj = import_object(entry.python, getattr(self.registry, "base_dir", None))
            except Exception as e:  # any import-time failure is a config problem
                raise RunError("E0914", f"cannot load {table[:-1]} `{name}` ({entry.python}): "
                               f"{type(e).__name__}: {e}", kind="config") from None
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as e:
                raise RunError("E0914", f"cannot instantiate {table[:-1]} `{name}`: {type(e).__name__}: {e}",
                               kind="config") from None
        self._cache[key] = obj
        return obj

    def node_function(self, name: str) -> "NodeCallable":
        """The callable of a function node. Raises :class:`RunError` E0914."""
        return NodeCallable(name, self._load("functions", name))

    def router_function(self, name: str) -> Callable[..., Any]:
        """A router function ``f(state, input)``. Raises :class:`RunError` E0914."""
        obj = self._load("functions", name)
        if not callable(obj):
            raise RunError("E0914", f"router function `{name}` is not callable", kind="config")
        return _adapt(obj, 2)

    def reducer(self, name: str) -> Callable[[Any, Any], Any]:
        """A custom reducer ``f(current, update)``. Raises :class:`RunError` E0914."""
        obj = self._load("reducers", name)
        if not callable(obj):
            raise RunError("E0914", f"reducer `{name}` is not callable", kind="config")
        return obj


def _positional_count(fn: Callable) -> int:
    """How many positional arguments ``fn`` accepts (99 for ``*args``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 99
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _is_async(fn: Callable) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


def _adapt(fn: Callable, max_args: int) -> Callable[..., Any]:
    """``call(*args)`` passing only as many leading args as ``fn`` takes
    (specialised wrappers for the common arities: this is on the hot path)."""
    n = min(_positional_count(fn), max_args)
    if n >= max_args:
        return fn
    if max_args == 2:
        if n == 1:
            return lambda a, b: fn(a)
        if n == 0:
            return lambda a, b: fn()
    return lambda *args: fn(*args[:n])


class NodeCallable:
    """A resolved custom node: a plain function or a prep/exec/post object.

    ``lifecycle`` is true for the latter; ``is_async`` tells whether the
    plain function must be awaited (checked once, here).
    """

    __slots__ = ("name", "obj", "lifecycle", "call", "is_async", "prep", "exec", "post", "wants_state")

    def __init__(self, name: str, obj: Any):
        self.name = name
        self.obj = obj
        self.lifecycle = not callable(obj) or (hasattr(obj, "exec") and callable(getattr(obj, "exec")))
        if self.lifecycle:
            ex = getattr(obj, "exec", None)
            if ex is None or not callable(ex):
                raise RunError("E0914", f"function `{name}` is neither callable nor has an `exec` method",
                               kind="config")
            self.exec = _adapt(ex, 1)
            prep = getattr(obj, "prep", None)
            post = getattr(obj, "post", None)
            self.prep = _adapt(prep, 2) if callable(prep) else None
            self.post = _adapt(post, 3) if callable(post) else None
            self.call = None
            self.is_async = False
        else:
            self.call = _adapt(obj, 2)
            self.is_async = _is_async(obj)
            self.prep = self.exec = self.post = None
        self.wants_state = self.lifecycle or _positional_count(obj) >= 2


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable (sync or async user code)."""
    if inspect.isawaitable(value):
        return await value
    return value
