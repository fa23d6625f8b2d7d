"""MCP tool servers, through the official ``mcp`` Python SDK (``mcp.ClientSession``
over ``mcp.client.stdio.stdio_client`` or
``mcp.client.streamable_http.streamable_http_client``; no protocol code here).

A registry grants an MCP server as a capability (``[mcp_servers.NAME]``, or
inline ``[tools.NAME] mcp = {...}``); a workflow names its tools as
``"SERVER/TOOL"`` (or by the ``[tools.NAME]`` entry). The policy's
``allow_tools`` / ``deny_tools`` and a workflow's ``allow tools`` apply to
those names like to any other tool.

Sessions (:class:`McpPool`): one per server per harness (that is, per run
leg), started lazily by the first listing or call, closed by
:meth:`McpPool.aclose`. The SDK's transports are async context managers
whose cancel scopes must be entered and left by one task, while the harness
calls tools from many tasks; so every session lives in a task of a private
event loop thread (an ``anyio`` blocking portal) that enters the transport,
waits until it is told to stop, and leaves it. Calls are sent to that loop
(the SDK's session multiplexes concurrent requests by id).

Failures (each returns a bounded error result to the model, never a
traceback):

* the server process exits or the connection drops during a call: the call
  fails with "stopped during the call"; the session is discarded and the
  next call starts a new one (at most :data:`MAX_RESTARTS` times per pool).
  The failed call is not retried by itself, since the tool may have acted;
* a result that does not parse as an MCP ``CallToolResult`` (or whose
  structured content breaks its declared output schema): "malformed result";
* a tool that reports ``isError``: its text, as an error result.

Check-time listing (:func:`list_tools_cached`): when the server entry has
``list_at_check = true``, ``ragc check`` lists its tools once and caches
them (``.ragc/mcp-tools.json`` next to the registry, ``cache_ttl`` seconds,
keyed by the entry's JSON) so tool names and node ``args`` are validated
against the server's schemas.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

import anyio
import anyio.from_thread
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, model_validator

from ragc.harness.errors import ConfigError, ToolError
from ragc.harness.tools.base import Tool, clean_schema
from ragc.harness.types import ToolResult
from ragc.registry.model import McpServerEntry, Registry

MAX_RESTARTS = 3
"""Sessions a pool starts again for one server after crashes, before it gives up."""

CACHE_FILE = Path(".ragc") / "mcp-tools.json"
"""Where check-time listings are cached, relative to the registry's directory."""

SEPARATOR = "/"
"""Between server and tool in a workflow's tool name: ``"files/read"``."""


@dataclass(frozen=True)
class McpToolInfo:
    """One tool as a server lists it: ``name``, ``description``, ``input_schema``
    (JSON schema of the arguments, an object schema)."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The cache form."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


class McpUnavailable(Exception):
    """A server that cannot be started, initialised or listed (``message`` says
    why; the caller turns it into a diagnostic or a ``ConfigError``)."""


def split_name(name: str) -> tuple[str, str] | None:
    """``"server/tool"`` as ``("server", "tool")``; ``None`` for a name without
    the separator."""
    server, sep, tool = name.partition(SEPARATOR)
    return (server, tool) if sep and server and tool else None


def server_for(registry: Registry, name: str) -> tuple[str, McpServerEntry, str] | None:
    """The (server key, server entry, tool name on the server) behind tool
    ``name`` (:meth:`ragc.registry.model.Registry.mcp_tool`)."""
    return registry.mcp_tool(name)


# --------------------------------------------------------------------------- one session


async def _open_transport(stack: AsyncExitStack, entry: McpServerEntry, base_dir: Path) -> tuple[Any, Any]:
    """Enter the SDK transport of ``entry`` on ``stack``; its (read, write) streams."""
    if entry.command is not None:
        from mcp import StdioServerParameters
        from mcp.client.stdio import get_default_environment, stdio_client

        env = {**get_default_environment(), **entry.env}
        cwd = str((base_dir / entry.cwd) if entry.cwd else base_dir)
        program = entry.command[0]
        if program in ("python", "python3"):
            # the interpreter ragc runs in: a server written in Python finds the same packages (the mcp SDK)
            program = sys.executable
        params = StdioServerParameters(command=program, args=list(entry.command[1:]), env=env, cwd=cwd)
        # the server's stderr would interleave with the live view; it goes to the null device
        errlog = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
        streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        return streams[0], streams[1]
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    # a loopback server is never reached through an environment proxy
    http = await stack.enter_async_context(httpx.AsyncClient(
        headers=dict(entry.headers), timeout=httpx.Timeout(entry.startup_timeout, read=300.0),
        mounts={"all://127.0.0.1": None, "all://localhost": None, "all://[::1]": None}))
    streams = await stack.enter_async_context(streamable_http_client(entry.url, http_client=http))
    return streams[0], streams[1]


def _is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` means the server went away (not a tool error)."""
    from mcp.shared.exceptions import McpError
    from mcp.types import CONNECTION_CLOSED

    if isinstance(exc, McpError):
        return exc.error.code == CONNECTION_CLOSED
    return isinstance(exc, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream,
                            BrokenPipeError, ConnectionError))


