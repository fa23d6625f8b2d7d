"""The capability builtins of ``.ragsh``: model, agent, tool and graph calls.

Every call goes through the registry: a model by its ``[models.NAME]``, an
agent by ``[agents.NAME]``, a tool by ``[tools.NAME]`` (under the session's
policy), a graph by ``[graphs.NAME]`` or one the script defined (see
:mod:`ragc.repl.authoring`). The Starlark evaluator is synchronous; the
harness and runtime are anyio code, so calls are handed to an event loop in
a worker thread through an ``anyio.from_thread.BlockingPortal``.

``NAME_batched(..., max_concurrency=N)`` forms run one call per element at
most ``min(N, ReplPolicy.max_concurrency)`` at a time and return results in
input order, whatever order they finish in. A failed element fails the whole
batch with the first failure in input order.

Each element counts one call against ``max_calls``; a batch is refused whole
(before any call starts) when it would pass the limit. A call is also bounded
by the cell's remaining ``timeout_s``.
"""

from __future__ import annotations

import itertools
from typing import Any, Awaitable, Callable, Sequence

import anyio

from ragc.harness.types import Message, ModelRequest, NoBudget, NullEffectLog
from ragc.registry.model import Registry
from ragc.repl.authoring import GraphBook
from ragc.repl.errors import CapabilityError, ReplError, ReplLimitError
from ragc.repl.policy import ReplPolicy


