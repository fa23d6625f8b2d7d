"""The ReAct text protocol, for models without native tool calling
(``tool_protocol = "react"`` on a model, or ``AgentSpec.tool_protocol``).

Implemented once, as a layer over any provider or model client
(:class:`ReactProvider`): a request with tools is rewritten into plain text,

* the tools and the protocol are described in the system prompt;
* earlier assistant tool calls become ``Thought / Action / Action Input``
  text, tool results become ``Observation:`` user messages;
* the request goes out without tools, stopping at ``Observation:``;

and the reply text is parsed back (:func:`parse_react_step`, after seed
004's ``parse_react_step``) into either a final answer or a tool call. The
parser is lenient: it accepts markdown emphasis and code fences around the
keywords and the JSON, single-line ``Action: tool {"a": 1}`` forms, a bare
string for a tool with exactly one required string argument, and a reply
with no keywords at all (taken as the final answer).

Reference: Yao et al., "ReAct: Synergizing Reasoning and Acting in Language
Models" (ICLR 2023), https://arxiv.org/abs/2210.03629 .
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ragc.harness.types import DeltaCallback, Message, ModelRequest, ModelResponse, ToolCall, ToolSpec, new_id

STOP_SEQUENCES = ["\nObservation:", "Observation:"]

INSTRUCTIONS = """You can use these tools:
{tools}

To use a tool, reply in exactly this format and then stop:
Thought: <why you need the tool>
Action: <the tool name, one of: {names}>
Action Input: <the arguments as one JSON object>

The result comes back as:
Observation: <the tool's result>

When you know the answer, reply:
Thought: <your reasoning>
Final Answer: <the answer>"""

_KEYWORD = r"[*_`]*\s*{}\s*[*_`]*\s*:"
_FINAL = re.compile(_KEYWORD.format(r"final\s*answer"), re.IGNORECASE)
_ACTION = re.compile(r"(?:^|\n)\s*" + _KEYWORD.format(r"action(?!\s*input)"), re.IGNORECASE)
_ACTION_INPUT = re.compile(_KEYWORD.format(r"action\s*input"), re.IGNORECASE)
_THOUGHT = re.compile(_KEYWORD.format("thought"), re.IGNORECASE)
_OBSERVATION = re.compile(r"\n?\s*" + _KEYWORD.format("observation"), re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


@dataclass
class ReactStep:
    """One parsed reply: ``final`` text, or a tool call (``action`` with
    ``arguments``, or ``raw_arguments`` when they are not a JSON object)."""

    thought: str = ""
    final: str | None = None
    action: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced ``{...}`` in ``text`` that parses as a JSON object."""
    start = text.find("{")
    while start != -1:
        depth = 0
        in_str = False
        esc = False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start:i + 1], strict=False)
                    except json.JSONDecodeError:
                        break
                    if isinstance(value, dict):
                        return value
                    break
        start = text.find("{", start + 1)
    return None


def _match_tool(name: str, tools: list[ToolSpec]) -> str:
    clean = name.strip(" \t\r\n`*'\"[]():")
    clean = clean.split("(")[0].split()[0] if clean else clean
    for t in tools:
        if t.name.lower() == clean.lower():
            return t.name
    return clean


def parse_react_step(text: str, tools: list[ToolSpec]) -> ReactStep:
    """Parse one ReAct reply.

    Args:
        text: the model's reply.
        tools: the tools offered (to match names case-insensitively and to
            accept a bare string for a one-string-argument tool).

    Returns:
        A :class:`ReactStep`. Whichever of ``Action:`` and ``Final Answer:``
        comes first wins; no keyword at all means the whole reply is the
        final answer.
    """
    text = _OBSERVATION.split(text, maxsplit=1)[0] if _OBSERVATION.search(text) else text
    final_m = _FINAL.search(text)
    action_m = _ACTION.search(text)
    thought_m = _THOUGHT.search(text)
    first_kw = min([m.start() for m in (final_m, action_m) if m] or [len(text)])
    thought = text[thought_m.end():first_kw].strip() if thought_m and thought_m.start() < first_kw else ""
    if final_m and (not action_m or final_m.start() < action_m.start()):
        return ReactStep(thought=thought, final=text[final_m.end():].strip())
    if not action_m:
        body = text[thought_m.end():].strip() if thought_m else text.strip()
        return ReactStep(thought=thought, final=body)
    rest = text[action_m.end():]
    input_m = _ACTION_INPUT.search(rest)
    if input_m:
        name_part, args_part = rest[:input_m.start()], rest[input_m.end():]
    else:
        line, _, tail = rest.strip().partition("\n")
        brace = line.find("{")
        name_part, args_part = (line[:brace], line[brace:] + tail) if brace != -1 else (line, tail)
    name = _match_tool(name_part, tools)
    args_text = _FENCE.sub("", args_part.strip()).strip()
    step = ReactStep(thought=thought, action=name)
    if not args_text:
        return step
    try:
        # strict=False: a raw newline inside a string (code in write_file) is kept, not refused
        value = json.loads(args_text, strict=False)
    except json.JSONDecodeError:
        value = _first_json_object(args_text)
    if isinstance(value, dict):
        step.arguments = value
        return step
    spec = next((t for t in tools if t.name == name), None)
    if spec is not None:
        required = spec.parameters.get("required", [])
        props = spec.parameters.get("properties", {})
        if len(required) == 1 and props.get(required[0], {}).get("type") == "string":
            step.arguments = {required[0]: args_text.strip().strip('"')}
            return step
    step.raw_arguments = args_text
    return step


