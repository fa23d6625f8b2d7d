"""``kind repl``: a model-driven CodeAct loop of ``.ragsh`` cells
(:mod:`ragc.repl.codeact`) inside a graph.

The node's ``model`` writes the cells; the cells may call exactly the
registry names the node grants: ``tools`` (``tool_call``), ``models``
(``model_query``) and ``agents`` (``agent_query``), each under the run's
budget and journal (their calls are keyed ``c<n>.m1``, ``c<n>.t1``,
``c<n>.a1/...`` inside the activation), and ``graphs`` (``graph_run``: the
engine's :attr:`~ragc.runtime.compiled.CProgram.graph_runner` runs the
compiled ``registry.NAME`` graph as a run of its own). The authoring
builtins are not offered inside a node. The session's limits are
:class:`ragc.repl.policy.ReplPolicy` narrowed by the node's ``limits``.

Journal: model turn ``n`` is effect ``m<n>`` (kind ``model``), its cell
effect ``c<n>`` (kind ``cell``, with the namespace after it), so a resumed
run repeats neither. ``script`` (a ``.ragsh`` file next to the ``.rag``
file, ``.ragsh`` appended when the name has no suffix) runs as cell ``c0``.

Result: the value given to ``answer(...)``; the route is the ``route=`` of
``answer`` (a declared label), else ``ok``. A loop that reaches
``max_turns`` without an answer fails with ``E0918`` (kind ``limit``); a
missing Starlark interpreter or unreadable script with ``E0919`` (kind
``config``). An ``error`` route takes either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragc.harness.types import Message, ModelRequest
from ragc.ir.lower import REGISTRY_PREFIX
from ragc.runtime.activation import NodeOutput
from ragc.runtime.expressions import compile_optional
from ragc.runtime.nodes.common import allowed_tools, harness_kwargs, input_lines, request_params

if TYPE_CHECKING:  # pragma: no cover
    from ragc.runtime.activation import Activation
    from ragc.runtime.compiled import CNode, CProgram

OUTCOMES = ("ok", "error")


def script_path(cn: "CNode", prog: "CProgram", name: str) -> Path:
    """The file of ``script "NAME"``: next to the ``.rag`` file (the current
    directory when the program has no source path); ``.ragsh`` is appended
    to a name without a suffix.

    Raises:
        RunError: ``E0919`` for an absolute name or one that leaves the folder.
    """
    rel = Path(name if Path(name).suffix else name + ".ragsh")
    if rel.is_absolute() or ".." in rel.parts:
        raise cn.error("E0919", f"node `{cn.name}`: script `{name}` must be a file name next to the workflow",
                       kind="config")
    base = Path(prog.ir.source).parent if prog.ir.source else Path.cwd()
    return base / rel


def _functions(tools: list[str], models: list[str], agents: list[str], registry: Any,
               graphs: list[str]) -> list[str]:
    def desc(table: str, name: str) -> str:
        entry = getattr(registry, table, {}).get(name)
        text = getattr(entry, "description", None) if entry is not None else None
        return f": {text}" if text else ""

    out = [f'- tool_call("{t}", args_dict){desc("tools", t)}' for t in tools]
    out += [f'- model_query("{m}", prompt, system=None, schema=None){desc("models", m)}' for m in models]
    out += [f'- agent_query("{a}", prompt){desc("agents", a)}' for a in agents]
    out += [f'- graph_run("{g}", input_dict) -> {{"status", "output", "error", ...}}{desc("graphs", g)}'
            for g in graphs]
    if tools:
        out.append("- tool_call_batched(tool, [args, ...], max_concurrency=None): results in input order")
    if models:
        out.append("- model_query_batched(model, [prompt, ...]): results in input order")
    return out


def build(cn: "CNode", prog: "CProgram") -> Any:
    ir = cn.ir
    r = ir.repl
    assert r is not None, "a repl node lowers with its ReplIR"
    model = ir.model or "default"
    system = compile_optional(ir.system)
    prompt = compile_optional(ir.prompt)
    tools = allowed_tools(cn, prog, ir.tools)
    models, agents, graphs = list(r.models), list(r.agents), list(r.graphs)
    graph_allow = cn.graph.ir.allow
    if graph_allow.models is not None:
        models = [m for m in models if m in graph_allow.models]
    if graph_allow.agents is not None:
        agents = [a for a in agents if a in graph_allow.agents]
    labels = tuple(x for x in cn.route_map if x not in OUTCOMES)
    params = request_params(ir.params)
    limits = {k: (float(v) if k == "timeout_s" else int(v)) for k, v in r.limits.items()}
    functions = _functions(tools, models, agents, prog.registry, graphs)

    async def run_repl(act: "Activation") -> NodeOutput:
        try:
            from ragc.repl.cells import CellSession, LoopPortal
            from ragc.repl.codeact import CodeActLoop, system_prompt
            from ragc.repl.policy import ReplPolicy
        except ImportError as e:  # starlark-pyo3 is not installed
            raise cn.error("E0919", f"node `{cn.name}` needs the Starlark interpreter: {e}", kind="config",
                           hint="pip install 'ragc[repl]'") from None
        prologue = None
        if r.script is not None:
            path = script_path(cn, prog, r.script)
            try:
                prologue = path.read_text(encoding="utf-8")
            except OSError as e:
                raise cn.error("E0919", f"node `{cn.name}`: cannot read script `{path}`: {e.strerror or e}",
                               kind="config") from None
        h = act.services.harness()
        sc = act.scope
        kw = harness_kwargs(act)
        session = CellSession(prog.registry, policy=ReplPolicy().narrowed(**limits), routes=labels,
                              authoring=False)
        runner = prog.graph_runner if graphs else None

        async def run_graph(name: str, _untrusted: bool, _source: str, inputs: dict) -> dict:
            return await runner(REGISTRY_PREFIX + name, inputs)

        caps = session.attach(LoopPortal(), h, run_graph if runner is not None else None)
        caps.granted = {"tools": set(tools), "models": set(models), "agents": set(agents), "graphs": set(graphs)}
        caps.effects, caps.budget = act.effects, act.budget
        caps.call_kwargs = {k: kw[k] for k in ("emit", "node", "activation", "run_id")}

        async def complete(messages: list[Message], key: str) -> str:
            resp = await h.complete(model, ModelRequest(messages=messages, **params), key=key, **kw)
            return resp.message.content or ""

        task = str(prompt(sc)) if prompt is not None else input_lines(act.frame.input)
        loop = CodeActLoop(session, complete, act.effects, max_turns=r.max_turns,
                           system=system_prompt(functions, list(labels),
                                                str(system(sc)) if system is not None else None),
                           task=task, prologue=prologue)
        out = await loop.run()
        if not out.answered:
            last = next((c["error"] for c in reversed(out.cells) if c["error"]), None)
            raise cn.error("E0918", f"repl node `{cn.name}` reached max_turns ({r.max_turns}) without "
                                    "answer(...)" + (f"; the last cell failed: {last}" if last else ""),
                           kind="limit", hint="raise `max_turns`, or make the task smaller")
        return NodeOutput(out.answer, out.route)

    return run_repl
