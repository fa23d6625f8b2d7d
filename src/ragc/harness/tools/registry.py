"""The tools of one harness: built from ``[tools.*]`` entries, called with
validation, timeouts, circuit breakers and bounded results.

Name resolution (:meth:`ToolRegistry.get`): a ``[tools.NAME]`` entry
(``builtin`` possibly under an alias with ``config``, or ``python =
"module:function"``, or ``python = "NAME"`` for a function passed to the
harness); else a built-in of that name with its defaults; else a function
passed to the harness under that name. MCP tools (``[tools.NAME] mcp =
...`` or ``"SERVER/TOOL"`` of an ``[mcp_servers.SERVER]``) are built from
the server's listing by :meth:`ToolRegistry.prepare` (asynchronous: it may
start the server), which :meth:`ToolRegistry.call` and the agent loop call
first; their sessions are closed by :meth:`ToolRegistry.aclose`
(:mod:`ragc.harness.tools.mcp`). Python tools import modules next to the
registry file like ``[functions.*]`` do (its directory is put on ``sys.path``).

:meth:`ToolRegistry.call` never raises for a failed call: unknown tools,
arguments that fail validation, sandbox violations, timeouts and exceptions
in the tool all come back as ``ToolResult(is_error=True)`` with a bounded
message the model can act on. Results are bounded to ``max_result_bytes``
(16 KiB) with a note saying so; ``value`` (for state) is not truncated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import anyio
from pydantic import ValidationError

from ragc.harness.errors import ConfigError, ToolError
from ragc.harness.resilience import CircuitBreaker, ResilienceSettings
from ragc.harness.tools.base import Tool
from ragc.harness.tools.builtins import BUILTIN_NAMES, make_builtin
from ragc.harness.tools.python_tools import load_callable, python_tool
from ragc.harness.tools.sandbox import Workspace
from ragc.harness.types import ToolResult, ToolSpec
from ragc.registry.model import PolicyEntry, Registry

MAX_RESULT_BYTES = 16 * 1024
"""Default bound of a tool result's ``content`` as the model sees it (bytes)."""

MAX_ERROR_BYTES = 2 * 1024
"""Bound of an error message sent back to the model (bytes)."""

BREAKER_TOOL_KINDS = frozenset({"exception", "timeout", "internal"})
"""Tool failure kinds that count against a tool's circuit breaker (the tool
itself misbehaving, not the model passing bad arguments)."""


def truncate_utf8(text: str, limit: int, what: str = "output") -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (on a character
    boundary) plus a note giving the original size, or ``text`` unchanged."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[:limit].decode("utf-8", errors="ignore")
    return f"{cut}\n[... {what} truncated: {limit} of {len(data)} bytes shown]"


def format_validation_error(tool: Tool, exc: ValidationError) -> str:
    """A short message listing each invalid field and the expected schema."""
    problems = []
    for err in exc.errors()[:8]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        problems.append(f"{loc}: {err.get('msg', 'invalid')}")
    schema = json.dumps(tool.parameters.get("properties", {}), separators=(",", ":"))
    required = tool.parameters.get("required", [])
    return (f"invalid arguments for `{tool.name}`: " + "; ".join(problems)
            + f". Expected an object with properties {schema}" + (f", required {required}" if required else ""))