def _tool_lines(tools: list[ToolSpec]) -> str:
    lines = []
    for t in tools:
        props = t.parameters.get("properties", {})
        required = set(t.parameters.get("required", []))
        args = ", ".join(f"{k}{'' if k in required else '?'}: {v.get('type', 'any')}" for k, v in props.items())
        lines.append(f"- {t.name}({args}): {t.description}")
    return "\n".join(lines)


def offers_tools(request: ModelRequest) -> bool:
    """Does the request let the model call a tool (tools given, ``tool_choice``
    not ``none``, no structured output asked)?"""
    return bool(request.tools) and request.tool_choice != "none" and request.response_schema is None


def render_messages(request: ModelRequest) -> list[Message]:
    """The request's conversation rewritten in the ReAct text protocol (the
    tool instructions only when :func:`offers_tools`)."""
    offer = offers_tools(request)
    instructions = INSTRUCTIONS.format(tools=_tool_lines(request.tools),
                                       names=", ".join(t.name for t in request.tools))
    out: list[Message] = []
    has_system = False
    for m in request.messages:
        if m.role == "system":
            out.append(m.model_copy(update={"content": (m.content + "\n\n" + instructions) if not has_system
                                            and offer else m.content}))
            has_system = True
        elif m.role == "assistant" and m.tool_calls:
            parts = [m.content.strip() if m.content.strip() else "Thought: I will use a tool."]
            for c in m.tool_calls:
                args = c.raw_arguments if c.raw_arguments is not None else json.dumps(c.arguments)
                parts.append(f"Action: {c.name}\nAction Input: {args}")
            out.append(Message(role="assistant", content="\n".join(parts), id=m.id, name=m.name))
        elif m.role == "tool":
            obs = f"Observation{' (error)' if m.is_error else ''}: {m.content}"
            if out and out[-1].role == "user" and out[-1].content.startswith("Observation"):
                out[-1] = out[-1].model_copy(update={"content": out[-1].content + "\n" + obs})
            else:
                out.append(Message(role="user", content=obs, id=m.id))
        else:
            out.append(m)
    if offer and not has_system:
        out.insert(0, Message(role="system", content=instructions))
    return out


class ReactProvider:
    """Wraps a provider (or model client) so tools go through the ReAct text
    protocol. Requests without tools and without tool messages pass through
    unchanged (structured output included)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = getattr(inner, "name", "")
        self.entry = getattr(inner, "entry", None)

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None,
                       **kwargs: Any) -> ModelResponse:
        """Rewrite, call the inner client, parse.

        Raises:
            ProviderError: from the inner client.
        """
        uses_tools = bool(request.tools) or any(m.role == "tool" or m.tool_calls for m in request.messages)
        if not uses_tools:
            return await self.inner.complete(request, on_delta=on_delta, **kwargs)
        offer = offers_tools(request)
        stop = list(dict.fromkeys([*(request.stop or []), *STOP_SEQUENCES])) if offer else request.stop
        text_request = request.model_copy(update={"messages": render_messages(request), "tools": [],
                                                  "tool_choice": "none", "stop": stop})
        response = await self.inner.complete(text_request, on_delta=on_delta, **kwargs)
        if not offer:
            return response
        step = parse_react_step(response.message.content, request.tools)
        if step.action is None:
            message = response.message.model_copy(update={"content": step.final or "", "tool_calls": []})
            return response.model_copy(update={"message": message, "finish_reason": response.finish_reason})
        call = ToolCall(id=new_id("call"), name=step.action, arguments=step.arguments,
                        raw_arguments=step.raw_arguments)
        content = f"Thought: {step.thought}" if step.thought else ""
        message = response.message.model_copy(update={"content": content, "tool_calls": [call]})
        return response.model_copy(update={"message": message, "finish_reason": "tool_calls"})

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()
