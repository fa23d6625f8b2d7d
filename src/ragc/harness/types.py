"""Provider-neutral types of the harness: messages, tool specs, requests,
responses, usage, and the hooks the runtime gives the agent loop.

Every provider translates :class:`ModelRequest` into its wire format and its
reply back into :class:`ModelResponse`; the runtime and the agent loop only
see these types. Messages are pydantic models so they serialize into the run
journal and into ``messages`` channels (as plain dicts) without loss.
"""

from __future__ import annotations

import uuid
from typing import Any, Awaitable, Callable, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


def new_id(prefix: str = "msg") -> str:
    """A fresh random id such as ``msg_1f2e...`` (message and call ids)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class ToolCall(BaseModel):
    """A tool call requested by the model. ``arguments`` is the parsed JSON
    object; when the model sent something that is not a JSON object,
    ``arguments`` is ``{}`` and ``raw_arguments`` keeps the text so the
    agent loop can answer with a validation error."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("call"))
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None


class Message(BaseModel):
    """One chat message.

    * ``system`` / ``user``: ``content`` text.
    * ``assistant``: ``content`` text (may be empty) and ``tool_calls``.
    * ``tool``: the result of the call ``tool_call_id`` of tool ``name``;
      ``is_error`` marks a failed call (providers map it to their error
      flag, e.g. Anthropic's ``is_error``).

    ``id`` identifies the message in a ``messages`` channel (the reducer
    merges by id); ``name`` on an assistant message is the node or agent that
    wrote it.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    id: str = Field(default_factory=new_id)


class ToolSpec(BaseModel):
    """A tool as a model sees it: name, description and a JSON schema
    (object) of its arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Usage(BaseModel):
    """Token counts and cost of one call (or a sum of calls). ``cost_usd``
    comes from the registry ``price`` of the model that answered."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0
    tool_calls: int = 0

    @property
    def total_tokens(self) -> int:
        """``input_tokens + output_tokens``."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            model_calls=self.model_calls + other.model_calls,
            tool_calls=self.tool_calls + other.tool_calls,
        )


ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``, ``none``, ``required``, or a tool name (force that tool)."""


class ModelRequest(BaseModel):
    """One chat request.

    ``response_schema`` asks for structured output: a JSON schema (object)
    the reply must satisfy; the provider uses its native mechanism (OpenAI
    ``response_format: json_schema``, Anthropic a forced tool, Ollama
    ``format``, llama.cpp a grammar) and :attr:`ModelResponse.structured`
    holds the parsed object. ``timeout_s`` overrides the registry timeout.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    response_schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = None


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


class ModelResponse(BaseModel):
    """A reply: the assistant ``message`` (text and/or tool calls),
    ``usage``, the registry name of the model that actually answered
    (``model``; differs from the requested one after a fallback), the
    provider's model id, and ``structured`` (parsed JSON when a
    ``response_schema`` was given)."""

    model_config = ConfigDict(extra="forbid")

    message: Message
    usage: Usage = Field(default_factory=Usage)
    model: str
    provider_model: str | None = None
    finish_reason: FinishReason = "stop"
    structured: Any = None


class StreamDelta(BaseModel):
    """A streamed fragment: text, or a piece of tool call ``index``
    (``name`` on its first fragment, then ``arguments`` text)."""

    text: str = ""
    tool_index: int | None = None
    tool_name: str | None = None
    tool_arguments: str = ""


DeltaCallback = Callable[[StreamDelta], None]


@runtime_checkable
class ModelClient(Protocol):
    """What the runtime and agent loop call. ``name`` is the registry name."""

    name: str

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """Send one request; raises :class:`ragc.harness.errors.ProviderError`."""
        ...

    async def aclose(self) -> None:
        """Release what the client holds (the harness owns shared providers)."""
        ...


class ToolResult(BaseModel):
    """The outcome of one tool call: ``content`` is what the model sees (text,
    bounded), ``value`` the JSON value written to state by a ``tool`` node,
    ``is_error`` marks a failure reported back to the model. ``sources``
    lists the workspace files whose content the call returned (``read_file``
    the file it read, ``search`` the files of its hits): the evidence the
    citation guard checks cited paths against (:mod:`ragc.harness.citations`)."""

    content: str
    value: Any = None
    is_error: bool = False
    sources: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- hooks from the runtime


