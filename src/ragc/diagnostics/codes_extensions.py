"""Catalogue entries of the registry's extension codes (``E0870``..``E0879``):
skills, MCP tool servers and memory stores (``docs/registry.md``,
``docs/memory.md``, ``docs/providers.md``)."""

from __future__ import annotations

from ragc.diagnostics.codes import CodeInfo


def _e(code: str, title: str, explanation: str, example: str, lang: str = "toml") -> CodeInfo:
    return CodeInfo(code, "error", title, explanation, example, lang)


CODES: tuple[CodeInfo, ...] = (
    _e("E0870", "invalid skill folder",
       "A `skills/NAME/SKILL.md` (or `.agents/AGENT/skills/NAME/SKILL.md`) could not be turned into "
       "a skill: it cannot be read, its front matter (`key: value` lines between `---` lines) has an "
       "unknown key or a bad value, or it has no description (front matter `description:` or a "
       "first paragraph).",
       """
# skills/summarize/SKILL.md
# ---
# descripton: Summarize a text in three sentences.
# ---
# Read the text, then write three plain sentences.
"""),
    _e("E0871", "MCP server cannot be listed",
       "An MCP server with `list_at_check = true` could not be started, initialised or asked for "
       "its tools within its `startup_timeout`, so `ragc check` cannot validate the workflow's use "
       "of it. Fix the `command` or `url`, or set `list_at_check = false` (its tools are then "
       "checked when a run starts the server).",
       """
[mcp_servers.notes]
command = ["no-such-program-xyz"]
list_at_check = true
# graph g { start a  node a { kind tool  tool "notes/add" } }
"""),
    _e("E0872", "unknown MCP tool",
       "A workflow names a tool (`\"SERVER/TOOL\"` or a `[tools.NAME] mcp = ...` entry) that its "
       "MCP server does not list, or that the server entry's `tools` does not grant.",
       """
[mcp_servers.notes]
command = ["python", "notes_server.py"]
list_at_check = true
# graph g { start a  node a { kind tool  tool "notes/shoutt"  args { text: "hi" } } }
"""),
    _e("E0873", "MCP tool arguments do not match its schema",
       "A `kind tool` node's `args` cannot satisfy the `inputSchema` the MCP server listed for the "
       "tool: an argument the schema does not have, a required one missing, or a literal of the "
       "wrong JSON type. Values computed at run time are validated before the call.",
       """
[mcp_servers.notes]
command = ["python", "notes_server.py"]
list_at_check = true
# graph g { start a  node a { kind tool  tool "notes/add"  args { a: 1, c: 2 } } }
"""),
    _e("E0874", "unknown memory store, skill or MCP server",
       "A registry entry names something of the extension tables that does not exist: an agent's "
       "`memory` (a `[stores.NAME]` whose kind is `episodic`, `semantic`, `working` or "
       "`memory_files`), an agent's `skills` (`[skills.NAME]` or `skills/NAME/SKILL.md`), a tool's "
       "`mcp = \"SERVER\"` (`[mcp_servers.SERVER]`), or a skill's `tools`; or a workflow's "
       "`kind agent` node names, in its `memory` or `skills`, a store that is not a memory store "
       "(a run journal included) or a skill the registry lacks. The help line suggests the "
       "closest name.",
       """
[stores.notes]
kind = "episodic"

[agents.helper]
memory = ["notse"]
"""),
)
