"""Finding and loading ``registry.toml`` into a :class:`Registry`, with
diagnostics that point into the TOML.

Search order: an explicit ``--registry FILE``, else ``registry.toml`` in
the current directory or the nearest parent that has one -- walking up as
cargo does for ``Cargo.toml`` and git for ``.git``, and stopping at the
directory that holds ``.git`` (the project root) or at the filesystem root
--, else ``$XDG_CONFIG_HOME/ragc/registry.toml``
(``~/.config/ragc/registry.toml`` when ``XDG_CONFIG_HOME`` is unset). None
found: an empty registry and warning ``W0801``. :func:`project_root` is the
directory of the registry found walking up (the CLI keeps its default
journal, ``.ragc/runs.sqlite``, there).

A broken registry never raises: TOML syntax errors (``E0801``), unknown keys
(``E0802``), wrong types or values (``E0803``), bad durations (``E0804``) and
missing keys (``E0805``) become diagnostics at the TOML line and column of
the offending key or value (located by :mod:`ragc.registry.toml_spans`).
The offending keys (or, when an entry cannot be repaired, the entry) are
dropped and the rest is loaded, so one typo does not hide every name of the
registry from the checker. Cross references between entries (an agent's
model or tools, fallbacks, policy allow lists) are checked (``E0807``), and
so are files the registry names (``E0808`` missing; ``E0890`` a NUL byte in
the name, a FIFO, a device, a directory or a file over 4 MiB, judged by
``stat`` so that nothing blocks: :mod:`ragc.registry.files`).

``${VAR}`` references are left as written: :mod:`ragc.registry.env`
substitutes them only when a run needs the value.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span
from ragc.diagnostics.suggest import did_you_mean
from ragc.registry.agents_md import discover
from ragc.registry.env import malformed
from ragc.registry.files import MAX_REFERENCED_BYTES, ReferencedFileError, check_referenced
from ragc.registry.model import Registry
from ragc.registry.toml_spans import TomlLocation, locate, nearest
from ragc.registry.validation import data_path, model_at, value_message

REGISTRY_FILE = "registry.toml"


@dataclass
class RegistryLoad:
    """The outcome of :func:`load_registry`.

    ``registry``: the loaded registry (with broken keys or entries dropped),
    ``None`` only when the file could not be read or is not TOML.
    ``path``: the file read (``None`` when none was found).
    ``diagnostics``: in file order. ``source``: the registry's text.
    ``sources``: file name -> text of every file a diagnostic points into
    (the registry and any ``AGENT.md``), for :func:`ragc.diagnostics.render.render_text`.
    ``display``: the registry's file name as used in diagnostics.
    """

    registry: Registry | None
    path: Path | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    display: str | None = None

    @property
    def ok(self) -> bool:
        """No error diagnostics (warnings allowed)."""
        return self.registry is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def io_error(self) -> bool:
        """The registry file could not be read (``E0806``): a usage/I-O error."""
        return any(d.code == "E0806" and d.span is None and self.registry is None for d in self.diagnostics)


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/ragc/registry.toml`` or ``~/.config/ragc/registry.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path.home() / ".config"
    return root / "ragc" / REGISTRY_FILE


def search_dirs(cwd: Path) -> list[Path]:
    """``cwd`` (absolute) and its parents, nearest first, up to and including
    the first one that holds ``.git`` (a file or a directory: worktrees and
    submodules have a ``.git`` file), else up to the filesystem root."""
    here = Path(os.path.abspath(cwd))
    out = []
    for d in (here, *here.parents):
        out.append(d)
        if (d / ".git").exists():
            break
    return out


def find_upward(cwd: Path) -> Path | None:
    """The nearest ``registry.toml`` in :func:`search_dirs` of ``cwd``, or ``None``."""
    for d in search_dirs(cwd):
        if (d / REGISTRY_FILE).is_file():
            return d / REGISTRY_FILE
    return None


def project_root(cwd: Path) -> Path:
    """The project's root directory: where :func:`find_upward` found
    ``registry.toml``, else ``cwd`` itself."""
    found = find_upward(cwd)
    return found.parent if found is not None else Path(os.path.abspath(cwd))


def find_registry(explicit: Path | None, cwd: Path) -> Path | None:
    """The registry file to use (the search order of the module docs).

    Args:
        explicit: ``--registry FILE``; returned as given (even if missing:
            :func:`load_registry` then reports it).
        cwd: the directory where the upward search for ``registry.toml`` starts.

    Returns:
        The path, or ``None`` when no registry exists in the search order.
    """
    if explicit is not None:
        return Path(explicit)
    found = find_upward(cwd)
    if found is not None:
        return found
    return config_path() if config_path().is_file() else None


def _searched(cwd: Path) -> str:
    dirs = search_dirs(cwd)
    return str(dirs[0]) if len(dirs) == 1 else f"{dirs[0]}` and its parents up to `{dirs[-1]}"


def _display(path: Path, cwd: Path) -> str:
    try:
        return os.path.relpath(path, cwd) if Path(path).resolve().is_relative_to(Path(cwd).resolve()) else str(path)
    except (ValueError, OSError):
        return str(path)


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _toml_error(e: tomllib.TOMLDecodeError, text: str, file: str) -> Diagnostic:
    msg = str(e)
    m = _TOML_POS.search(msg)
    message = _TOML_POS.sub("", msg).strip()
    message = (message[0].lower() + message[1:]) if message else "invalid TOML"
    if not m:
        return Diagnostic("E0801", Severity.ERROR, f"invalid TOML: {message}", None)
    line, col = int(m.group(1)), int(m.group(2))
    lines = text.split("\n")
    offset = sum(len(l) + 1 for l in lines[: line - 1]) + col - 1
    width = 1 if offset < len(text) and text[offset] != "\n" else 0
    span = Span(file, offset, offset + width, line, col, line, col + width)
    return Diagnostic("E0801", Severity.ERROR, f"invalid TOML: {message}", Label(span, "here"))


# --------------------------------------------------------------------------- pydantic errors -> diagnostics


def _table_name(path: tuple) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


def _convert(err: dict, data: dict, found: dict[tuple, TomlLocation], file: str) -> tuple[Diagnostic, tuple]:
    """One pydantic error -> (diagnostic, path of the data to drop)."""
    path = data_path(tuple(err["loc"]), data)
    t = err["type"]
    loc = nearest(found, path)
    span = (loc.key if loc else None)
    if t == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        table = path[:-1]
        cls = model_at(table)
        allowed = sorted(cls.model_fields) if cls else []
        if cls is Registry:
            allowed = [k for k in allowed if k != "source"]
        guess = did_you_mean(key, allowed)
        where = f"`[{_table_name(table)}]`" if table else "the registry"
        help_ = f"did you mean `{guess}`?" if guess else (
            "known keys: " + ", ".join(f"`{k}`" for k in allowed) if allowed else None)
        d = Diagnostic("E0802", Severity.ERROR, f"unknown key `{key}` in {where}",
                       Label(span, "unknown key") if span else None, help=help_)
        return d, path
    if t == "missing":
        key = str(path[-1]) if path else "?"
        entry = path[:-1]
        loc = nearest(found, entry)
        d = Diagnostic("E0805", Severity.ERROR, f"missing key `{key}` in `[{_table_name(entry)}]`",
                       Label(loc.key, f"`{key}` is required here") if loc else None)
        return d, entry[:2] if len(entry) >= 2 else entry
    msg = value_message(err)
    value_span = loc.value if (loc and loc.value is not None and tuple(path) in found) else span
    if t == "value_error" and "not a duration" in err["msg"]:
        shown = err.get("input")
        d = Diagnostic("E0804", Severity.ERROR, f"invalid duration `{shown}`",
                       Label(value_span, "not a duration") if value_span else None,
                       help='write a number of seconds or a string such as "250ms", "30s", "5m", "1h"')
        return d, path
    cls = model_at(path)
    if cls is not None and t == "value_error":
        # a model-level validator: the entry as a whole is wrong
        d = Diagnostic("E0803", Severity.ERROR, f"invalid entry `[{_table_name(path)}]`: {msg}",
                       Label(span, "in this entry") if span else None)
        return d, path[:2] if len(path) >= 2 else path
    key = str(path[-1]) if path else "?"
    table = path[:-1]
    if isinstance(path[-1:] and path[-1], int) and len(path) >= 2:
        key = f"{path[-2]}[{path[-1]}]"
        table = path[:-2]
    d = Diagnostic("E0803", Severity.ERROR, f"invalid value for `{key}` in `[{_table_name(table)}]`: {msg}",
                   Label(value_span, msg) if value_span else None)
    drop = path if not isinstance(path[-1:] and path[-1], int) else path[:-1]
    return d, drop


def _delete(data: dict, path: tuple) -> bool:
    cur: Any = data
    for part in path[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            return False
    last = path[-1] if path else None
    if isinstance(cur, dict) and last in cur:
        del cur[last]
        return True
    if isinstance(cur, list) and isinstance(last, int) and last < len(cur):
        del cur[last]
        return True
    return False


TABLES_WITH_NAMES = ("models", "tools", "agents", "reducers", "functions", "stores", "graphs", "policies")


def _validate(data: dict, found: dict, file: str) -> tuple[Registry, list[Diagnostic]]:
    """Validate, dropping offending keys/entries until the rest validates."""
    diags: list[Diagnostic] = []
    work = copy.deepcopy(data)
    if "source" in work:  # not a TOML key: the field records where the registry came from
        loc = found.get(("source",))
        diags.append(Diagnostic("E0802", Severity.ERROR, "unknown key `source` in the registry",
                                Label(loc.key, "unknown key") if loc else None))
        del work["source"]
    reported: list[tuple] = []  # data paths already reported in earlier rounds
    for _attempt in range(8):
        try:
            reg = Registry.model_validate(work)
            reg._invalid = {t: [n for n in data[t] if n not in getattr(reg, t)] for t in TABLES_WITH_NAMES
                           if isinstance(data.get(t), dict) and any(n not in getattr(reg, t) for n in data[t])}
            return reg, diags
        except ValidationError as e:
            # convert every error against the same data before dropping anything, so that
            # a dropped key does not change how the next error of the round is located
            converted = [(_convert(err, work, found, file), data_path(tuple(err["loc"]), work)) for err in e.errors()]
            dropped = False
            round_paths = []
            for (d, drop), path in converted:
                # an error at (or above) a key dropped in an earlier round is a consequence of
                # that drop (`provider = 3` then "missing `provider`"): drop, but do not repeat
                if not any(p[:len(path)] == path for p in reported):
                    diags.append(d)
                round_paths.append(path)
                dropped = _delete(work, drop) or dropped
            reported += round_paths
            if not dropped:
                break
    return Registry(), diags


# --------------------------------------------------------------------------- cross references


def _refs(reg: Registry, found: dict, file: str, agent_files: dict[str, Path]) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def report(path: tuple, name: str, table: str, what: str) -> None:
        if name in reg.invalid.get(table, ()):
            return  # the entry exists but is invalid: reported once, where it is defined
        loc = found.get(path) or nearest(found, path)
        span = loc.value if (loc and loc.value is not None and path in found) else (loc.key if loc else None)
        candidates = reg.names(table)
        guess = did_you_mean(name, candidates)
        singular = table[:-1]
        out.append(Diagnostic("E0807", Severity.ERROR, f"unknown {singular} `{name}` in {what}",
                              Label(span, f"not a `[{table}.*]` entry") if span else None,
                              help=f"did you mean `{guess}`?" if guess else None))

    for name, agent in reg.agents.items():
        where = f"agent `{name}`" + (f" ({agent_files[name]})" if name in agent_files else "")
        if agent.model not in reg.models:
            report(("agents", name, "model"), agent.model, "models", where)
        for i, tool in enumerate(agent.tools):
            if tool not in reg.tools and reg.mcp_tool(tool) is None:
                report(("agents", name, "tools", i), tool, "tools", where)
        for i, pre in enumerate(agent.prefetch):
            if pre.tool not in reg.tools:
                report(("agents", name, "prefetch", i, "tool"), pre.tool, "tools", f"the prefetch of {where}")
    if "authoring" in reg.model_fields_set and reg.authoring.model not in reg.models:
        report(("authoring", "model"), reg.authoring.model, "models", "`[authoring]`")
    for name, model in reg.models.items():
        for i, fb in enumerate(model.fallbacks):
            if fb not in reg.models:
                report(("models", name, "fallbacks", i), fb, "models", f"the fallbacks of model `{name}`")
    for pname, pol in reg.policies.items():
        for key, table in (("allow_tools", "tools"), ("deny_tools", "tools"), ("allow_models", "models"),
                           ("allow_agents", "agents"), ("allow_functions", "functions")):
            for i, n in enumerate(getattr(pol, key) or ()):
                if n not in getattr(reg, table) and not (table == "tools" and reg.mcp_tool(n) is not None):
                    report(("policies", pname, key, i), n, table, f"`{key}` of policy `{pname}`")
    return out


def _files(reg: Registry, found: dict) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def check(path: tuple, rel: str | None, what: str) -> None:
        if rel is None or "${" in rel:
            return
        loc = found.get(path)
        if "\x00" in rel:
            out.append(Diagnostic("E0890", Severity.ERROR, f"{what} has a NUL byte in its name",
                                  Label(loc.value or loc.key, "a file name cannot hold a NUL byte") if loc else None,
                                  help="remove the `\\u0000` from the path"))
            return
        target = reg.resolve_path(rel)
        try:
            if not rel.strip():
                raise ReferencedFileError("not found", missing=True)
            check_referenced(target)
        except ReferencedFileError as e:
            if e.missing:
                out.append(Diagnostic("E0808", Severity.ERROR, f"{what} `{rel}` not found",
                                      Label(loc.value or loc.key, f"no such file: {target}") if loc else None,
                                      help="paths are relative to the registry's directory"))
            else:
                out.append(Diagnostic("E0890", Severity.ERROR, f"{what} `{rel}` {e.reason}",
                                      Label(loc.value or loc.key, "not read") if loc else None,
                                      help=f"a registry names regular text files of at most "
                                           f"{MAX_REFERENCED_BYTES // (1024 * 1024)} MiB"))

    for name, g in reg.graphs.items():
        check(("graphs", name, "path"), g.path, f"graph file of `{name}`")
    for name, a in reg.agents.items():
        check(("agents", name, "system_file"), a.system_file, f"system file of agent `{name}`")
    for name, m in reg.models.items():
        if m.provider == "scripted":
            check(("models", name, "script"), m.script, f"script of model `{name}`")
    return out


COMMAND_BUILTINS = ("run_command", "run_checks")


def _sandbox(reg: Registry, found: dict) -> list[Diagnostic]:
    """``W0960`` at the first command tool (``builtin = "run_command"`` or
    ``"run_checks"``) when this machine has no OS sandbox
    (:mod:`ragc.registry.host_sandbox`) and the default policy does not
    turn it off: commands then run with the argument checks only, and
    ``--untrusted`` runs refuse them."""
    tools = [n for n, t in reg.tools.items() if t.builtin in COMMAND_BUILTINS]
    if not tools:
        return []
    rc = reg.policy("default").run_command
    if rc is not None and rc.sandbox == "off":
        return []
    from ragc.registry.host_sandbox import status

    st = status()
    if st.available:
        return []
    path = ("tools", tools[0], "builtin")
    loc = found.get(path) or nearest(found, path)
    span = loc.value if (loc and loc.value is not None and path in found) else (loc.key if loc else None)
    refused = rc is not None and rc.sandbox == "require"
    return [Diagnostic("W0960", Severity.WARNING,
                       f"no OS sandbox on this machine ({st.reason}): "
                       + ("the policy requires one, so commands are refused" if refused else
                          "commands run with the argument checks only, and `--untrusted` runs refuse them"),
                       Label(span, f"tool `{tools[0]}` runs commands") if span else None,
                       help="install bubblewrap (`apt-get install bubblewrap`); see docs/security.md")]


def _secret_values(reg: Registry, found: dict) -> list[Diagnostic]:
    """``E0891`` for an ``api_key``/``api_keys`` value with a control
    character: written so in the TOML, or in a ``${VAR}`` that is set now
    (an unset one is the run's business). The message never shows the value;
    a trailing newline alone is not reported here (a run strips it, with
    warning W0891)."""
    from ragc.registry.env import UnsetVariable, substitute
    from ragc.registry.secrets import SecretValueError, remember, validate_secret

    out: list[Diagnostic] = []
    for name, m in reg.models.items():
        values = [(("models", name, "api_key"), "api_key", m.api_key)]
        values += [(("models", name, "api_keys", i), f"api_keys[{i}]", k) for i, k in enumerate(m.api_keys)]
        for path, key, value in values:
            if not value:
                continue
            try:
                actual = substitute(value, os.environ)
            except UnsetVariable:
                continue
            try:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the trailing newline is reported by the run that strips it
                    validate_secret(actual, where=f"model `{name}`: {key}")
            except SecretValueError as e:
                remember(actual)
                loc = found.get(path) or nearest(found, path)
                span = loc.value if (loc and loc.value is not None and path in found) else (loc.key if loc else None)
                out.append(Diagnostic("E0891", Severity.ERROR, str(e).replace(" (E0891)", ""),
                                      Label(span, "this secret") if span else None,
                                      help="set the key alone, without control characters; the value is "
                                           "never shown"))
    return out


def _variables(reg: Registry, found: dict) -> list[Diagnostic]:
    """``E0803`` for a malformed ``${...}`` in the model strings a run
    substitutes (``api_key``, ``api_keys``, ``base_url``): left as written,
    it would be sent to the provider verbatim."""
    out: list[Diagnostic] = []
    for name, m in reg.models.items():
        values: list[tuple[tuple, str, str | None]] = [(("models", name, "api_key"), "api_key", m.api_key),
                                                       (("models", name, "base_url"), "base_url", m.base_url)]
        values += [(("models", name, "api_keys", i), f"api_keys[{i}]", k) for i, k in enumerate(m.api_keys)]
        for path, key, value in values:
            bad = malformed(value) if value else None
            if bad is None:
                continue
            loc = found.get(path) or nearest(found, path)
            span = loc.value if (loc and loc.value is not None and path in found) else (loc.key if loc else None)
            out.append(Diagnostic("E0803", Severity.ERROR,
                                  f"invalid value for `{key}` in `[models.{name}]`: malformed variable reference "
                                  f"`{bad}`", Label(span, "malformed `${...}`") if span else None,
                                  help="write `${VAR}` or `${VAR:-default}` (VAR: letters, digits and `_`, not "
                                       "starting with a digit), or `$$` for a literal `$`"))
    return out


# --------------------------------------------------------------------------- entry point


def _add_skills(load: RegistryLoad, base_dir: Path, cwd: Path, found: dict) -> None:
    """Skills discovered under ``base_dir`` added to ``load.registry``, and
    the extension tables' cross-references checked (:mod:`ragc.skills`,
    :mod:`ragc.registry.extensions`)."""
    from ragc.registry.extensions import extension_refs
    from ragc.skills import with_skills

    reg, disc = with_skills(load.registry, base_dir, cwd)
    load.registry = reg
    load.diagnostics += disc.diagnostics
    load.sources.update(disc.sources)
    load.diagnostics += extension_refs(reg, found)


def load_registry(path: Path | str | None = None, *, cwd: Path | None = None,
                  discover_agents: bool = True) -> RegistryLoad:
    """Find, read and validate the registry.

    Args:
        path: an explicit registry file (``--registry``); ``None`` searches
            (see :func:`find_registry`).
        cwd: the directory to search and to show file names relative to
            (default: the process's current directory).
        discover_agents: add agents of ``.agents/NAME/AGENT.md`` folders
            next to the registry (registry entries win on a name clash).

    Returns:
        A :class:`RegistryLoad`. Never raises for a missing, unreadable or
        malformed registry: those are diagnostics (``E0806`` for a file that
        cannot be read, with ``registry=None``).
    """
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    found_path = find_registry(Path(path) if path is not None else None, cwd)
    if found_path is None:
        reg = Registry()
        load = RegistryLoad(reg, None)
        load.diagnostics.append(Diagnostic(
            "W0801", Severity.WARNING, "no registry found; checking against an empty registry", None,
            notes=(f"looked for `{REGISTRY_FILE}` in `{_searched(cwd)}`, and for `{config_path()}`",),
            help="pass one with `--registry FILE`"))
        if discover_agents:
            disc = discover(cwd, cwd)
            load.registry = reg.model_copy(update={"agents": dict(disc.agents)})
            load.diagnostics += disc.diagnostics
            load.sources.update(disc.sources)
            _add_skills(load, cwd, cwd, {})
        return load

    file = _display(found_path, cwd)
    try:
        text = found_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        reason = reason[:1].lower() + reason[1:]
        return RegistryLoad(None, found_path, [Diagnostic(
            "E0806", Severity.ERROR, f"cannot read registry `{file}`: {reason}", None)], display=file)
    load = RegistryLoad(None, found_path, [], text, {file: text}, file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        load.diagnostics.append(_toml_error(e, text, file))
        return load
    found = locate(text, file)
    reg, diags = _validate(data, found, file)
    reg = reg.model_copy(update={"source": found_path.resolve()})
    load.diagnostics += diags
    agent_files: dict[str, Path] = {}
    if discover_agents:
        disc = discover(reg.base_dir, cwd)
        merged = dict(disc.agents)
        merged.update(reg.agents)
        agent_files = {n: p for n, p in disc.files.items() if n not in reg.agents}
        reg = reg.model_copy(update={"agents": merged})
        load.diagnostics += disc.diagnostics
        load.sources.update(disc.sources)
    load.registry = reg
    if discover_agents:
        _add_skills(load, reg.base_dir, cwd, found)
        reg = load.registry
    load.diagnostics += _refs(reg, found, file, agent_files)
    load.diagnostics += _files(reg, found)
    load.diagnostics += _variables(reg, found)
    load.diagnostics += _secret_values(reg, found)
    load.diagnostics += _sandbox(reg, found)
    load.diagnostics.sort(key=Diagnostic.sort_key)
    load.registry = reg
    return load
