"""The ``registry.toml`` schema: everything a workflow may reference by name.

A ``.rag`` file can do nothing its registry does not grant: every model, tool,
agent, reducer, function, store, subgraph and policy it names is an entry
here. The tables are::

    [models.NAME]    a model behind a provider (local, openai, anthropic, ollama, scripted)
    [tools.NAME]     a built-in tool, a Python function (module:function) or an MCP tool
    [agents.NAME]    model + system prompt + tools + iteration cap + output channel
    [reducers.NAME]  a custom channel reducer (module:function)
    [functions.NAME] a router function or a custom node (module:function)
    [stores.NAME]    run journals / stores (sqlite by default)
    [graphs.NAME]    graphs in other .rag files, usable as subgraphs
    [policies.NAME]  what workflows may use; `default` applies to every run,
                     `untrusted` to workflows checked with --untrusted
    [workspace]      the root the file and shell tools are confined to
    [authoring]      the model (and repair rounds) `ragc new` writes with

Durations are numbers of seconds or strings such as ``"30s"``. A model's
``api_key``, ``api_keys`` and ``base_url`` may contain ``${VAR}`` or
``${VAR:-default}``; they are substituted only when a run needs the value
(:mod:`ragc.registry.env`, by the provider factory), so checking a workflow
never needs an API key. Other strings are used as written. Unknown keys are errors (``extra="forbid"``), so a typo in
the registry is reported instead of being silently ignored.

The reference is ``docs/registry.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ragc.syntax.strings import duration_seconds


def _to_seconds(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return duration_seconds(v.strip())
        except ValueError:
            raise ValueError(f"not a duration: {v!r} (use a number of seconds or e.g. \"30s\", \"5m\")") from None
    return v


Seconds = Annotated[float, BeforeValidator(_to_seconds), Field(gt=0, allow_inf_nan=False)]
"""A duration in seconds; accepts ``30``, ``2.5``, ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``.
Must be positive and finite (``0``, ``-5``, ``inf`` and ``nan`` are rejected)."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ProviderName = Literal["local", "openai", "anthropic", "ollama", "scripted"]


