"""The agent loop: model → tool calls → results → model, until done.

:func:`run_agent_loop` is provider- and runtime-neutral: it receives two
callables from the :class:`~ragc.harness.Harness` that perform one model call
and one tool call *by key* (``m1, m2, ...`` for model calls, ``t1.1, t1.2,
...`` for the tool calls requested by model call 1). The harness serves a key
from the effect log when it was recorded, charges the budget and emits
events, so a replayed loop repeats no call.

The loop stops at:

* a final answer (a reply without tool calls) → ``stop_reason="final"``;
* ``max_iterations`` model calls → ``"max_iterations"`` (the tool calls of
  the last reply are still run, so their effects happen and their results
  are in the transcript, but no model call follows);
* a ``signal_completion`` call → ``"signal_completion"`` (the other calls of
  that reply still run; :attr:`AgentResult.signal` holds the signal);
* the same set of (tool, arguments) requested ``repeat_limit`` times in a
  row → ``"loop_detected"``. A repeat is never run again: the model gets an
  error result saying the answer is already above; at the limit the loop
  stops and, if ``max_iterations`` allows, makes one last call without tools
  asking for the final answer (small models otherwise end with no text);
* a budget limit → :class:`~ragc.harness.errors.BudgetExceeded` propagates.

Tool calls of one reply run concurrently (anyio task group); their results
are appended in call order (each bounded by the harness to an eighth of the
model's context window, 2-16 KiB). The history stays bounded: before a call whose
estimated prompt exceeds 90 % of the context window, and after a
``context_overflow`` error (up to 3 times per call), older turns are
compacted (:mod:`ragc.harness.history`) and the call is retried under the
same key.

Two agent ``params`` are read by the loop and never sent to the model
(:data:`LOOP_PARAMS`): ``tool_plan``, the ``tool_choice`` of the first model
calls (:func:`tool_plan`), and ``tool_args``, JSON-schema keywords that
narrow the tools' arguments as this agent's model sees them
(:func:`narrow_tools`). Both exist for small local models, whose provider
enforces them by grammar (``docs/providers.md``, "Small local models"). A
repeat of a call that failed is answered with that error again
(:data:`REPEAT_FAILED_NOTE`).

When ``spec.route_labels`` and/or ``spec.response_schema`` are set, one more
model call (not counted in ``max_iterations``) asks for structured output:
``{"route": <label>}`` merged with the response schema. An invalid reply is
answered with the problem and asked once more.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable, Sequence

import anyio

from ragc.harness.errors import ConfigError, ProviderError
from ragc.harness.history import compact, estimate_tokens
from ragc.harness.types import (AgentResult, AgentSpec, Message, ModelRequest, ModelResponse, ToolCall, ToolResult,
                                ToolSpec, Usage)

DEFAULT_SYSTEM_PROMPT = (
    "You complete the user's task. Call a tool when you need information or an action you cannot do "
    "yourself, one call at a time, and read its result before the next step. Use only names, paths and facts "
    "that appear in the task or in tool results; never invent them. As soon as you can, stop calling tools "
    "and reply with the final answer in a few plain sentences.")
"""The system prompt of an agent that has none. Written for small models:
short, one call at a time, no invented paths, stop early."""

REPEAT_NOTE = ("You already called {tool} with exactly these arguments; its result is in the messages above. "
               "Do not call it again: use that result to answer, or call a different tool.")
REPEAT_FAILED_NOTE = ("You already called {tool} with exactly these arguments and it failed: {error} Do not call it "
                      "again like this: change the arguments (take them from earlier tool results), call a different "
                      "tool, or answer with what you have.")
"""The note for a repeat of a call that failed (a small model otherwise retries it unchanged until the
loop is stopped as stuck)."""
ANSWER_NOW = "Stop calling tools. Using the tool results above, give your final answer now."

MAX_OVERFLOW_RETRIES = 3
COMPACT_RATIO = 0.9
STRUCTURED_ATTEMPTS = 2

CompleteFn = Callable[[ModelRequest, str], Awaitable[ModelResponse]]
"""``await complete(request, key)``: one model call under effect key ``key``."""

ToolFn = Callable[[ToolCall, str], Awaitable[ToolResult]]
"""``await call_tool(call, key)``: one tool call under effect key ``key``; never raises for tool failures."""


def initial_history(spec: AgentSpec, messages: Sequence[Message]) -> list[Message]:
    """The conversation the loop starts from: ``messages`` with the agent's
    system prompt (or :data:`DEFAULT_SYSTEM_PROMPT`) in front unless they
    already start with a system message."""
    history = [m.model_copy() for m in messages]
    if not any(m.role == "system" for m in history):
        history.insert(0, Message(role="system", content=spec.system or DEFAULT_SYSTEM_PROMPT))
    return history


LOOP_PARAMS = ("tool_plan", "tool_args")
"""Agent ``params`` read by the loop itself, never sent to the model."""

PLAN_CHOICES = ("auto", "none", "required")


def request_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Split agent ``params`` into :class:`ModelRequest` fields
    (``max_tokens``, ``temperature``, ``stop``) and pass-through ``params``
    (without the loop's own :data:`LOOP_PARAMS`)."""
    rest = {k: v for k, v in params.items() if k not in LOOP_PARAMS}
    fields: dict[str, Any] = {}
    for key in ("max_tokens", "temperature", "stop"):
        if key in rest:
            fields[key] = rest.pop(key)
    fields["params"] = rest
    return fields