class ToolRegistry:
    """Builds and calls the tools of one harness.

    Args:
        registry: the loaded registry (``[tools.*]``).
        workspace: the root file and shell tools are confined to.
        policy: the run's policy (``allow_tools``/``deny_tools`` are enforced
            again here; ``run_command`` limits come from it).
        functions: Python callables usable as tools by name.
        settings: breaker thresholds (``tool_breaker_*``).
        max_result_bytes: bound of ``content`` sent to the model.
    """

    def __init__(self, registry: Registry, workspace: Workspace, *, policy: PolicyEntry | None = None,
                 functions: Mapping[str, Callable] | None = None, settings: ResilienceSettings | None = None,
                 max_result_bytes: int = MAX_RESULT_BYTES):
        self.registry = registry
        self.workspace = workspace
        self.policy = policy or PolicyEntry()
        self.functions = dict(functions or {})
        self.settings = settings or ResilienceSettings()
        self.max_result_bytes = max_result_bytes
        self._tools: dict[str, Tool] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._mcp: Any = None

    # ------------------------------------------------------------------ lookup

    def known(self, name: str) -> bool:
        """Is ``name`` a tool this registry can build?"""
        return (name in self.registry.tools or name in BUILTIN_NAMES or name in self.functions
                or self.registry.mcp_tool(name) is not None)

    def permitted(self, name: str) -> bool:
        """Does the policy allow ``name``?"""
        if name in self.policy.deny_tools:
            return False
        return self.policy.allow_tools is None or name in self.policy.allow_tools

    def names(self) -> list[str]:
        """All tool names that can be built, sorted."""
        return sorted(set(self.registry.tools) | BUILTIN_NAMES | set(self.functions))

    def get(self, name: str) -> Tool:
        """The tool ``name`` (built once, then cached).

        Raises:
            ConfigError: unknown tool, an MCP tool, an invalid entry, or a
                Python tool that cannot be imported.
        """
        tool = self._tools.get(name)
        if tool is not None:
            return tool
        entry = self.registry.tools.get(name)
        if entry is not None:
            if entry.builtin:
                tool = make_builtin(entry.builtin, name=name, workspace=self.workspace, description=entry.description,
                                    config=dict(entry.config), timeout_s=entry.timeout,
                                    run_policy=self.policy.run_command)
            elif entry.python:
                fn = load_callable(entry.python, self.functions, base_dir=self.registry.base_dir)
                tool = python_tool(name, fn, description=entry.description, timeout_s=entry.timeout, ref=entry.python)
            else:
                raise ConfigError(f"MCP tool `{name}` is used before its server was listed",
                                  hint="call `await ToolRegistry.prepare([...])` first (the harness does)")
        elif self.registry.mcp_tool(name) is not None:
            raise ConfigError(f"MCP tool `{name}` is used before its server was listed",
                              hint="call `await ToolRegistry.prepare([...])` first (the harness does)")
        elif name in BUILTIN_NAMES:
            tool = make_builtin(name, name=name, workspace=self.workspace, run_policy=self.policy.run_command)
        elif name in self.functions:
            tool = python_tool(name, self.functions[name], ref=name)
        else:
            known = ", ".join(self.names())
            raise ConfigError(f"unknown tool `{name}`", hint=f"add [tools.{name}] to registry.toml (known: {known})")
        self._tools[name] = tool
        return tool

    async def prepare(self, names: Sequence[str]) -> None:
        """Build the MCP tools among ``names`` (starting their servers'
        sessions); other names are left to :meth:`get`.

        Raises:
            ConfigError: an MCP server cannot be started or lacks the tool.
        """
        for name in names:
            if name in self._tools or self.registry.mcp_tool(name) is None:
                continue
            if self._mcp is None:
                from ragc.harness.tools.mcp import McpPool

                self._mcp = McpPool(self.registry)
            entry = self.registry.tools.get(name)
            self._tools[name] = await self._mcp.tool(name, timeout_s=entry.timeout if entry is not None else None)

    async def aclose(self) -> None:
        """Close the MCP sessions this registry started (idempotent)."""
        if self._mcp is not None:
            pool, self._mcp = self._mcp, None
            await pool.aclose()

    def specs(self, names: Sequence[str]) -> list[ToolSpec]:
        """The :class:`ToolSpec` of each name, in order.

        Raises:
            ConfigError: see :meth:`get`; or the policy forbids a tool.
        """
        out = []
        for n in names:
            if not self.permitted(n):
                raise ConfigError(f"tool `{n}` is not allowed by the policy")
            out.append(self.get(n).spec)
        return out

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of tool ``name``."""
        br = self._breakers.get(name)
        if br is None:
            br = self._breakers[name] = CircuitBreaker(self.settings.tool_breaker_threshold,
                                                       self.settings.tool_breaker_recovery_s, scope="tool",
                                                       target=name)
        return br

    # ------------------------------------------------------------------ calling

    def _error(self, message: str) -> ToolResult:
        return ToolResult(content=truncate_utf8(message, MAX_ERROR_BYTES, "message"), is_error=True)

    async def call(self, name: str, arguments: Mapping[str, Any] | None, *, raw_arguments: str | None = None,
                   allowed: Sequence[str] | None = None, max_bytes: int | None = None,
                   extra: Mapping[str, Tool] | None = None) -> ToolResult:
        """Validate and run one call; every failure is an error result.

        Args:
            name: the tool the model asked for.
            arguments: the parsed JSON object of arguments.
            raw_arguments: the model's argument text when it was not a JSON
                object (then the call is refused with that explanation).
            allowed: the tools the caller granted (an agent's ``tools``);
                ``None``: any known tool.
            max_bytes: bound of ``content`` for this call (default
                ``max_result_bytes``; the agent loop lowers it for models
                with a small context window).

        Returns:
            The result; ``content`` bounded to ``max_bytes``.
        """
        granted = list(allowed) if allowed is not None else None
        if extra and name in extra and (granted is None or name in granted):
            return await self._run(extra[name], name, arguments, raw_arguments, max_bytes)
        if (granted is not None and name not in granted) or not self.known(name) or not self.permitted(name):
            choices = granted if granted is not None else self.names()
            choices = [c for c in choices if self.permitted(c)]
            return self._error(f"unknown tool `{name}`. Available tools: {', '.join(choices) or 'none'}")
        if self.registry.mcp_tool(name) is not None and name not in self._tools:
            try:
                await self.prepare([name])
            except ConfigError as exc:
                return self._error(f"{name} failed: {exc}" + (f" ({exc.hint})" if exc.hint else ""))
        tool = self.get(name)
        return await self._run(tool, name, arguments, raw_arguments, max_bytes)

    async def _run(self, tool: Tool, name: str, arguments: Mapping[str, Any] | None, raw_arguments: str | None,
                   max_bytes: int | None) -> ToolResult:
        """Validate, call under the tool's timeout and breaker, and bound one call."""
        if raw_arguments is not None:
            return self._error(f"the arguments of `{name}` are not a JSON object: {raw_arguments[:500]!r}. "
                               "Send the arguments as a JSON object.")
        try:
            args = tool.args_model.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            return self._error(format_validation_error(tool, exc))
        breaker = self.breaker(name)
        if not breaker.allow():
            return self._error(f"tool `{name}` is temporarily disabled after repeated failures "
                               f"(retry in {breaker.retry_in():.0f}s)")
        try:
            if tool.timeout_s:
                with anyio.fail_after(tool.timeout_s):
                    result = await tool.invoke(args)
            else:
                result = await tool.invoke(args)
        except TimeoutError:
            breaker.record_failure()
            return self._error(f"tool `{name}` timed out after {tool.timeout_s:g}s")
        except ToolError as exc:
            if exc.kind in BREAKER_TOOL_KINDS:
                breaker.record_failure()
            else:
                breaker.release()
            return self._error(f"{name} failed: {exc}")
        except Exception as exc:  # a bug in a tool must not kill the agent loop
            breaker.record_failure()
            return self._error(f"{name} failed: internal error {type(exc).__name__}: {exc}")
        except BaseException:
            breaker.release()
            raise
        breaker.record_success()
        limit = min(max_bytes, self.max_result_bytes) if max_bytes else self.max_result_bytes
        return result.model_copy(update={"content": truncate_utf8(result.content, limit)})


def argument_schemas(registry: Registry, *, builtins_only: bool = False) -> dict[str, dict[str, Any]]:
    """Tool name -> the JSON schema (object) of its arguments, as models see
    it, for every ``[tools.*]`` entry that can be built here (a Python tool
    whose module cannot be imported is left out). ``builtins_only`` skips
    Python and MCP tools (no imports: what the checker uses)."""
    tools = ToolRegistry(registry, Workspace(Path.cwd()))
    out: dict[str, dict[str, Any]] = {}
    for name, entry in registry.tools.items():
        if builtins_only and not entry.builtin:
            continue
        try:
            out[name] = tools.get(name).spec.parameters
        except Exception:  # not buildable in this environment: its name is still usable, unchecked
            continue
    return out