class _Session:
    """One live session; runs inside the pool's event loop thread."""

    def __init__(self, key: str, entry: McpServerEntry, base_dir: Path):
        self.key = key
        self.entry = entry
        self.base_dir = base_dir
        self.client: Any = None
        self.tools: dict[str, McpToolInfo] = {}
        self.dead = False
        self._stop: Any = None  # an anyio.Event of the portal's loop, made there by main()

    async def main(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        from mcp import ClientSession

        self._stop = anyio.Event()
        started = False
        try:
            async with AsyncExitStack() as stack:
                # the transports open task groups: they are entered outside the timeout's cancel scope
                read, write = await _open_transport(stack, self.entry, self.base_dir)
                self.client = await stack.enter_async_context(ClientSession(read, write))
                with anyio.fail_after(self.entry.startup_timeout):
                    await self.client.initialize()
                    listed = await self.client.list_tools()
                self.tools = {t.name: McpToolInfo(t.name, t.description or "", dict(t.inputSchema or {}))
                              for t in listed.tools}
                started = True
                task_status.started(self)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 (reported to the caller, never raised into the loop)
            self.dead = True
            if not started or isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            # a crash after start: the session is discarded; the next call starts another
            return
        finally:
            self.dead = True

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float | None) -> Any:
        return await self.client.call_tool(tool, arguments,
                                           read_timeout_seconds=timedelta(seconds=timeout_s) if timeout_s else None)

    def stop(self) -> None:
        """Let :meth:`main` leave its transport (call it in the portal's loop)."""
        self.dead = True
        if self._stop is not None:
            self._stop.set()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class McpPool:
    """The MCP sessions of one harness: one per server, started lazily, closed
    by :meth:`aclose`, restarted after a crash (at most :data:`MAX_RESTARTS`
    times per server).

    Args:
        registry: the registry (server entries; ``base_dir`` for ``cwd``).
    """

    def __init__(self, registry: Registry):
        self.registry = registry
        self._portal_cm: Any = None
        self._portal: Any = None
        self._sessions: dict[str, _Session] = {}
        self._starts: dict[str, int] = {}
        self._lock = anyio.Lock()

    def _portal_now(self) -> Any:
        if self._portal is None:
            self._portal_cm = anyio.from_thread.start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
        return self._portal

    def _start_sync(self, key: str, entry: McpServerEntry) -> _Session:
        session = _Session(key, entry, self.registry.base_dir)
        portal = self._portal_now()
        try:
            portal.start_task(session.main, name=f"mcp:{key}")
        except BaseException as exc:  # noqa: BLE001
            raise McpUnavailable(f"MCP server `{key}` did not start: {_describe(_leaf(exc))}") from None
        return session

    async def session(self, key: str, entry: McpServerEntry) -> _Session:
        """The live session of server ``key`` (started now if there is none).

        Raises:
            McpUnavailable: the server cannot be started or listed, or it
                crashed more than :data:`MAX_RESTARTS` times.
        """
        async with self._lock:
            current = self._sessions.get(key)
            if current is not None and not current.dead:
                return current
            starts = self._starts.get(key, 0)
            if starts > MAX_RESTARTS:
                raise McpUnavailable(f"MCP server `{key}` stopped {starts} times; not started again in this run")
            self._starts[key] = starts + 1
            session = await anyio.to_thread.run_sync(self._start_sync, key, entry)
            self._sessions[key] = session
            return session

    async def tool(self, name: str, timeout_s: float | None = None) -> "McpTool":
        """The :class:`Tool` for workflow tool ``name``.

        Raises:
            ConfigError: not an MCP tool of the registry, the server cannot be
                started, or it has no such tool (did-you-mean in the hint).
        """
        found = server_for(self.registry, name)
        if found is None:
            raise ConfigError(f"`{name}` is not an MCP tool of the registry")
        key, entry, remote = found
        if entry.tools is not None and remote not in entry.tools:
            raise ConfigError(f"tool `{remote}` of MCP server `{key}` is not granted by the registry",
                              hint=f"the server entry's `tools` lists: {', '.join(entry.tools) or 'none'}")
        try:
            session = await self.session(key, entry)
        except McpUnavailable as exc:
            raise ConfigError(str(exc), hint="check the server's `command`/`url` in registry.toml") from None
        info = session.tools.get(remote)
        if info is None:
            from ragc.diagnostics.suggest import did_you_mean

            guess = did_you_mean(remote, list(session.tools))
            raise ConfigError(f"MCP server `{key}` has no tool `{remote}`",
                              hint=f"did you mean `{guess}`?" if guess else
                              f"its tools: {', '.join(sorted(session.tools)) or 'none'}")
        return mcp_tool(name, info, self, key, entry, timeout_s=timeout_s)

    async def call(self, key: str, entry: McpServerEntry, tool: str, arguments: dict[str, Any],
                   timeout_s: float | None) -> ToolResult:
        """Call ``tool`` on server ``key``; see the module doc for failures.

        Raises:
            ToolError: ``kind="exception"`` for a crash, a malformed result or
                a server that cannot be started.
        """
        try:
            session = await self.session(key, entry)
        except McpUnavailable as exc:
            raise ToolError(str(exc), kind="exception") from None
        portal = self._portal_now()
        try:
            result = await anyio.to_thread.run_sync(portal.call, session.call, tool, arguments, timeout_s,
                                                    abandon_on_cancel=True)
        except BaseException as exc:  # noqa: BLE001
            leaf = _leaf(exc)
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise  # the caller's timeout or cancellation; the call ends in the portal by its read timeout
            if session.dead or _is_disconnect(leaf):
                session.dead = True  # its event is set in the portal's loop, not from this thread
                portal_stop(portal, session)
                raise ToolError(f"MCP server `{key}` stopped during the call ({_describe(leaf)}); it is started "
                                "again for the next call", kind="exception") from None
            if _is_timeout(leaf):
                raise ToolError(f"MCP server `{key}` did not answer `{tool}` within {timeout_s:g}s",
                                kind="timeout") from None
            raise ToolError(f"MCP server `{key}` returned a malformed result for `{tool}`: {_describe(leaf)}",
                            kind="exception") from None
        return convert_result(result)

    async def aclose(self) -> None:
        """Stop every session (each transport is left by the task that entered
        it) and the event loop thread. Idempotent."""
        if self._portal is None:
            return
        portal, cm = self._portal, self._portal_cm
        self._portal = self._portal_cm = None
        sessions = list(self._sessions.values())
        self._sessions.clear()

        def shutdown() -> None:
            for s in sessions:
                portal_stop(portal, s)
            cm.__exit__(None, None, None)

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(shutdown)