def tool_plan(params: dict[str, Any], tools: Sequence[ToolSpec]) -> list[str]:
    """The ``tool_choice`` of the first model calls, from the agent param
    ``tool_plan``: item ``i`` applies to model call ``i + 1`` and is a tool
    name (that call must call that tool), ``"required"`` (some tool),
    ``"none"`` (answer without tools) or ``"auto"`` (the model decides);
    calls after the plan are ``"auto"``. A name the agent does not have
    counts as ``"required"``; an agent without tools gets no plan.

    A small model told "first search, then read the file, then answer"
    often answers from its own knowledge at once, or keeps calling tools
    until ``max_iterations`` and never answers; a plan such as
    ``["search", "read_file", "none"]`` leaves it only the arguments and
    the answer to write (the provider constrains each reply, e.g. by
    grammar).

    Raises:
        ConfigError: ``tool_plan`` is not a list of strings.
    """
    plan = params.get("tool_plan") or []
    if isinstance(plan, str):
        plan = [plan]
    if not isinstance(plan, (list, tuple)) or not all(isinstance(x, str) for x in plan):
        raise ConfigError(f"agent param `tool_plan` must be a list of tool names or auto/none/required, "
                          f"not {plan!r}", hint='e.g. params = { tool_plan = ["search", "read_file", "none"] }')
    names = {t.name for t in tools}
    if not names:
        return []
    return [x if x in names or x in PLAN_CHOICES else "required" for x in plan]


def narrow_tools(tools: Sequence[ToolSpec], params: dict[str, Any]) -> list[ToolSpec]:
    """The tools as this agent's model sees them: the agent param
    ``tool_args`` (``{tool: {argument: {JSON-schema keywords}}}``) is merged
    into the arguments' schemas, e.g. ``{read_file: {path: {pattern:
    "^[A-Za-z0-9_./-]+$"}}}``.

    Providers send the narrowed schema to the model; the local model's
    grammar enforces it while decoding (a 0.5B model otherwise copies a whole
    ``path:line: text`` search hit as the path). The tool itself still
    validates against its own, wider schema.

    Raises:
        ConfigError: ``tool_args`` is not a table of tables, names an
            argument the tool does not have, or has a ``pattern`` that is not
            a regular expression.
    """
    narrowing = params.get("tool_args") or {}
    if not isinstance(narrowing, dict):
        raise ConfigError(f"agent param `tool_args` must be a table {{tool: {{argument: {{...}}}}}}, not {narrowing!r}")
    out = []
    for tool in tools:
        extra = narrowing.get(tool.name)
        if not extra:
            out.append(tool)
            continue
        schema = json.loads(json.dumps(tool.parameters))
        props = schema.setdefault("properties", {})
        for arg, keywords in extra.items():
            if arg not in props or not isinstance(keywords, dict):
                raise ConfigError(f"agent param `tool_args`: `{tool.name}` has no argument `{arg}`, or its value is "
                                  f"not a table", hint=f"arguments of `{tool.name}`: {', '.join(props) or 'none'}")
            pattern = keywords.get("pattern")
            if pattern is not None:
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as exc:
                    raise ConfigError(f"agent param `tool_args`: the pattern of `{tool.name}.{arg}` is not a "
                                      f"regular expression: {exc}") from None
            props[arg] = {**props[arg], **keywords}
        out.append(tool.model_copy(update={"parameters": schema}))
    return out


