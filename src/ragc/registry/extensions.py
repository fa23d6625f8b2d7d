"""Cross-references of the registry's extension tables: agents' ``memory``
and ``skills``, tools' ``mcp = "SERVER"``, skills' ``tools``
(``E0874``, with "did you mean").

Called by :func:`ragc.registry.loader.load_registry` after agents and skills
are discovered; kept apart from the loader's own ``E0807`` checks so the
tables of MCP, memory and skills are validated in one place.
"""

from __future__ import annotations

from ragc.diagnostics.model import Diagnostic, Label, Severity
from ragc.diagnostics.suggest import did_you_mean
from ragc.registry.model import BUILTIN_TOOLS, Registry
from ragc.registry.toml_spans import nearest


def _span(found: dict, path: tuple):
    loc = found.get(path) or nearest(found, path)
    if loc is None:
        return None
    return loc.value if (loc.value is not None and path in found) else loc.key


def extension_refs(reg: Registry, found: dict) -> list[Diagnostic]:
    """``E0874`` for every name of an extension table that resolves to nothing.

    Args:
        reg: the registry (agents and skills discovered from folders included).
        found: TOML key path -> location (:func:`ragc.registry.toml_spans.locate`).
    """
    out: list[Diagnostic] = []

    def report(path: tuple, name: str, what: str, candidates: list[str], kind: str, hint: str) -> None:
        guess = did_you_mean(name, candidates)
        span = _span(found, path)
        out.append(Diagnostic("E0874", Severity.ERROR, f"unknown {kind} `{name}` in {what}",
                              Label(span, f"not a {kind} of the registry") if span else None,
                              help=f"did you mean `{guess}`?" if guess else hint))

    memory_stores = sorted(n for n, s in reg.stores.items() if s.is_memory)
    for name, agent in reg.agents.items():
        for i, store in enumerate(agent.memory):
            if store not in memory_stores:
                report(("agents", name, "memory", i), store, f"the memory of agent `{name}`", memory_stores,
                       "memory store", 'add [stores.NAME] with kind = "episodic", "semantic", "working" or '
                       '"memory_files"')
        for i, skill in enumerate(agent.skills):
            if skill not in reg.skills:
                report(("agents", name, "skills", i), skill, f"the skills of agent `{name}`", sorted(reg.skills),
                       "skill", "add skills/NAME/SKILL.md or [skills.NAME]")
    for name, tool in reg.tools.items():
        if isinstance(tool.mcp, str) and tool.mcp not in reg.mcp_servers:
            report(("tools", name, "mcp"), tool.mcp, f"tool `{name}`", sorted(reg.mcp_servers), "MCP server",
                   "add [mcp_servers.NAME] with `command` or `url`, or give `mcp = { command = [...] }` inline")
    for name, skill in reg.skills.items():
        for i, t in enumerate(skill.tools):
            # a skill may name a built-in directly (the harness builds it with its defaults)
            if t not in reg.tools and reg.mcp_tool(t) is None and t not in BUILTIN_TOOLS:
                report(("skills", name, "tools", i), t, f"the tools of skill `{name}`", sorted(reg.tools), "tool",
                       "add [tools.NAME] to registry.toml")
    return out