def portal_stop(portal: Any, session: _Session) -> None:
    """Tell ``session`` (in ``portal``'s loop) to leave its transport."""
    try:
        portal.call(session.stop)
    except RuntimeError:  # the portal is already closed
        session.dead = True


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _is_timeout(exc: BaseException) -> bool:
    from mcp.shared.exceptions import McpError

    # the SDK (mcp.shared.session) reports a read timeout as an McpError with code 408
    return isinstance(exc, TimeoutError) or (isinstance(exc, McpError) and exc.error.code == 408)


def convert_result(result: Any) -> ToolResult:
    """An SDK ``CallToolResult`` as a :class:`ToolResult`: text blocks joined
    with blank lines (other blocks named by type), ``structuredContent`` (or
    the text when there is none) as ``value``, ``isError`` as ``is_error``."""
    parts: list[str] = []
    for block in result.content or []:
        text = getattr(block, "text", None)
        if text is not None:
            parts.append(text)
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} block]")
    content = "\n\n".join(parts)
    structured = getattr(result, "structuredContent", None)
    if not content and structured is not None:
        content = json.dumps(structured, ensure_ascii=False)
    value = structured if structured is not None else content
    return ToolResult(content=content, value=value, is_error=bool(result.isError))


# --------------------------------------------------------------------------- tools


