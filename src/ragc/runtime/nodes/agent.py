"""``kind agent`` and ``kind subagent`` (and ``send`` targets that are
registry agents): a model-and-tools loop run by the harness
(``Harness.run_agent``), which names its calls ``m1``, ``t1.1``... and
records them through the activation's effect log.

* ``agent``: the spec comes from the node (``model``, ``system``, ``tools``,
  ``max_iterations`` (default 8), ``schema``, ``memory``, ``skills``: a
  node's memory and skills work as a registry agent's, its entries kept
  under the node's name; skill tools are narrowed by the node's and the
  graph's ``allow tools``); the input is the rendered
  ``prompt`` or the run input as ``key: value`` lines. Routes chosen by the
  model are passed as ``route_labels``.
* ``subagent``: the spec is the registry agent's; the input mapping (node
  ``input``, else the run input; a ``send`` payload for agent targets) is
  the ``input`` of the registry agent's ``prompt`` template (``{{ input.x
  }}``; ``state`` and branch variables are visible too). A node ``prompt``
  replaces the registry prompt; without either, the mapping is sent as
  ``key: value`` lines. The node's ``model`` replaces the registry agent's
  model and its ``schema`` asks the agent for a structured final answer
  (the result is then the object, so routes and later nodes read fields).

Result: the final text (the object when a schema is asked); when the loop
ended with a ``signal_completion`` call, the signal dict instead
(``{"signal": "complete", "message": ...}`` or ``{"signal": "blocked",
"reason": ...}``), which a Ralph-style loop routes on. Agent and
subagent nodes write only the final message to a messages channel (the
transcript stays in the journal). A loop stopped by repeated identical
actions (``loop_detected``) fails the node unless it still produced an
answer; one stopped by its budget fails it; reaching ``max_iterations``
returns the last answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragc.harness.types import AgentSpec, Message, ToolCall
from ragc.runtime.activation import NodeOutput
from ragc.runtime.expressions import compile_optional
from ragc.runtime.nodes.common import allowed_tools, harness_kwargs, input_lines
from ragc.runtime.nodes.model import LOOP_LABELS, pick_label
from ragc.runtime.templates import TemplateError, compile_template

if TYPE_CHECKING:  # pragma: no cover
    from ragc.harness.types import AgentResult
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram


def _finish(cn: "CNode", res: "AgentResult", wants_object: bool, labels: list[str]) -> NodeOutput:
    if res.stop_reason == "loop_detected" and not res.text.strip() and res.structured is None:
        # The loop asks for a final answer after stopping a repeated action;
        # only a loop that gave none fails the node.
        raise cn.error("E0909", f"agent `{cn.name}` repeated the same action and was stopped", kind="loop",
                       hint="improve the agent's instructions, or raise its repeat limit")
    if res.stop_reason == "budget":
        raise cn.error("E0905", f"agent `{cn.name}` ran out of budget", kind="budget")
    if res.stop_reason == "signal_completion" and res.signal is not None:
        result: Any = dict(res.signal)
    else:
        result = res.structured if (wants_object and res.structured is not None) else res.text
    label = None
    if labels:
        label = pick_label(cn, {"route": res.route})
    return NodeOutput(result, label)


def build(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    system = compile_optional(ir.system)
    prompt = compile_optional(ir.prompt)
    tools = allowed_tools(cn, prog, ir.tools)
    labels = [x for x in cn.route_map if x not in LOOP_LABELS] if cn.chooser == "model" else []
    wants_object = ir.output_schema is not None
    extensions: dict[str, Any] = {}
    if ir.memory:
        extensions["memory"] = list(ir.memory)
    if ir.skills:
        extensions["skills"] = list(ir.skills)
        if cn.ir.allow_tools is not None or cn.graph.ir.allow.tools is not None:
            known = getattr(prog.registry, "skills", None) or {}
            skill_tools = [t for s in ir.skills for t in getattr(known.get(s), "tools", ())]
            extensions["skill_tools_allow"] = allowed_tools(cn, prog, skill_tools)

    async def run_agent_node(act: "Activation") -> NodeOutput:
        h = act.services.harness()
        sc = act.scope
        spec = AgentSpec(name=cn.name, model=ir.model or "default",
                         system=str(system(sc)) if system is not None else None, tools=tools,
                         max_iterations=ir.max_iterations or 8, route_labels=labels or None,
                         response_schema=ir.output_schema, params=dict(ir.params), **extensions)
        text = str(prompt(sc)) if prompt is not None else input_lines(act.frame.input)
        res = await h.run_agent(spec, [Message(role="user", content=text)], sources=act.services.sources,
                                **harness_kwargs(act))
        return _finish(cn, res, wants_object, labels)

    return run_agent_node


def _prefetch_templates(cn: "CNode", name: str, entry: Any) -> list[tuple[str, dict[str, Any]]]:
    """The registry agent's ``prefetch`` with its string arguments compiled as templates."""
    out: list[tuple[str, dict[str, Any]]] = []
    for pre in getattr(entry, "prefetch", None) or ():
        args: dict[str, Any] = {}
        for key, value in pre.args.items():
            if isinstance(value, str) and "{" in value:
                try:
                    args[key] = compile_template(value)
                except TemplateError as e:
                    raise cn.error("E0908", f"the prefetch of agent `{name}`, argument `{key}`: {e}",
                                   kind="expression") from None
            else:
                args[key] = value
        out.append((pre.tool, args))
    return out


