"""The :class:`Harness`: the one object the runtime uses to call models,
tools and agents.

Every model and tool call made through it is

* **exactly-once**: the caller names it with a ``key``; if the
  :class:`~ragc.harness.types.EffectLog` has a value for that key, it is
  returned without calling (the completed event is emitted with
  ``cached=True``); otherwise the call is made and its value is recorded with
  ``await effects.put(key, kind, value)`` before it is returned;
* **budgeted**: ``budget.before_model_call()`` / ``before_tool_call(name)``
  before a real call, ``budget.after_model_call(usage)`` after it. A value
  served from the effect log is charged with ``after_model_call`` only (its
  recorded usage, ``model_calls=1``), so a resumed run counts the calls it
  replays without being refused by a limit it was within when it made them;
* **observable**: :mod:`ragc.events` ``ModelCallStarted`` /
  ``ModelCallCompleted`` / ``ModelRetry`` / ``ModelDelta`` (streamed text) and
  ``ToolCallStarted`` / ``ToolCallCompleted`` go to ``emit``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ragc import events as ev
from ragc.harness.agent import run_agent_loop
from ragc.harness.citations import SourceLedger, guard
from ragc.harness.errors import ConfigError, ProviderError
from ragc.harness.providers import api_keys, create_provider
from ragc.harness.providers.base import Provider, ProviderContext
from ragc.harness.resilience import (
    ResilienceLayer,
    ResilienceSettings,
    ResilienceStats,
    ResilientModel,
    resilience_notices,
)
from ragc.harness.tools.sandbox import Workspace
from ragc.harness.types import (AgentResult, AgentSpec, BudgetGuard, EffectLog, EventSink, Message, ModelRequest,
                                ModelResponse, StreamDelta, ToolCall, ToolResult, ToolSpec)
from ragc.registry.model import ModelEntry, PolicyEntry, Registry

if TYPE_CHECKING:  # imported where the client is made: a run of scripted or local models never needs httpx
    import httpx

    from ragc.harness.tools.registry import ToolRegistry  # built on first use (Harness.tools)

SUMMARY_CHARS = 200
LOOPBACK_DIRECT: dict[str, None] = {"all://127.0.0.1": None, "all://localhost": None, "all://[::1]": None}
"""httpx mounts that bypass environment proxies for loopback hosts."""


def result_bytes_for(context_window: int | None) -> int:
    """Bound of one tool result in an agent loop, in bytes: an eighth of the
    context window (about 4 bytes per token), between 2 KiB and 16 KiB; 16 KiB
    when the window is unknown. A local model with ``context = 8192`` gets
    4 KiB, so a few results do not crowd out the conversation (and prompt
    processing on 2 cores stays in seconds)."""
    from ragc.harness.tools.registry import MAX_RESULT_BYTES

    if not context_window:
        return MAX_RESULT_BYTES
    return max(2048, min(MAX_RESULT_BYTES, context_window * 4 // 8))


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[: SUMMARY_CHARS - 3] + "..."


class Harness:
    """Models, tools and agents of one registry, for one run (or several).

    Args:
        registry: the loaded registry.
        workspace: root of the file and shell tools (default: the registry's
            ``[workspace] root``, relative to the current directory).
        env: environment for ``${VAR}`` substitution (default ``os.environ``).
        policy: the run's policy (default: the registry's ``default`` policy);
            supplies ``run_command`` limits and tool allow/deny lists.
        functions: Python callables usable as tools by name (and as
            ``python = "NAME"`` in ``[tools.*]``).
        settings: resilience tunables (backoff, breakers, in-flight limits).
        http: an ``httpx.AsyncClient`` to share (default: one created on
            first use and closed by :meth:`aclose`).
    """

    def __init__(self, registry: Registry, *, workspace: str | Path | None = None,
                 env: Mapping[str, str] | None = None, policy: PolicyEntry | None = None,
                 functions: Mapping[str, Callable] | None = None, settings: ResilienceSettings | None = None,
                 http: httpx.AsyncClient | None = None):
        self.registry = registry
        self.env: Mapping[str, str] = dict(os.environ) if env is None else env
        self.policy = policy if policy is not None else registry.policy("default")
        self.settings = settings or ResilienceSettings()
        root = Path(workspace) if workspace is not None else Path(registry.workspace.root)
        self.workspace = Workspace(root)
        self.functions = dict(functions or {})
        self._tools: ToolRegistry | None = None
        self._http = http
        self._own_http = http is None
        self._layer = ResilienceLayer(models=registry.models, make_provider=self._make_provider,
                                      resolve_keys=lambda name, entry: api_keys(name, entry, self.env),
                                      settings=self.settings)
        self._react_clients: dict[str, Any] = {}

    @property
    def tools(self) -> ToolRegistry:
        """The :class:`~ragc.harness.tools.registry.ToolRegistry` of the
        registry's tools, built on first use (a run that calls no tool never
        imports the tool machinery)."""
        if self._tools is None:
            from ragc.harness.tools.registry import ToolRegistry

            self._tools = ToolRegistry(self.registry, self.workspace, policy=self.policy,
                                       functions=self.functions, settings=self.settings)
        return self._tools

    # ------------------------------------------------------------------ construction

    def _http_client(self) -> httpx.AsyncClient:
        """The shared client: proxies from the environment are honoured,
        except for loopback addresses (a local llama.cpp server or Ollama is
        never reached through a proxy)."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(follow_redirects=False, mounts=LOOPBACK_DIRECT,
                                           limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return self._http

    def _local_context(self, entry: ModelEntry) -> int:
        """The context size to load a local model with: the largest
        ``context`` of all local entries sharing its source."""
        source = entry.source or "qwen2.5-coder-0.5b"
        sizes = [e.context for e in self.registry.models.values()
                 if e.provider == "local" and (e.source or "qwen2.5-coder-0.5b") == source]
        return max(sizes or [entry.context])

    def _make_provider(self, name: str, entry: ModelEntry, api_key: str | None) -> Provider:
        extra: dict[str, Any] = {}
        if entry.provider == "local":
            extra["n_ctx"] = self._local_context(entry)
        ctx = ProviderContext(base_dir=self.registry.base_dir, env=self.env,
                              http=self._http_client() if entry.provider in ("openai", "anthropic", "ollama") else None,
                              api_key=api_key, extra=extra)
        return create_provider(name, entry, ctx)

    @property
    def stats(self) -> ResilienceStats:
        """Resilience counters (attempts, retries, rotations, fallbacks...)."""
        return self._layer.stats

    def model(self, name: str) -> ResilientModel:
        """The resilient client of registry model ``name`` (cached).

        Raises:
            ConfigError: no such model. (An unset ``${VAR}`` or a missing
                local model is reported at the first call.)
        """
        return self._layer.client(name)

    def _client_for(self, name: str, tool_protocol: str | None) -> Any:
        client = self.model(name)
        entry = self._layer.entry(name)
        if tool_protocol == "react" and entry.tool_protocol != "react":
            wrapped = self._react_clients.get(name)
            if wrapped is None:
                from ragc.harness.providers.react import ReactProvider

                wrapped = self._react_clients[name] = ReactProvider(client)
            return wrapped
        return client

    def agent_spec(self, name: str) -> AgentSpec:
        """The :class:`AgentSpec` of ``[agents.NAME]`` (``system_file`` is
        read relative to the registry).

        Raises:
            ConfigError: no such agent, or its ``system_file`` cannot be read.
        """
        entry = self.registry.agents.get(name)
        if entry is None:
            known = ", ".join(sorted(self.registry.agents)) or "none"
            raise ConfigError(f"unknown agent `{name}`", hint=f"add [agents.{name}] to registry.toml (known: {known})")
        system = entry.system
        if entry.system_file:
            from ragc.registry.files import ReferencedFileError, describe, read_referenced_text

            path = self.registry.resolve_path(entry.system_file)
            try:
                system = read_referenced_text(path)  # regular files only, bounded: never a FIFO or a device
            except ReferencedFileError as exc:
                raise ConfigError(f"agent `{name}`: system_file {describe(path)} {exc.reason}") from None
        return AgentSpec(name=name, model=entry.model, system=system, tools=list(entry.tools),
                         max_iterations=entry.max_iterations, params=dict(entry.params), citations=entry.citations,
                         memory=list(entry.memory), skills=list(entry.skills))

    def restore(self, responses: Sequence[ModelResponse]) -> None:
        """Give the journaled model replies of a resumed run to the providers
        that keep state between calls (the ``scripted`` provider's used lines,
        :meth:`ragc.harness.providers.scripted.ScriptedProvider.restore`), so
        the run continues as if it had never stopped. Other providers are
        stateless and not touched (nor built)."""
        by_model: dict[str, list[ModelResponse]] = {}
        for r in responses:
            by_model.setdefault(r.model, []).append(r)
        for name, replies in by_model.items():
            entry = self.registry.models.get(name)
            if entry is None or entry.provider != "scripted":
                continue
            for provider in self._layer.pool(name).providers():
                restore = getattr(provider, "restore", None)
                if restore is not None:
                    restore(replies)

    def tool_specs(self, names: Sequence[str]) -> list[ToolSpec]:
        """The specs of tools ``names``, in order.

        Raises:
            ConfigError: an unknown tool, or one the policy forbids.
        """
        return self.tools.specs(names)

    # ------------------------------------------------------------------ calls

    async def complete(self, model: str, request: ModelRequest, *, effects: EffectLog, key: str,
                       budget: BudgetGuard, emit: EventSink | None = None, node: str | None = None,
                       activation: str | None = None, run_id: str = "") -> ModelResponse:
        """One model call, exactly once under ``key`` (see the module doc).

        Raises:
            ProviderError: the model and its fallbacks failed.
            BudgetExceeded: from the budget guard.
            ConfigError: unknown model, unset ``${VAR}``.
        """
        return await self._complete(self.model(model), model, request, effects=effects, key=key, budget=budget,
                                    emit=emit, node=node, activation=activation, run_id=run_id)

    async def _complete(self, client: Any, model: str, request: ModelRequest, *, effects: EffectLog, key: str,
                        budget: BudgetGuard, emit: EventSink | None, node: str | None, activation: str | None,
                        run_id: str) -> ModelResponse:
        recorded = effects.get(key)
        if recorded is not None:
            response = ModelResponse.model_validate(recorded)
            budget.after_model_call(response.usage)
            if emit is not None:
                emit(ev.ModelCallCompleted(run_id=run_id, ts=time.time(), node=node, activation=activation,
                                           model=response.model, call=key, input_tokens=response.usage.input_tokens,
                                           output_tokens=response.usage.output_tokens,
                                           cost_usd=response.usage.cost_usd, duration_s=0.0, cached=True))
            return response
        budget.before_model_call()
        on_delta = None
        on_retry = None
        if emit is not None:
            emit(ev.ModelCallStarted(run_id=run_id, ts=time.time(), node=node, activation=activation, model=model,
                                     call=key))

            def on_delta(delta: StreamDelta) -> None:
                if delta.text:
                    emit(ev.ModelDelta(run_id=run_id, ts=time.time(), node=node, activation=activation,
                                       text=delta.text))

            def on_retry(attempt: int, delay_s: float, error: ProviderError, model_name: str) -> None:
                emit(ev.ModelRetry(run_id=run_id, ts=time.time(), model=model_name, attempt=attempt, delay_s=delay_s,
                                   error=str(error), error_kind=error.kind))

        started = time.monotonic()
        with resilience_notices(_notices(emit, run_id, node, activation)):
            response = await client.complete(request, on_delta=on_delta, on_retry=on_retry)
        await effects.put(key, "model", response.model_dump(mode="json"))
        budget.after_model_call(response.usage)
        if emit is not None:
            emit(ev.ModelCallCompleted(run_id=run_id, ts=time.time(), node=node, activation=activation,
                                       model=response.model, call=key, input_tokens=response.usage.input_tokens,
                                       output_tokens=response.usage.output_tokens, cost_usd=response.usage.cost_usd,
                                       duration_s=time.monotonic() - started))
        return response

    async def call_tool(self, name: str, arguments: dict, *, effects: EffectLog, key: str, budget: BudgetGuard,
                        emit: EventSink | None = None, node: str | None = None, activation: str | None = None,
                        run_id: str = "", raw_arguments: str | None = None,
                        allowed: Sequence[str] | None = None, max_result_bytes: int | None = None,
                        sources: SourceLedger | None = None, extra: Mapping[str, Any] | None = None) -> ToolResult:
        """One tool call, exactly once under ``key``.

        A failed call (unknown tool, invalid arguments, sandbox violation,
        timeout, exception) returns ``ToolResult(is_error=True)``.

        Args:
            raw_arguments: the model's argument text when it was not a JSON object.
            allowed: the tools the caller granted (``None``: any registry tool).
            max_result_bytes: bound of the text the model sees (default 16 KiB).
            sources: the run's ledger; the result's ``sources`` (a replayed
                result's too) are added to it.
            extra: the caller's own tools (an agent's memory tools); while
                one runs, :data:`ragc.memory.agent.CALL_ORIGIN` holds
                ``run_id/activation/key``, the identity a memory save is
                deduplicated by on resume.

        Raises:
            BudgetExceeded: from the budget guard.
            ConfigError: the registry entry of ``name`` is broken (e.g. a
                Python tool that cannot be imported).
        """
        recorded = effects.get(key)
        if recorded is not None:
            result = ToolResult.model_validate(recorded)
            if sources is not None and not result.is_error:
                sources.add(result.sources)
            if emit is not None:
                emit(ev.ToolCallCompleted(run_id=run_id, ts=time.time(), node=node, activation=activation, tool=name,
                                          call=key, is_error=result.is_error, duration_s=0.0,
                                          summary=_summary(result.content), cached=True))
            return result
        budget.before_tool_call(name)
        if emit is not None:
            emit(ev.ToolCallStarted(run_id=run_id, ts=time.time(), node=node, activation=activation, tool=name,
                                    call=key, arguments=dict(arguments or {})))
        started = time.monotonic()
        token = None
        if extra and name in extra:
            from ragc.memory.agent import CALL_ORIGIN

            token = CALL_ORIGIN.set(f"{run_id}/{activation or node or ''}/{key}")
        try:
            with resilience_notices(_notices(emit, run_id, node, activation)):
                result = await self.tools.call(name, arguments, raw_arguments=raw_arguments, allowed=allowed,
                                               max_bytes=max_result_bytes, extra=extra)
        finally:
            if token is not None:
                from ragc.memory.agent import CALL_ORIGIN

                CALL_ORIGIN.reset(token)
        # `sources` only when there are some: records of other tools stay as they were
        await effects.put(key, "tool", result.model_dump(mode="json", exclude=None if result.sources else {"sources"}))
        if sources is not None and not result.is_error:
            sources.add(result.sources)
        if emit is not None:
            emit(ev.ToolCallCompleted(run_id=run_id, ts=time.time(), node=node, activation=activation, tool=name,
                                      call=key, is_error=result.is_error, duration_s=time.monotonic() - started,
                                      summary=_summary(result.content)))
        return result

    def _context_window(self, model: str) -> int | None:
        entry = self._layer.entry(model)
        if entry.context_window:
            return entry.context_window
        if entry.provider == "local":
            return entry.context
        return None

    async def run_agent(self, spec: AgentSpec, messages: list[Message], *, effects: EffectLog, budget: BudgetGuard,
                        emit: EventSink | None = None, node: str | None = None, activation: str | None = None,
                        run_id: str = "", sources: SourceLedger | None = None) -> AgentResult:
        """Run the agent loop of ``spec`` on ``messages`` (see
        :mod:`ragc.harness.agent`). Model calls are keyed ``m1, m2, ...``,
        tool calls ``t<model call>.<n>``; the ``spec.prefetch`` calls, made
        first, ``p1, p2, ...``, their results appended to the last message.
        With ``spec.citations`` other than ``off`` the final text goes through
        the citation guard (:func:`ragc.harness.citations.guard`) against
        ``sources`` (a fresh ledger of this loop's own tool results when
        ``None``).

        Raises:
            BudgetExceeded: a budget limit was hit.
            ProviderError: the model failed after retries and fallbacks.
            ConfigError: unknown model or tool.
        """
        client = self._client_for(spec.model, spec.tool_protocol)
        spec, messages, own = self._extend(spec, messages)
        await self.tools.prepare([n for n in spec.tools if n not in own])
        tools = [own[n].spec if n in own else spec_ for n, spec_ in
                 zip(spec.tools, self._specs_or_none(spec.tools, own))]
        window = self._context_window(spec.model)
        result_limit = result_bytes_for(window)
        signal_tools = frozenset(n for n in spec.tools
                                 if n not in own and self.tools.get(n).kind == "builtin:signal_completion")

        async def complete(request: ModelRequest, key: str) -> ModelResponse:
            return await self._complete(client, spec.model, request, effects=effects, key=key, budget=budget,
                                        emit=emit, node=node, activation=activation, run_id=run_id)

        ledger = sources if sources is not None else SourceLedger()

        async def call_tool(call: ToolCall, key: str, allowed: Sequence[str] | None = spec.tools) -> ToolResult:
            return await self.call_tool(call.name, call.arguments, effects=effects, key=key, budget=budget, emit=emit,
                                        node=node, activation=activation, run_id=run_id,
                                        raw_arguments=call.raw_arguments, allowed=allowed,
                                        max_result_bytes=result_limit, sources=ledger, extra=own)

        if spec.prefetch:
            messages = await self._prefetch(spec, messages, call_tool)
        result = await run_agent_loop(spec, messages, tools=tools, complete=complete, call_tool=call_tool,
                                      context_window=window, signal_tools=signal_tools)
        if spec.citations != "off" and result.text and result.structured is None:
            checked = guard(result.text, ledger, spec.citations)
            if checked.unverified and emit is not None:
                emit(ev.Warning(run_id=run_id, ts=time.time(), node=node,
                                message=f"citation guard: {len(checked.unverified)} cited path(s) no tool of this run "
                                        f"returned: {', '.join(checked.unverified)}"))
            result = result.model_copy(update={"text": checked.text})
        return result

    def _specs_or_none(self, names: Sequence[str], own: Mapping[str, Any]) -> list[ToolSpec | None]:
        registry_specs = iter(self.tool_specs([n for n in names if n not in own]))
        return [None if n in own else next(registry_specs) for n in names]

    def _extend(self, spec: AgentSpec, messages: list[Message]) -> tuple[AgentSpec, list[Message], dict[str, Any]]:
        """``spec`` with its skills (instructions appended to the system
        prompt under ``# Skill: NAME``, tools added) and its memory (the
        memory tools added), ``messages`` with the recalled ``# Memory``
        section appended to the last one (where a small model reads it, like
        prefetched results), and the agent's own tools by name
        (:mod:`ragc.memory.agent`).

        Raises:
            ConfigError: an unknown skill or memory store, or a store that
                cannot be opened.
        """
        if not spec.skills and not spec.memory:
            return spec, messages, {}
        from ragc.harness.agent import DEFAULT_SYSTEM_PROMPT

        system = spec.system or DEFAULT_SYSTEM_PROMPT
        tools = list(spec.tools)
        for name in spec.skills:
            skill = self.registry.skills.get(name)
            if skill is None:
                known = ", ".join(sorted(self.registry.skills)) or "none"
                raise ConfigError(f"agent `{spec.name}`: unknown skill `{name}`", hint=f"known skills: {known}")
            system += f"\n\n# Skill: {name}\n{skill.description}" + (f"\n\n{skill.instructions}"
                                                                       if skill.instructions else "")
            tools += [t for t in skill.tools if t not in tools
                      and (spec.skill_tools_allow is None or t in spec.skill_tools_allow)]
        own: dict[str, Any] = {}
        if spec.memory:
            import sqlite3

            from ragc.memory.agent import AgentMemory
            from ragc.memory.search import EmbeddingUnavailable

            for name in spec.memory:
                entry = self.registry.stores.get(name)
                if entry is None or not entry.is_memory:
                    raise ConfigError(f"agent `{spec.name}`: `{name}` is not a memory store",
                                      hint='add [stores.NAME] kind = "episodic" (or semantic, working, memory_files)')
            try:
                memory = AgentMemory(spec.name, spec.memory, self.registry)
            except (sqlite3.Error, EmbeddingUnavailable, OSError) as exc:
                raise ConfigError(f"agent `{spec.name}`: its memory cannot be opened: {exc}") from None
            task = next((m.content for m in messages if m.role == "user"), "")
            block = memory.recall_block(task)
            if block:
                messages = [m.model_copy() for m in messages] or [Message(role="user", content="")]
                last = messages[-1]
                messages[-1] = last.model_copy(update={"content": (last.content or "") + "\n\n" + block})
            own = memory.tools()
            tools += [t for t in own if t not in tools]
        return spec.model_copy(update={"system": system, "tools": tools}), messages, own

    async def _prefetch(self, spec: AgentSpec, messages: list[Message], call_tool: Any) -> list[Message]:
        """Make ``spec.prefetch`` calls (keys ``p1``, ``p2``...) and append
        their results to the last message, each under a line naming the
        call. A failed call is appended as its error (the model sees it)."""
        parts: list[str] = []
        for i, call in enumerate(spec.prefetch, start=1):
            # a prefetch tool is granted by the agent's registry entry (the policy still applies)
            res = await call_tool(call, f"p{i}", allowed=[call.name])
            args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
            parts.append(f"Result of {call.name}({args}):\n{res.content}")
        out = [m.model_copy() for m in messages]
        if out:
            last = out[-1]
            out[-1] = last.model_copy(update={"content": (last.content or "") + "\n\n" + "\n\n".join(parts)})
        else:
            out.append(Message(role="user", content="\n\n".join(parts)))
        return out

    async def aclose(self) -> None:
        """Close providers and the HTTP client this harness created. The
        embedded local model stays loaded for other harnesses in the process
        (:func:`ragc.harness.providers.local.unload_all` frees it)."""
        if self._tools is not None:
            await self._tools.aclose()
        await self._layer.aclose()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> "Harness":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _notices(emit: EventSink | None, run_id: str, node: str | None, activation: str | None) -> Any:
    """The :func:`~ragc.harness.resilience.resilience_notices` sink of one
    call: ``BreakerOpened`` / ``BackpressureWait`` events (``None`` without
    an event sink)."""
    if emit is None:
        return None

    def notice(what: str, scope: str, target: str, value: float) -> None:
        if what == "breaker_opened":
            emit(ev.BreakerOpened(run_id=run_id, ts=time.time(), scope=scope, target=target, recovery_s=value,
                                  node=node, activation=activation))
        elif what == "backpressure_wait":
            emit(ev.BackpressureWait(run_id=run_id, ts=time.time(), scope=scope, target=target, waited_s=value,
                                     node=node, activation=activation))

    return notice