@dataclass
class McpTool(Tool):
    """A :class:`Tool` whose schema is the server's ``inputSchema`` verbatim."""

    schema: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, Any]:
        """The server's argument schema (titles removed)."""
        return clean_schema(self.schema)


def args_model(schema: Mapping[str, Any]) -> type[BaseModel]:
    """A pydantic model that validates arguments against JSON schema
    ``schema`` (with ``jsonschema``, the validator class the schema's
    ``$schema`` names, Draft 2020-12 by default) and keeps them as extras."""
    import jsonschema

    cls = jsonschema.validators.validator_for(dict(schema), default=jsonschema.Draft202012Validator)
    validator = cls(dict(schema))

    class McpArguments(BaseModel):
        model_config = ConfigDict(extra="allow")

        @model_validator(mode="before")
        @classmethod
        def _against_schema(cls, data: Any) -> Any:
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
            if errors:
                raise ValueError("; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: "
                                           f"{e.message}" for e in errors[:5]))
            return data

    return McpArguments


def mcp_tool(name: str, info: McpToolInfo, pool: McpPool, key: str, entry: McpServerEntry, *,
             timeout_s: float | None = None) -> McpTool:
    """The tool ``name`` that calls ``info.name`` on server ``key`` through ``pool``."""
    model = args_model(info.input_schema or {"type": "object"})
    timeout = timeout_s or 60.0

    async def invoke(args: BaseModel) -> ToolResult:
        return await pool.call(key, entry, info.name, dict(args.model_extra or {}), timeout)

    return McpTool(name=name, description=info.description or f"`{info.name}` of MCP server `{key}`",
                   args_model=model, invoke=invoke, timeout_s=timeout + 5, kind=f"mcp:{key}/{info.name}",
                   schema=dict(info.input_schema or {"type": "object"}))


# --------------------------------------------------------------------------- check-time listing


def _cache_key(entry: McpServerEntry) -> str:
    return hashlib.sha256(entry.model_dump_json().encode("utf-8")).hexdigest()[:16]


def list_tools_now(entry: McpServerEntry, base_dir: Path, key: str = "server") -> list[McpToolInfo]:
    """Start the server, list its tools and stop it (synchronous; runs in its
    own event loop thread, so it may be called from anywhere).

    Raises:
        McpUnavailable: it could not be started or listed within
            ``startup_timeout``.
    """
    registry = Registry()
    registry.source = base_dir / "registry.toml"
    pool = McpPool(registry)
    try:
        session = pool._start_sync(key, entry)
        tools = list(session.tools.values())
        portal_stop(pool._portal, session)
        return tools
    finally:
        if pool._portal_cm is not None:
            pool._portal_cm.__exit__(None, None, None)


def list_tools_cached(entry: McpServerEntry, base_dir: Path, key: str = "server", *,
                      now: float | None = None) -> list[McpToolInfo]:
    """:func:`list_tools_now`, served from ``CACHE_FILE`` when a listing of
    the same entry is younger than ``entry.cache_ttl`` seconds.

    Raises:
        McpUnavailable: see :func:`list_tools_now`.
    """
    now = time.time() if now is None else now
    path = base_dir / CACHE_FILE
    cache: dict[str, Any] = {}
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    ck = _cache_key(entry)
    hit = cache.get(ck)
    if isinstance(hit, dict) and now - float(hit.get("at", 0)) < entry.cache_ttl:
        return [McpToolInfo(t["name"], t.get("description", ""), t.get("input_schema", {})) for t in hit["tools"]]
    tools = list_tools_now(entry, base_dir, key)
    cache[ck] = {"at": now, "server": key, "tools": [t.to_json() for t in tools]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only checkout still checks; it lists again next time
    return tools