def structured_schema(route_labels: Sequence[str] | None, response_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON schema of the final structured call: ``{"route": enum}``
    merged into ``response_schema`` (an object schema's properties are
    extended; any other schema is put under ``result``)."""
    if not route_labels:
        assert response_schema is not None
        return response_schema
    route = {"type": "string", "enum": list(route_labels)}
    if response_schema is None:
        return {"type": "object", "properties": {"route": route}, "required": ["route"]}
    if response_schema.get("type") == "object" and isinstance(response_schema.get("properties"), dict):
        merged = dict(response_schema)
        merged["properties"] = {**response_schema["properties"], "route": route}
        merged["required"] = [*response_schema.get("required", []), "route"]
        return merged
    return {"type": "object", "properties": {"result": response_schema, "route": route},
            "required": ["result", "route"]}


def _signature(calls: Sequence[ToolCall]) -> str:
    return json.dumps([[c.name, c.arguments, c.raw_arguments] for c in calls], sort_keys=True)


def _repeat_note(tool: str, previous: ToolResult | None) -> ToolResult:
    """The error result that stands in for a repeated call: where the first
    result is, or, when the first call failed, its error again."""
    if previous is not None and previous.is_error:
        return ToolResult(content=REPEAT_FAILED_NOTE.format(tool=tool, error=previous.content[:300]), is_error=True)
    return ToolResult(content=REPEAT_NOTE.format(tool=tool), is_error=True)


def _unwrap(group: BaseExceptionGroup) -> BaseException:
    """The first leaf exception of an exception group (tool tasks raise only
    harness-level errors such as BudgetExceeded or cancellation)."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _last_text(history: Sequence[Message]) -> str:
    for m in reversed(history):
        if m.role == "assistant" and m.content.strip():
            return m.content
    return ""


class _Loop:
    def __init__(self, spec: AgentSpec, tools: list[ToolSpec], complete: CompleteFn, call_tool: ToolFn,
                 context_window: int | None, signal_tools: frozenset[str]):
        self.spec = spec
        self.tools = tools
        self._complete = complete
        self._call_tool = call_tool
        self.context_window = context_window
        self.signal_tools = signal_tools
        self.usage = Usage()
        self.model_calls = 0

    async def model_call(self, history: list[Message], request: ModelRequest, key: str) -> tuple[list[Message], ModelResponse]:
        """One model call with proactive and reactive compaction; returns
        the (possibly compacted) history and the response."""
        if self.context_window:
            budget = int(self.context_window * COMPACT_RATIO)
            for _ in range(MAX_OVERFLOW_RETRIES):
                if estimate_tokens(request.messages, request.tools) <= budget:
                    break
                shorter = compact(request.messages)
                if shorter is None:
                    break
                history, request = self._replace(history, request, shorter)
        overflows = 0
        while True:
            try:
                response = await self._complete(request, key)
                break
            except ProviderError as exc:
                if exc.kind != "context_overflow" or overflows >= MAX_OVERFLOW_RETRIES:
                    raise
                shorter = compact(request.messages)
                if shorter is None:
                    raise
                overflows += 1
                history, request = self._replace(history, request, shorter)
        self.model_calls += 1
        self.usage = self.usage + response.usage
        return history, response

    @staticmethod
    def _replace(history: list[Message], request: ModelRequest, shorter: list[Message]) -> tuple[list[Message], ModelRequest]:
        # request.messages is history (+ possibly a trailing instruction); keep the tail beyond history
        extra = request.messages[len(history):] if request.messages[: len(history)] == history else []
        new_history = shorter[: len(shorter) - len(extra)] if extra else shorter
        return new_history, request.model_copy(update={"messages": shorter})

    async def run_tools(self, calls: list[ToolCall], iteration: int) -> list[ToolResult]:
        """Run one reply's calls concurrently (keys ``t<iteration>.<n>``);
        results in call order."""
        results: list[ToolResult | None] = [None] * len(calls)

        async def one(i: int, call: ToolCall) -> None:
            results[i] = await self._call_tool(call, f"t{iteration}.{i + 1}")

        if len(calls) == 1:
            await one(0, calls[0])
        else:
            try:
                async with anyio.create_task_group() as tg:
                    for i, call in enumerate(calls):
                        tg.start_soon(one, i, call)
            except BaseExceptionGroup as group:
                raise _unwrap(group) from None
        self.usage = self.usage + Usage(tool_calls=len(calls))
        return [r for r in results if r is not None]

    async def structured(self, history: list[Message], iteration: int) -> tuple[Any, str | None]:
        """The final structured call(s): (value, route label)."""
        spec = self.spec
        schema = structured_schema(spec.route_labels, spec.response_schema)
        if spec.route_labels and spec.response_schema is None:
            ask = ("Choose how to continue. Reply with JSON only: {\"route\": \"<label>\"} where <label> is one of: "
                   + ", ".join(spec.route_labels) + ".")
        else:
            ask = "Give your final answer as JSON only, matching this schema: " + json.dumps(schema)
        messages = [*history, Message(role="user", content=ask)]
        fields = request_fields(spec.params)
        problem = ""
        for attempt in range(STRUCTURED_ATTEMPTS):
            request = ModelRequest(messages=messages, tools=self.tools, response_schema=schema, tool_choice="none",
                                   **fields)
            _, response = await self.model_call(history, request, f"m{iteration + 1 + attempt}")
            value = response.structured
            if value is None:
                try:
                    value = json.loads(response.message.content)
                except (json.JSONDecodeError, TypeError):
                    value = None
            problem = _check_structured(value, spec.route_labels)
            if not problem:
                route = value.get("route") if spec.route_labels else None
                return value, route
            messages = [*messages, response.message,
                        Message(role="user", content=f"That reply is not valid: {problem}. {ask}")]
        raise ProviderError(f"agent `{spec.name}`: the model gave no valid structured answer ({problem})",
                            kind="malformed", model=spec.model,
                            hint="use a stronger model, or fewer / clearer route labels")

    async def run(self, messages: Sequence[Message]) -> AgentResult:
        """The loop itself (see the module doc)."""
        spec = self.spec
        history = initial_history(spec, messages)
        fields = request_fields(spec.params)
        self.tools = narrow_tools(self.tools, spec.params)
        plan = tool_plan(spec.params, self.tools)
        stop = "max_iterations"
        signal: dict[str, Any] | None = None
        text = ""
        last_sig: str | None = None
        last_results: list[ToolResult] = []
        repeats = 0
        iteration = 0
        while iteration < spec.max_iterations:
            iteration += 1
            choice = plan[iteration - 1] if iteration <= len(plan) else "auto"
            request = ModelRequest(messages=history, tools=self.tools, tool_choice=choice, **fields)
            history, response = await self.model_call(history, request, f"m{iteration}")
            reply = response.message.model_copy(update={"role": "assistant", "name": spec.name})
            history = [*history, reply]
            if not reply.tool_calls:
                stop, text = "final", reply.content
                break
            sig = _signature(reply.tool_calls)
            repeats = repeats + 1 if sig == last_sig else 1
            last_sig = sig
            if repeats >= spec.repeat_limit:
                stop = "loop_detected"
                break
            if repeats >= 2:
                # the same action again: do not repeat it, tell the model where its result is
                results = [_repeat_note(c.name, previous) for c, previous in zip(reply.tool_calls, last_results)]
            else:
                results = await self.run_tools(reply.tool_calls, iteration)
                last_results = results
            for call, result in zip(reply.tool_calls, results):
                history.append(Message(role="tool", tool_call_id=call.id, name=call.name, content=result.content,
                                       is_error=result.is_error))
                if (call.name in self.signal_tools and not result.is_error and isinstance(result.value, dict)
                        and signal is None):
                    signal = result.value
            if signal is not None:
                stop = "signal_completion"
                text = str(signal.get("message") or signal.get("reason") or reply.content or "")
                break
        if stop == "loop_detected" and iteration < spec.max_iterations:
            # one last call without tools, so a stuck model still answers from what it has
            iteration += 1
            request = ModelRequest(messages=[*history, Message(role="user", content=ANSWER_NOW)], tools=self.tools,
                                   tool_choice="none", **fields)
            _, response = await self.model_call(history, request, f"m{iteration}")
            text = response.message.content
            history = [*history, response.message.model_copy(update={"role": "assistant", "name": spec.name,
                                                                      "tool_calls": []})]
        if stop in ("max_iterations", "loop_detected") and not text.strip():
            text = _last_text(history)
        structured: Any = None
        route: str | None = None
        if spec.route_labels or spec.response_schema is not None:
            structured, route = await self.structured(history, self.model_calls)
            if spec.response_schema is not None and stop == "final" and not text:
                text = json.dumps(structured, ensure_ascii=False)
        return AgentResult(text=text, structured=structured, route=route, messages=history, usage=self.usage,
                           iterations=self.model_calls, stop_reason=stop, signal=signal)


def _check_structured(value: Any, route_labels: Sequence[str] | None) -> str:
    if not isinstance(value, dict):
        return "expected a JSON object"
    if route_labels:
        route = value.get("route")
        if route not in route_labels:
            return f"`route` must be one of {', '.join(route_labels)}, not {route!r}"
    return ""


async def run_agent_loop(spec: AgentSpec, messages: Sequence[Message], *, tools: list[ToolSpec], complete: CompleteFn,
                         call_tool: ToolFn, context_window: int | None = None,
                         signal_tools: frozenset[str] = frozenset({"signal_completion"})) -> AgentResult:
    """Run ``spec`` on ``messages`` (see the module doc).

    Args:
        spec: model, system prompt, tools, limits.
        messages: the conversation so far (usually one user message).
        tools: the specs of ``spec.tools`` as the model sees them.
        complete: performs model call ``key`` (effects, budget, events).
        call_tool: performs tool call ``key``.
        context_window: tokens; enables proactive compaction.
        signal_tools: names of tools that are ``signal_completion``.

    Raises:
        BudgetExceeded: a budget limit was hit.
        ProviderError: the model failed (after retries and fallbacks).
    """
    loop = _Loop(spec, tools, complete, call_tool, context_window, signal_tools)
    return await loop.run(messages)