def _render_prefetch(cn: "CNode", name: str, prefetch: list[tuple[str, dict[str, Any]]],
                     ctx: dict[str, Any]) -> list[ToolCall]:
    calls = []
    for i, (tool, args) in enumerate(prefetch, start=1):
        try:
            rendered = {k: (v(ctx) if callable(v) else v) for k, v in args.items()}
        except TemplateError as e:
            raise cn.error("E0908", f"the prefetch of agent `{name}`: {e}", kind="expression") from None
        calls.append(ToolCall(id=f"prefetch-{i}", name=tool, arguments=rendered))
    return calls


def build_subagent(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    name = ir.agent or cn.name
    mapping = compile_optional(ir.input)
    node_prompt = compile_optional(ir.prompt)
    registry = prog.registry
    entry = (getattr(registry, "agents", None) or {}).get(name)
    agent_prompt = None
    if node_prompt is None and entry is not None and entry.prompt:
        try:
            agent_prompt = compile_template(entry.prompt)
        except TemplateError as e:
            raise cn.error("E0908", f"the prompt of agent `{name}`: {e}", kind="expression") from None
    prefetch = _prefetch_templates(cn, name, entry)

    async def run_subagent(act: "Activation") -> NodeOutput:
        h = act.services.harness()
        sc = act.scope
        agent_input = mapping(sc) if mapping is not None else act.frame.input
        if node_prompt is not None:
            text = str(node_prompt(sc))
        elif agent_prompt is not None:
            ctx = sc.context()
            ctx["input"] = agent_input
            try:
                text = agent_prompt(ctx)
            except TemplateError as e:
                raise cn.error("E0908", f"the prompt of agent `{name}`: {e}", kind="expression") from None
        else:
            text = input_lines(agent_input)
        spec = h.agent_spec(name)
        if ir.model is not None or ir.output_schema is not None:
            spec = spec.model_copy(update={"model": ir.model or spec.model,
                                           "response_schema": ir.output_schema or spec.response_schema})
        if prefetch:
            ctx = sc.context()
            ctx["input"] = agent_input
            spec = spec.model_copy(update={"prefetch": _render_prefetch(cn, name, prefetch, ctx)})
        res = await h.run_agent(spec, [Message(role="user", content=text)], sources=act.services.sources,
                                **harness_kwargs(act))
        return _finish(cn, res, spec.response_schema is not None, [])

    return run_subagent