class Capabilities:
    """Model, agent, tool and graph calls of one session.

    Args:
        registry: the session's registry.
        policy: limits (``max_calls``, ``max_concurrency``).
        portal: the ``BlockingPortal`` whose loop runs the calls.
        harness: a :class:`ragc.harness.Harness` created on that loop.
        graphs: the session's :class:`GraphBook`.
        remaining_s: seconds left in the running cell.
        workspace: root of file tools of graph runs (``None``: the registry's).
        graph_runner: ``async (program, untrusted, source, input) -> dict`` that
            runs a compiled graph for ``graph_run`` (:func:`ragc.repl.graph_runs.graph_runner`
            binds one; in a node, ``program`` is the registry graph's name);
            ``None``: ``graph_run`` is not offered.

    Set by a ``repl`` node (:mod:`ragc.repl.cells`) before each cell:
    :attr:`granted` (``{"models": {...}, "tools": {...}, "agents": {...}, "graphs": {...}}``:
    the only names the cells may call; ``None``: the whole registry),
    :attr:`effects` and :attr:`budget` (the activation's effect log and
    budget guard: calls are journaled and counted), :attr:`call_kwargs`
    (``emit``, ``node``, ``activation``, ``run_id`` of harness calls) and
    :attr:`key_scope` (``"c3."``: call keys ``c3.m1``, ``c3.t2``...).
    """

    def __init__(self, registry: Registry, policy: ReplPolicy, portal: Any, harness: Any, graphs: GraphBook,
                 remaining_s: Callable[[], float], workspace: str | None = None,
                 graph_runner: Callable[..., Awaitable[dict]] | None = None):
        self.registry = registry
        self.policy = policy
        self.portal = portal
        self.harness = harness
        self.graphs = graphs
        self.remaining_s = remaining_s
        self.workspace = workspace
        self.graph_runner = graph_runner
        self.granted: dict[str, set[str]] | None = None
        self.effects: Any = NullEffectLog()
        self.budget: Any = NoBudget()
        self.call_kwargs: dict[str, Any] = {}
        self.key_scope = "repl:"
        self.calls = 0
        self.peak_in_flight = 0
        self._in_flight = 0
        self._keys = itertools.count(1)

    def builtins(self) -> dict[str, Callable[..., Any]]:
        """Name -> callable for the interpreter (``graph_run`` and
        ``graph_run_batched`` only with a ``graph_runner``)."""
        out: dict[str, Callable[..., Any]] = {
            "model_query": self.model_query, "model_query_batched": self.model_query_batched,
            "agent_query": self.agent_query, "agent_query_batched": self.agent_query_batched,
            "tool_call": self.tool_call, "tool_call_batched": self.tool_call_batched,
        }
        if self.graph_runner is not None:
            out.update(graph_run=self.graph_run, graph_run_batched=self.graph_run_batched)
        return out

    # ------------------------------------------------------------------ builtins

    def model_query(self, model: str, prompt: str, system: str | None = None, schema: dict | None = None,
                    max_tokens: int | None = None, temperature: float | None = None) -> Any:
        """One model call: the reply text, or the parsed object when ``schema``
        (a JSON schema) is given."""
        self._known("models", model)
        return self._run([lambda: self._model(model, prompt, system, schema, max_tokens, temperature)])[0]

    def model_query_batched(self, model: str, prompts: Sequence[str], system: str | None = None,
                            schema: dict | None = None, max_concurrency: int | None = None) -> list:
        """:meth:`model_query` per prompt; results in input order."""
        self._known("models", model)
        prompts = _list("model_query_batched", "prompts", prompts)
        return self._run([lambda p=p: self._model(model, p, system, schema, None, None) for p in prompts],
                         max_concurrency)

    def agent_query(self, agent: str, prompt: str) -> Any:
        """Run registry agent ``agent`` on ``prompt``: its final text (its
        structured result when it has one)."""
        self._known("agents", agent)
        return self._run([lambda: self._agent(agent, prompt)])[0]

    def agent_query_batched(self, agent: str, prompts: Sequence[str], max_concurrency: int | None = None) -> list:
        """:meth:`agent_query` per prompt; results in input order."""
        self._known("agents", agent)
        prompts = _list("agent_query_batched", "prompts", prompts)
        return self._run([lambda p=p: self._agent(agent, p) for p in prompts], max_concurrency)

    def tool_call(self, tool: str, args: dict | None = None) -> str:
        """Call registry tool ``tool`` with ``args``: its result text. A
        failed call (bad arguments, sandbox refusal) is the cell's error."""
        self._known("tools", tool)
        return self._run([lambda: self._tool(tool, args)])[0]

    def tool_call_batched(self, tool: str, args_list: Sequence[dict], max_concurrency: int | None = None) -> list:
        """:meth:`tool_call` per argument object; results in input order."""
        self._known("tools", tool)
        items = _list("tool_call_batched", "args_list", args_list)
        return self._run([lambda a=a: self._tool(tool, a) for a in items], max_concurrency)

    def graph_run(self, graph: str, input: dict | None = None) -> dict:
        """Run a graph to its end: ``{"status", "run_id", "output", "usage",
        "error", "interrupt"}``. Untrusted (script-defined) graphs need an
        approval first."""
        program, untrusted, source = self._runnable(graph)
        return self._run([lambda: self._graph(program, untrusted, source, input)])[0]

    def graph_run_batched(self, graph: str, inputs: Sequence[dict], max_concurrency: int | None = None) -> list:
        """:meth:`graph_run` per input; results in input order."""
        program, untrusted, source = self._runnable(graph)
        items = _list("graph_run_batched", "inputs", inputs)
        return self._run([lambda i=i: self._graph(program, untrusted, source, i) for i in items], max_concurrency)

    # ------------------------------------------------------------------ calls (on the loop)

    async def _model(self, model: str, prompt: Any, system: Any, schema: Any, max_tokens: Any, temperature: Any) -> Any:
        messages = []
        if system is not None:
            messages.append(Message(role="system", content=_text("system", system)))
        messages.append(Message(role="user", content=_text("prompt", prompt)))
        if schema is not None and not isinstance(schema, dict):
            raise CapabilityError("model_query: `schema` must be a JSON schema object (a dict)")
        request = ModelRequest(messages=messages, response_schema=schema, max_tokens=max_tokens,
                               temperature=temperature)
        response = await self.harness.complete(model, request, effects=self.effects, key=self._key("m"),
                                               budget=self.budget, **self.call_kwargs)
        return response.structured if schema is not None else response.message.content

    async def _agent(self, agent: str, prompt: Any) -> Any:
        spec = self.harness.agent_spec(agent)
        effects = self.effects
        if not isinstance(effects, NullEffectLog):
            effects = ScopedEffects(effects, self._key("a") + "/")
        result = await self.harness.run_agent(spec, [Message(role="user", content=_text("prompt", prompt))],
                                              effects=effects, budget=self.budget, **self.call_kwargs)
        return result.structured if result.structured is not None else result.text

    async def _tool(self, tool: str, args: Any) -> str:
        if args is not None and not isinstance(args, dict):
            raise CapabilityError(f"tool_call: the arguments of `{tool}` must be a dict, got {type(args).__name__}")
        result = await self.harness.call_tool(tool, dict(args or {}), effects=self.effects, key=self._key("t"),
                                              budget=self.budget, **self.call_kwargs)
        if result.is_error:
            raise CapabilityError(f"tool `{tool}` failed: {result.content}",
                                  hint=f"check the arguments against the tool's schema ([tools.{tool}])")
        return result.content

    async def _graph(self, program: Any, untrusted: bool, source: str, inputs: Any) -> dict:
        if inputs is not None and not isinstance(inputs, dict):
            raise CapabilityError(f"graph_run: the input must be a dict, got {type(inputs).__name__}")
        if self.graph_runner is None:
            raise CapabilityError("graph_run is not available here", kind="refused",
                                  hint="run the graph as a `kind subgraph` node of the workflow instead")
        return _jsonable(await self.graph_runner(program, untrusted, source, dict(inputs or {})))

    # ------------------------------------------------------------------ plumbing

    def _runnable(self, graph: Any) -> tuple[Any, bool, str]:
        """What :attr:`graph_runner` gets for ``graph``: the session's
        compiled program (:meth:`GraphBook.runnable`), or, in a node
        (:attr:`granted` set), the granted registry graph's name."""
        if self.granted is None:
            return self.graphs.runnable(graph)
        self._known("graphs", graph)
        return graph, False, ""

    def _known(self, table: str, name: Any) -> None:
        entries = getattr(self.registry, table)
        if self.granted is not None:
            granted = sorted(self.granted.get(table, ()))
            if isinstance(name, str) and name in granted and name in entries:
                return
            if isinstance(name, str) and name in entries:
                raise CapabilityError(f"{table[:-1]} `{name}` is not granted to this node", kind="refused",
                                      hint=f"the node's `{table}` list: " + (", ".join(granted) or "empty"))
            entries = {n: None for n in granted}
        elif isinstance(name, str) and name in entries:
            return
        from ragc.diagnostics.suggest import did_you_mean

        guess = did_you_mean(str(name), list(entries)) if isinstance(name, str) else None
        known = ", ".join(sorted(entries)) or "none"
        raise CapabilityError(f"unknown {table[:-1]} `{name}`",
                              hint=f"did you mean `{guess}`?" if guess else f"registry {table}: {known}")

    def _key(self, prefix: str) -> str:
        return f"{self.key_scope}{prefix}{next(self._keys)}"

    def new_scope(self, scope: str) -> None:
        """Name the next calls ``{scope}m1``, ``{scope}t2``... (one counter per scope)."""
        self.key_scope = scope
        self._keys = itertools.count(1)

    def _run(self, thunks: list[Callable[[], Awaitable[Any]]], max_concurrency: int | None = None) -> list:
        """Run ``thunks`` on the loop, at most the allowed number at a time,
        within the cell's time; results in input order."""
        if self.calls + len(thunks) > self.policy.max_calls:
            raise ReplLimitError("max_calls", f"{len(thunks)} more call(s) would pass max_calls "
                                              f"({self.policy.max_calls}; {self.calls} made)")
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
            raise CapabilityError("max_concurrency must be a positive integer")
        width = min(max_concurrency or self.policy.max_concurrency, self.policy.max_concurrency)
        self.calls += len(thunks)
        remaining = self.remaining_s()
        if remaining <= 0:
            raise ReplLimitError("timeout_s", f"the cell ran longer than timeout_s ({self.policy.timeout_s:g}s)")
        try:
            return self.portal.call(self._gather, thunks, width, remaining)
        except TimeoutError:
            raise ReplLimitError("timeout_s", f"the cell ran longer than timeout_s ({self.policy.timeout_s:g}s)") from None

    async def _gather(self, thunks: list[Callable[[], Awaitable[Any]]], width: int, timeout_s: float) -> list:
        results: list[Any] = [None] * len(thunks)
        errors: list[BaseException | None] = [None] * len(thunks)
        limiter = anyio.CapacityLimiter(width)

        async def one(i: int) -> None:
            async with limiter:
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                try:
                    results[i] = await thunks[i]()
                except ReplError as e:
                    errors[i] = e
                except Exception as e:  # harness errors: provider, config, budget
                    errors[i] = _as_capability_error(e)
                finally:
                    self._in_flight -= 1

        with anyio.fail_after(timeout_s):
            async with anyio.create_task_group() as tg:
                for i in range(len(thunks)):
                    tg.start_soon(one, i)
        for i, e in enumerate(errors):
            if e is not None:
                if len(thunks) > 1 and isinstance(e, ReplError):
                    e.message = f"element {i} of the batch: {e.message}"
                raise e
        return results