@runtime_checkable
class EffectLog(Protocol):
    """Exactly-once memory for model and tool calls.

    The agent loop names every call it makes with a deterministic ``key``
    (``"m3"`` for its 3rd model call, ``"t3.1"`` for the 2nd tool call
    requested by that reply). Before calling, it asks :meth:`get`; a recorded
    value is used instead of calling again. After a call, :meth:`put` must
    durably record the value before the loop goes on. The runtime scopes keys
    to the node activation and stores them in the run journal, so a resumed
    run repeats no completed call.
    """

    def get(self, key: str) -> dict | None:
        """The value recorded under ``key``, or ``None`` if the call has not completed."""
        ...

    async def put(self, key: str, kind: Literal["model", "tool", "cell"], value: dict) -> None:
        """Record ``value`` (a JSON object) for the completed ``kind`` call ``key``, durably."""
        ...


class NullEffectLog:
    """An :class:`EffectLog` that remembers nothing (no journal)."""

    def get(self, key: str) -> dict | None:
        return None

    async def put(self, key: str, kind: Literal["model", "tool", "cell"], value: dict) -> None:
        return None


@runtime_checkable
class BudgetGuard(Protocol):
    """Budget accounting the runtime lends the agent loop. Each method raises
    :class:`ragc.harness.errors.BudgetExceeded` when a limit is hit."""

    def before_model_call(self) -> None:
        """Count a model call about to be made; raises if none is left."""
        ...

    def after_model_call(self, usage: Usage) -> None:
        """Add the ``usage`` of a completed model call; raises past a token or cost limit."""
        ...

    def before_tool_call(self, name: str) -> None:
        """Count a call of tool ``name`` about to be made; raises if none is left."""
        ...


class NoBudget:
    """A :class:`BudgetGuard` without limits."""

    def before_model_call(self) -> None:
        return None

    def after_model_call(self, usage: Usage) -> None:
        return None

    def before_tool_call(self, name: str) -> None:
        return None


EventSink = Callable[[Any], None]
"""Receives :mod:`ragc.events` objects; must not block (the runtime queues)."""


class AgentSpec(BaseModel):
    """What :meth:`ragc.harness.Harness.run_agent` runs: a model with a
    system prompt and tools, for at most ``max_iterations`` model calls.

    ``route_labels``: when set, the final answer must also pick one label
    (structured output); ``response_schema``: a JSON schema the final answer
    must satisfy. ``repeat_limit``: identical (tool, arguments) actions in a
    row before the loop stops as stuck. ``tool_protocol``: ``native`` or
    ``react`` (text protocol for models without tool calling)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    model: str
    system: str | None = None
    tools: list[str] = Field(default_factory=list)
    max_iterations: int = 8
    route_labels: list[str] | None = None
    response_schema: dict[str, Any] | None = None
    repeat_limit: int = 3
    params: dict[str, Any] = Field(default_factory=dict)
    tool_protocol: Literal["native", "react"] | None = None
    prefetch: list[ToolCall] = Field(default_factory=list)
    """Tool calls made before the first model call (arguments already rendered); each
    result is appended to the last user message (``docs/providers.md``, "Prefetch")."""
    citations: Literal["off", "mark", "remove"] = "off"
    """The citation guard on the final answer (:mod:`ragc.harness.citations`)."""
    memory: list[str] = Field(default_factory=list)
    """Memory stores recalled into the prompt and offered as tools (``docs/memory.md``)."""
    skills: list[str] = Field(default_factory=list)
    """Skills whose instructions and tools the agent gets (``docs/registry.md``, "Skills")."""
    skill_tools_allow: list[str] | None = None
    """When set, a skill's tools outside this list are not added (a workflow node's
    and graph's ``allow tools``); ``None``: every skill tool is added."""


StopReason = Literal["final", "max_iterations", "loop_detected", "budget", "signal_completion"]


class AgentResult(BaseModel):
    """The outcome of an agent loop: final ``text`` (and ``structured`` /
    ``route`` when asked), the whole transcript, summed usage, the number of
    model calls made, why it stopped, and the ``signal`` of a
    ``signal_completion`` tool call (``{"signal": "complete"|"blocked",
    "message"|"reason": ...}``) if one ended the loop."""

    text: str
    structured: Any = None
    route: str | None = None
    messages: list[Message] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    iterations: int = 0
    stop_reason: StopReason = "final"
    signal: dict[str, Any] | None = None


AsyncCallable = Callable[..., Awaitable[Any]]