class Price(_Entry):
    """Prices in US dollars per million tokens (as providers publish them)."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of one call."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


class ModelEntry(_Entry):
    """``[models.NAME]``.

    Provider-specific keys:

    * ``openai``: ``base_url`` (default ``https://api.openai.com/v1``; any
      OpenAI-compatible server: vLLM, llama.cpp server, LM Studio),
      ``api_key`` or ``api_keys``.
    * ``anthropic``: ``base_url`` (default ``https://api.anthropic.com``),
      ``api_key`` or ``api_keys``, ``params.max_tokens`` (required by the API;
      default 1024).
    * ``ollama``: ``base_url`` (default ``http://127.0.0.1:11434``).
    * ``local``: ``source`` — ``"qwen2.5-coder-0.5b"`` (default),
      ``"smollm2-135m"``, ``"qwen2.5-coder-1.5b"`` or a path to a GGUF file;
      ``threads`` (default 2), ``context`` (tokens, default 4096).
    * ``scripted``: ``script``, a JSONL file of canned responses (tests and
      offline demos; see ``docs/registry.md``).

    Common keys: ``model`` (the provider's model id), ``params`` (temperature,
    max_tokens, top_p, stop... passed through), ``fallbacks`` (registry names
    tried in order when this model fails after retries), ``price``,
    ``timeout`` (seconds per request), ``max_retries``, ``stream``,
    ``tool_protocol`` (``native`` tool calling, or the ``react`` text protocol
    for models without it), ``context_window`` (tokens; enables
    history compaction before overflow).
    """

    provider: ProviderName
    model: str | None = None
    description: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    api_keys: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()
    price: Price | None = None
    timeout: Seconds = 120.0
    connect_timeout: Seconds = 10.0
    max_retries: int = Field(3, ge=0, le=20)
    stream: bool = False
    tool_protocol: Literal["native", "react"] = "native"
    context_window: int | None = Field(None, gt=0)
    # local
    source: str | None = None
    threads: int = Field(2, ge=1, le=64)
    context: int = Field(4096, ge=256)
    # scripted
    script: str | None = None

    @model_validator(mode="after")
    def _provider_keys(self) -> "ModelEntry":
        if self.provider == "scripted" and not self.script:
            raise ValueError("a scripted model needs `script = \"FILE.jsonl\"`")
        if self.provider in ("openai", "anthropic", "ollama") and not self.model:
            raise ValueError(f"a {self.provider} model needs `model = \"...\"` (the provider's model id)")
        return self


BUILTIN_TOOLS = ("read_file", "write_file", "list_files", "search", "run_command", "signal_completion", "run_checks")
"""The names ``[tools.NAME] builtin = ...`` accepts (the harness's
``BUILTIN_NAMES``; the registry stage does not import the harness)."""


class ToolEntry(_Entry):
    """``[tools.NAME]``: exactly one of ``builtin`` (``read_file``,
    ``write_file``, ``list_files``, ``search``, ``run_command``,
    ``signal_completion``), ``python`` (``"package.module:function"``; its
    JSON schema is derived from the signature and docstring by pydantic) or
    ``mcp`` (an MCP server: an inline :class:`McpServerEntry` table, or the
    name of an ``[mcp_servers.NAME]`` entry; ``mcp_tool`` names the server's
    tool when it is not ``NAME``; see ``docs/providers.md``, "MCP tool servers").

    ``config`` is passed to the tool (e.g. ``root`` for a file tool, or
    ``allow`` for ``run_command``); ``timeout`` is in seconds per call."""

    builtin: str | None = None
    python: str | None = None
    mcp: "McpServerEntry | str | None" = None
    description: str | None = None
    timeout: Seconds = 60.0
    config: dict[str, Any] = Field(default_factory=dict)
    mcp_tool: str | None = None
    """The tool's name on its MCP server (default: the registry name)."""

    @field_validator("builtin")
    @classmethod
    def _known_builtin(cls, v: str | None) -> str | None:
        if v is not None and v not in BUILTIN_TOOLS:
            from ragc.diagnostics.suggest import did_you_mean

            guess = did_you_mean(v, BUILTIN_TOOLS)
            raise ValueError(f"unknown builtin `{v}`, " + (f"did you mean `{guess}`?" if guess else
                             "expected one of " + ", ".join(f"`{b}`" for b in BUILTIN_TOOLS)))
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "ToolEntry":
        given = [k for k in ("builtin", "python", "mcp") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a tool needs exactly one of `builtin`, `python` or `mcp`")
        return self


class PrefetchEntry(_Entry):
    """One item of an agent's ``prefetch``: a tool called before the agent's
    first model call, its result added to the prompt. ``args`` values that
    are strings are templates over the agent's input (``{{ input.question }}``)."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


CitationMode = Literal["off", "mark", "remove"]
"""What the citation guard does with a cited path no tool of the run returned
(:mod:`ragc.harness.citations`)."""


class AgentEntry(_Entry):
    """``[agents.NAME]``: a model with a system prompt and tools, looping until
    a final answer or ``max_iterations`` model calls.

    ``prompt`` is a template over the agent's input mapping (``{{ input.x }}``);
    without it the input mapping is given to the model as ``key: value``
    lines. ``output`` is the channel its result is written to when the
    calling node names none. ``system_file`` reads the system prompt from a
    file relative to the registry. Agents found in ``.agents/NAME/AGENT.md``
    folders are added with ``system`` = that file's text (and ``TOOLS.md``
    appended as tool guidance)."""

    model: str = "default"
    system: str | None = None
    system_file: str | None = None
    prompt: str | None = None
    description: str | None = None
    tools: tuple[str, ...] = ()
    max_iterations: int = Field(8, ge=1, le=1000)
    output: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    prefetch: tuple[PrefetchEntry, ...] = ()
    """Tool calls made before the first model call; their results are appended to
    the prompt (retrieval a small model does not have to ask for)."""
    citations: CitationMode = "off"
    """The citation guard on the agent's answer: ``mark`` or ``remove`` file paths it
    cites that no tool of the run returned (``docs/providers.md``, "Citation guard")."""
    memory: tuple[str, ...] = ()
    """Memory stores (``[stores.NAME]`` of a memory kind) recalled into the prompt and
    offered through the ``memory_save`` / ``memory_search`` tools (``docs/memory.md``)."""
    skills: tuple[str, ...] = ()
    """Skills (``[skills.NAME]`` or ``skills/NAME/SKILL.md``) whose instructions and
    tools the agent is given (``docs/registry.md``, "Skills")."""


class ReducerEntry(_Entry):
    """``[reducers.NAME]``: ``python = "module:function"``, called as
    ``function(current, update) -> new`` (pure; must not mutate ``current``)."""

    python: str
    description: str | None = None


class FunctionEntry(_Entry):
    """``[functions.NAME]``: ``python = "module:function"``: a router function
    (``(state, input) -> label``) or a custom node (see ``docs/runtime.md``)."""

    python: str
    description: str | None = None


MEMORY_KINDS = ("memory_files", "episodic", "semantic", "working")
"""Store kinds that are agent memory, not run journals (``docs/memory.md``)."""


class StoreEntry(_Entry):
    """``[stores.NAME]``: a run journal, ``kind = "sqlite"`` with ``path``
    (default ``.ragc/runs.sqlite``), or ``"memory"``; ``postgres`` is
    reserved. Or an agent memory (``docs/memory.md``): ``kind =
    "memory_files"`` (a folder ``folder`` of ``.md`` entries),
    ``"episodic"``, ``"semantic"`` or ``"working"`` (SQLite file ``path``,
    default ``.ragc/memory.sqlite``).

    Memory keys: ``capacity`` (entries kept per agent; the entry with the
    lowest retention score is evicted), ``half_life`` (seconds; recency
    decays as ``0.5 ** (age / half_life)``), ``recall`` (entries recalled
    into the prompt at most), ``recall_tokens`` (token bound of the recalled
    text), ``embedding`` (``"auto"``: the embedding model when installed,
    else lexical BM25; ``"lexical"``; ``"minilm"``: required)."""

    kind: Literal["sqlite", "memory", "postgres", "memory_files", "episodic", "semantic", "working"] = "sqlite"
    path: str | None = None
    url: str | None = None
    folder: str | None = None
    capacity: int | None = Field(None, ge=1, le=1_000_000)
    half_life: Seconds | None = None
    recall: int = Field(5, ge=0, le=100)
    recall_tokens: int = Field(400, ge=0, le=32_000)
    embedding: Literal["auto", "lexical", "minilm"] = "auto"

    @property
    def is_memory(self) -> bool:
        """Whether this store is an agent memory (not a run journal)."""
        return self.kind in MEMORY_KINDS


class GraphEntry(_Entry):
    """``[graphs.NAME]``: ``path`` to a ``.rag`` file (relative to the
    registry) and the ``graph`` in it (default: the only one, or ``NAME``)."""

    path: str
    graph: str | None = None
    description: str | None = None


class RunCommandPolicy(_Entry):
    """Limits of the ``run_command`` tool. ``allow`` lists permitted program
    names (first word of the command); absent means any program, an empty
    list means none. Output is capped at
    ``max_output_bytes``; commands are killed after ``timeout`` seconds."""

    allow: tuple[str, ...] | None = None
    timeout: Seconds = 60.0
    max_output_bytes: int = Field(64 * 1024, ge=1024)
    sandbox: Literal["auto", "require", "off"] | None = None
    """The OS sandbox (bubblewrap, ``docs/security.md``): ``auto`` uses it
    when the machine has it, ``require`` refuses commands without it,
    ``off`` never uses it. Unset: ``auto`` for trusted runs, ``require``
    for ``--untrusted`` runs."""
    network: bool = False
    """Whether commands keep the network inside the sandbox."""
    workspace: Literal["read-write", "read-only"] = "read-write"
    """Whether commands may write the workspace (inside the sandbox)."""
    env: tuple[str, ...] = ()
    """Names of environment variables commands see (besides PATH, HOME,
    TERM, LANG, LC_*, TZ); every other variable, API keys included, is removed."""
    read_only: tuple[str, ...] = ()
    """Extra host paths visible (read-only) inside the sandbox."""
    memory_mb: int | None = Field(4096, ge=0)
    """Address-space limit of a command in MiB (``prlimit --as``); ``0``: none
    (runtimes that reserve large address spaces, such as the JVM or Go, may need it)."""
    cpu_seconds: int | None = Field(None, ge=1)
    """CPU-time limit of a command in seconds (``prlimit --cpu``)."""


class PolicyEntry(_Entry):
    """``[policies.NAME]``: upper bounds a workflow may only narrow.

    ``None`` means "no limit from this policy". ``allow_*`` lists are
    allowlists of registry names; ``deny_tools`` removes names.
    ``require_approval`` (for ``untrusted``): whether ``ragc run
    --untrusted`` needs ``ragc approve`` to have recorded the file's hash
    first; unset means yes, ``false`` turns the check off."""

    allow_tools: tuple[str, ...] | None = None
    deny_tools: tuple[str, ...] = ()
    allow_models: tuple[str, ...] | None = None
    allow_agents: tuple[str, ...] | None = None
    allow_functions: tuple[str, ...] | None = None
    max_steps: int | None = Field(None, ge=1)
    max_concurrency: int | None = Field(None, ge=1)
    max_visits: int | None = Field(None, ge=1)
    timeout: Seconds | None = None
    max_model_calls: int | None = Field(None, ge=0)
    max_tool_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)
    max_cost_usd: float | None = Field(None, ge=0)
    max_subgraph_depth: int | None = Field(None, ge=1)
    run_command: RunCommandPolicy | None = None
    require_approval: bool | None = None

    def narrowed_by(self, other: "PolicyEntry") -> "PolicyEntry":
        """The policy that grants only what both ``self`` and ``other`` grant:
        allowlists intersected (``None`` = no list), deny lists united,
        numeric limits the smaller one, ``run_command`` allowlists
        intersected with the smaller timeout and output cap,
        ``require_approval`` if either requires it."""

        def allow(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
            if a is None or b is None:
                return b if a is None else a
            return tuple(x for x in a if x in b)

        def least(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else min(a, b)

        rc_a, rc_b = self.run_command, other.run_command
        if rc_a is None or rc_b is None:
            run_command = rc_b if rc_a is None else rc_a
        else:
            run_command = RunCommandPolicy(allow=allow(rc_a.allow, rc_b.allow),
                                           timeout=min(rc_a.timeout, rc_b.timeout),
                                           max_output_bytes=min(rc_a.max_output_bytes, rc_b.max_output_bytes),
                                           # the narrower policy's word on the sandbox, when it says one
                                           sandbox=rc_b.sandbox if rc_b.sandbox is not None else rc_a.sandbox,
                                           network=rc_a.network and rc_b.network,
                                           workspace=("read-only" if "read-only" in (rc_a.workspace, rc_b.workspace)
                                                      else "read-write"),
                                           env=tuple(x for x in rc_a.env if x in rc_b.env),
                                           read_only=tuple(x for x in rc_a.read_only if x in rc_b.read_only),
                                           # 0 means no limit: the other policy's limit wins
                                           memory_mb=least(rc_a.memory_mb or None, rc_b.memory_mb or None) or 0,
                                           cpu_seconds=least(rc_a.cpu_seconds, rc_b.cpu_seconds))
        return PolicyEntry(
            allow_tools=allow(self.allow_tools, other.allow_tools),
            deny_tools=tuple(dict.fromkeys(self.deny_tools + other.deny_tools)),
            allow_models=allow(self.allow_models, other.allow_models),
            allow_agents=allow(self.allow_agents, other.allow_agents),
            allow_functions=allow(self.allow_functions, other.allow_functions),
            max_steps=least(self.max_steps, other.max_steps),
            max_concurrency=least(self.max_concurrency, other.max_concurrency),
            max_visits=least(self.max_visits, other.max_visits),
            timeout=least(self.timeout, other.timeout),
            max_model_calls=least(self.max_model_calls, other.max_model_calls),
            max_tool_calls=least(self.max_tool_calls, other.max_tool_calls),
            max_tokens=least(self.max_tokens, other.max_tokens),
            max_cost_usd=least(self.max_cost_usd, other.max_cost_usd),
            max_subgraph_depth=least(self.max_subgraph_depth, other.max_subgraph_depth),
            run_command=run_command,
            require_approval=(True if True in (self.require_approval, other.require_approval)
                              else self.require_approval if self.require_approval is not None
                              else other.require_approval),
        )


class McpServerEntry(_Entry):
    """An MCP server (``[mcp_servers.NAME]``, or inline as ``[tools.NAME] mcp =
    {...}``): exactly one of ``command`` (a stdio server: program and
    arguments, started with ``env`` added to a minimal environment and
    ``cwd`` relative to the registry; a program ``python`` or ``python3``
    means the interpreter ragc runs in) or ``url`` (a streamable-HTTP server).

    ``list_at_check``: ``ragc check`` starts the server, lists its tools
    (cached for ``cache_ttl`` seconds in ``.ragc/mcp-tools.json`` next to the
    registry) and validates tool names and ``args`` against their schemas.
    ``startup_timeout``: seconds to start and initialise a session.
    ``tools``: the server's tools a workflow may use (``None``: all)."""

    command: tuple[str, ...] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    list_at_check: bool = False
    cache_ttl: Seconds = 600.0
    startup_timeout: Seconds = 20.0
    tools: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> "McpServerEntry":
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs exactly one of `command = [PROGRAM, ARGS...]` (stdio) "
                             "or `url = \"http://...\"` (streamable HTTP)")
        if self.command is not None and not self.command:
            raise ValueError("`command` is empty: give the program and its arguments")
        return self


class SkillEntry(_Entry):
    """``[skills.NAME]`` (or a ``skills/NAME/SKILL.md`` folder): a named,
    documented bundle of instructions and tools an agent is given with
    ``skills = ["NAME"]``, or that a workflow runs as a ``subagent`` node
    (``agent "NAME"``). ``instructions`` is appended to the agent's system
    prompt under a ``# Skill: NAME`` heading; ``tools`` are added to its
    tools; ``model`` is the model a skill node runs with."""

    description: str
    instructions: str = ""
    tools: tuple[str, ...] = ()
    model: str = "default"
    max_iterations: int = Field(8, ge=1, le=1000)


class WorkspaceEntry(_Entry):
    """``[workspace]``: ``root`` (relative to the current directory when the
    run starts; default ``"."``) confines every file and shell tool."""

    root: str = "."


class AuthoringEntry(_Entry):
    """``[authoring]``: how ``ragc new`` writes workflows.

    ``model`` is the registry model that writes (``ragc new --model`` overrides
    it; default ``"default"``, the embedded local model in the repository's
    registry); ``rounds`` is how many check-and-repair rounds follow the first
    draft (0 to 10)."""

    model: str = "default"
    rounds: int = Field(default=3, ge=0, le=10)


class Registry(BaseModel):
    """The whole registry. Build it with :func:`ragc.registry.loader.load_registry`.

    ``source`` is the file it was read from (``None`` for an empty or
    programmatic registry); relative paths in entries resolve against
    ``base_dir``."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelEntry] = Field(default_factory=dict)
    tools: dict[str, ToolEntry] = Field(default_factory=dict)
    agents: dict[str, AgentEntry] = Field(default_factory=dict)
    reducers: dict[str, ReducerEntry] = Field(default_factory=dict)
    functions: dict[str, FunctionEntry] = Field(default_factory=dict)
    stores: dict[str, StoreEntry] = Field(default_factory=dict)
    graphs: dict[str, GraphEntry] = Field(default_factory=dict)
    policies: dict[str, PolicyEntry] = Field(default_factory=dict)
    workspace: WorkspaceEntry = Field(default_factory=WorkspaceEntry)
    authoring: AuthoringEntry = Field(default_factory=AuthoringEntry)
    mcp_servers: dict[str, McpServerEntry] = Field(default_factory=dict)
    skills: dict[str, SkillEntry] = Field(default_factory=dict)

    source: Path | None = Field(default=None, exclude=True)
    _mcp_listings: dict[str, list[dict[str, Any]]] = PrivateAttr(default_factory=dict)
    """Server key -> the tools it listed at check time (``name``,
    ``description``, ``input_schema``)."""
    _mcp_failures: dict[str, str] = PrivateAttr(default_factory=dict)
    _mcp_lister: Any = PrivateAttr(default=None)
    """``(key, entry) -> [tool dicts]`` that starts a server and lists it (raises
    when it cannot); installed by the compiler (:func:`ragc.compiler.compile_source`)
    so the registry and check stages never import the MCP client."""
    _invalid: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @property
    def invalid(self) -> dict[str, list[str]]:
        """Table -> names of entries dropped as invalid (already reported): they
        still count as defined, so references to them do not cascade into
        "unknown name" errors."""
        return self._invalid

    @property
    def base_dir(self) -> Path:
        """The registry file's directory (the current directory when ``source`` is ``None``)."""
        return self.source.parent if self.source else Path.cwd()

    def resolve_path(self, relative: str) -> Path:
        """A registry-relative path as an absolute path."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def policy(self, name: str) -> PolicyEntry:
        """The named policy, or an unrestricted one if absent."""
        return self.policies.get(name) or PolicyEntry()

    def names(self, table: str) -> list[str]:
        """Sorted entry names of one table (``"models"``, ``"tools"``...)."""
        return sorted(getattr(self, table))

    def mcp_tool(self, name: str) -> "tuple[str, McpServerEntry, str] | None":
        """The MCP server behind tool ``name``: ``(server key, entry, the
        tool's name on the server)`` for a ``[tools.NAME]`` entry with ``mcp``
        (inline: key ``tools.NAME``; by name: that server's key) or for
        ``"SERVER/TOOL"`` with ``SERVER`` in ``[mcp_servers]``; ``None``
        otherwise (also for ``mcp = "X"`` naming no server)."""
        entry = self.tools.get(name)
        if entry is not None:
            if entry.mcp is None:
                return None
            if isinstance(entry.mcp, str):
                server = self.mcp_servers.get(entry.mcp)
                return (entry.mcp, server, entry.mcp_tool or name) if server is not None else None
            return (f"tools.{name}", entry.mcp, entry.mcp_tool or name)
        server_key, sep, tool = name.partition("/")
        if sep and tool and server_key in self.mcp_servers:
            return (server_key, self.mcp_servers[server_key], tool)
        return None

    @property
    def mcp_listings(self) -> dict[str, list[dict[str, Any]]]:
        """Check-time tool listings by server key (see ``_mcp_listings``)."""
        return self._mcp_listings

    def mcp_listing(self, key: str, entry: "McpServerEntry") -> tuple[list[dict[str, Any]] | None, str | None]:
        """``(tools, None)`` for a server with ``list_at_check = true`` (listed
        once per registry, through the installed lister), ``(None, reason)``
        when it cannot be listed, ``(None, None)`` when it is not to be listed."""
        if key in self._mcp_listings:
            return self._mcp_listings[key], None
        if key in self._mcp_failures:
            return None, self._mcp_failures[key]
        if not entry.list_at_check or self._mcp_lister is None:
            return None, None
        try:
            tools = list(self._mcp_lister(key, entry))
        except Exception as exc:  # noqa: BLE001 (any failure to list is a diagnostic)
            self._mcp_failures[key] = str(exc)
            return None, str(exc)
        self._mcp_listings[key] = tools
        return tools, None


ToolEntry.model_rebuild()