class ScopedEffects:
    """An :class:`~ragc.harness.types.EffectLog` that files every key of
    ``inner`` under ``prefix`` (an agent's ``m1`` becomes ``c2.a1/m1``), so
    an agent run from a cell cannot collide with the node's own calls."""

    def __init__(self, inner: Any, prefix: str):
        self.inner = inner
        self.prefix = prefix

    def get(self, key: str) -> dict | None:
        """The value recorded under ``prefix + key``, or ``None``."""
        return self.inner.get(self.prefix + key)

    async def put(self, key: str, kind: Any, value: dict) -> None:
        """Record ``value`` under ``prefix + key``."""
        await self.inner.put(self.prefix + key, kind, value)


def _as_capability_error(e: Exception) -> CapabilityError:
    from ragc.harness.errors import HarnessError

    if isinstance(e, HarnessError):
        return CapabilityError(str(e), hint=e.hint)
    return CapabilityError(f"{type(e).__name__}: {e}")


def _list(fn: str, arg: str, value: Any) -> list:
    if not isinstance(value, (list, tuple)):
        raise CapabilityError(f"{fn}: `{arg}` must be a list, got {type(value).__name__}")
    return list(value)


def _text(arg: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CapabilityError(f"`{arg}` must be a string, got {type(value).__name__}")
    return value


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)
