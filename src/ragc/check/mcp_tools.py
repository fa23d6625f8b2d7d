"""MCP tool names and arguments in a workflow, checked against the tools
their server listed (``[mcp_servers.NAME] list_at_check = true``: listed when a workflow first
names one of its tools, through the lister the compiler installs,
:meth:`ragc.registry.model.Registry.mcp_listing`). A server that cannot be
listed is ``E0871`` at the tool name.

* ``"SERVER/TOOL"`` (or a ``[tools.NAME] mcp = ...`` entry) whose tool the
  server does not list, or the server entry's ``tools`` does not grant:
  ``E0872`` with "did you mean".
* a ``kind tool`` node's ``args`` against the tool's ``inputSchema``: an
  argument the schema has no property for, a required one missing, or a
  literal of the wrong JSON type: ``E0873``. Values computed at run time
  (paths, templates) are not typed here; the harness validates them with
  the same schema before the call.

Without a listing (``list_at_check`` false, or the registry unavailable)
only the server name is checked: the tool is validated when the run
starts the server.
"""

from __future__ import annotations

from typing import Any

from ragc.check.context import Ctx
from ragc.diagnostics.model import Applicability, Suggestion
from ragc.diagnostics.suggest import did_you_mean
from ragc.syntax import ast as A


def _listed(ctx: Ctx, name: str, value: A.Value | None = None) -> tuple[str, str, dict[str, dict[str, Any]] | None,
                                                                       Any] | None:
    reg = ctx.registry
    if reg is None:
        return None
    found = reg.mcp_tool(name)
    if found is None:
        return None
    key, entry, remote = found
    listing, failure = reg.mcp_listing(key, entry)
    if failure is not None and value is not None:
        ctx.bag.error("E0871", f"MCP server `{key}` cannot be listed: {failure}", value.span,
                      "its tools cannot be checked",
                      help="check its `command` / `url`, or set `list_at_check = false` to check tool names "
                           "when the run starts the server")
    tools = {t["name"]: t for t in listing} if listing is not None else None
    return key, remote, tools, entry


def tool_name(ctx: Ctx, name: str, value: A.Value, *, via: str | None = None) -> bool | None:
    """Whether MCP tool ``name`` exists on its server (``E0872`` if not);
    ``None`` when ``name`` is not an MCP tool of the registry. ``via``: the
    registry agent whose tool it is (``value`` is then the agent's name in
    the workflow, and no replacement is suggested)."""
    resolved = _listed(ctx, name, value)
    if resolved is None:
        return None
    key, remote, tools, entry = resolved
    granted = list(entry.tools) if entry.tools is not None else None
    candidates = granted if granted is not None else (sorted(tools) if tools is not None else [])
    if (granted is not None and remote not in granted) or (tools is not None and remote not in tools):
        guess = did_you_mean(remote, candidates)
        prefix = name[: len(name) - len(remote)]
        suggestions = (Suggestion(f"replace with `{prefix}{guess}`", value.span, f'"{prefix}{guess}"',
                                  Applicability.MAYBE_INCORRECT),) if guess and prefix and via is None else ()
        why = "the registry does not grant it" if granted is not None and remote not in granted else "not listed"
        if via is not None:
            why = f"`{name}`, a tool of {via}: {why}"
        ctx.bag.error("E0872", f"MCP server `{key}` has no tool `{remote}`", value.span, why,
                      help=f"did you mean `{prefix}{guess}`?" if guess else
                      f"its tools: {', '.join(candidates) or 'none'}", suggestions=suggestions)
        return False
    return True


_JSON_TYPES = {A.Str: "string", A.Int: "integer", A.Float: "number", A.Bool: "boolean", A.ListV: "array",
               A.ObjectV: "object", A.Null: "null"}


def _type_ok(value: A.Value, schema: dict[str, Any]) -> bool:
    want = schema.get("type")
    if want is None:
        return True
    wants = want if isinstance(want, list) else [want]
    got = _JSON_TYPES.get(type(value))
    if got is None or (isinstance(value, A.Str) and value.is_template):
        return True  # computed at run time
    return got in wants or (got == "integer" and "number" in wants)


def tool_args(ctx: Ctx, tool: A.Value, args: A.Value | None, name: str) -> None:
    """``E0873`` for ``args`` that cannot match the listed schema of MCP tool ``name``."""
    resolved = _listed(ctx, name)
    if resolved is None or resolved[2] is None:
        return
    key, remote, tools, _ = resolved
    info = tools.get(remote) if tools else None
    if info is None:
        return
    schema = info.get("input_schema") or {}
    props: dict[str, Any] = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    given: dict[str, A.Pair] = {}
    if isinstance(args, A.ObjectV):
        given = {p.key_name: p for p in args.pairs}
    for arg, pair in given.items():
        if arg not in props:
            guess = did_you_mean(arg, list(props))
            ctx.bag.error("E0873", f"`{name}` has no argument `{arg}`", pair.key.span, "not in the tool's schema",
                          help=f"did you mean `{guess}`?" if guess else f"its arguments: {', '.join(props) or 'none'}",
                          suggestions=(Suggestion(f"replace with `{guess}`", pair.key.span, guess,
                                                  Applicability.MAYBE_INCORRECT),) if guess else ())
        elif not _type_ok(pair.value, props[arg]):
            ctx.bag.error("E0873", f"argument `{arg}` of `{name}` must be of type {props[arg].get('type')}",
                          pair.value.span, f"a {_JSON_TYPES.get(type(pair.value))} literal",
                          help="give a value of the type the MCP server's schema declares")
    missing = [r for r in required if r not in given]
    if missing:
        span = args.span if args is not None else tool.span
        ctx.bag.error("E0873", f"`{name}` needs argument{'s' if len(missing) > 1 else ''} "
                      + ", ".join(f"`{m}`" for m in missing), span, "required by the tool's schema",
                      help="add " + ", ".join(f"`{m}: ...`" for m in missing) + " to `args`")


def agent_tools(ctx: Ctx, value: A.Value, agent: str) -> None:
    """The MCP tools of registry agent ``agent`` (its ``tools`` and its
    skills' tools), checked like a workflow's own (``E0872`` at ``value``,
    the agent's name in the workflow)."""
    reg = ctx.registry
    entry = reg.agents.get(agent) if reg is not None else None
    if entry is None:
        return
    names = list(entry.tools)
    for skill in entry.skills:
        names += list(reg.skills[skill].tools) if skill in reg.skills else []
    for t in dict.fromkeys(names):
        if reg.mcp_tool(t) is not None:
            tool_name(ctx, t, value, via=f"agent `{agent}`")
