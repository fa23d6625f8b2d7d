"""The front-end driver: ``.rag`` text -> parse -> check -> IR.

Everyone who needs a compiled workflow (the CLI, the runtime, the Python API)
goes through :func:`compile_source` or :func:`compile_file`. Nothing here
raises for bad input: unreadable files, syntax errors and check errors are
diagnostics in the :class:`CompileResult`, whose ``program`` is set only
when there are no errors.

Registry graphs (``[graphs.NAME]``) used as subgraphs are compiled
recursively against the same registry and stored in the program as
``registry.NAME``; a registry graph that does not compile is ``E0810`` at
the subgraph node, and a cycle through registry graphs is ``E0306``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ragc.diagnostics.model import Diagnostic, DiagnosticBag, Label, Severity
from ragc.gc_pause import paused_collector
from ragc.registry.model import Registry


@dataclass
class CompileResult:
    """The outcome of compiling one file.

    ``module``: the AST (``None`` when nothing could be parsed).
    ``program``: the IR (:class:`ragc.ir.model.ProgramIR`), set only when
    there are no errors and lowering was requested.
    ``diagnostics``: sorted (file, position, code).
    ``source``/``file``: the text and the name used in spans.
    ``sources``: file name -> text of every file a diagnostic points into
    (this file and any registry graph files), for rendering.
    ``info``: the checker's resolved module (for tools such as ``ragc diff``).
    """

    module: object | None
    program: object | None
    diagnostics: list[Diagnostic]
    source: str
    file: str
    sources: dict[str, str] = field(default_factory=dict)
    info: object | None = None

    @property
    def ok(self) -> bool:
        """No error diagnostics (warnings allowed)."""
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> int:
        """Number of error diagnostics."""
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        """Number of warning diagnostics."""
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)


def _entry_graph(module, file: str, requested: str | None) -> str | None:
    names = [g.name.name for g in module.graphs]
    if requested is not None:
        return requested if requested in names else None
    if not names:
        return None
    if len(names) == 1:
        return names[0]
    stem = Path(file).stem
    return stem if stem in names else names[0]


def install_mcp_lister(registry: Registry) -> None:
    """Let the checker list MCP servers with ``list_at_check = true`` when a
    workflow uses one of their tools (started once per registry object, the
    listing cached on disk; :func:`ragc.harness.tools.mcp.list_tools_cached`).
    The checker reports a server that cannot be listed as ``E0871``."""
    if registry._mcp_lister is not None:
        return

    def lister(key: str, entry) -> list[dict]:
        from ragc.harness.tools.mcp import list_tools_cached

        return [t.to_json() for t in list_tools_cached(entry, registry.base_dir, key)]

    registry._mcp_lister = lister


def compile_source(text: str, file: str, registry: Registry | None, *, graph: str | None = None,
                   untrusted: bool = False, lower: bool = True, _stack: tuple = (),
                   _cache: dict | None = None) -> CompileResult:
    """Compile one ``.rag`` source.

    Args:
        text: the file's text.
        file: the name to put in spans (as the user gave it).
        registry: the registry to check against; ``None`` when it is
            unavailable (registry names and policies are then not checked and
            no program is produced).
        graph: the entry graph; default: the only graph, else the graph named
            like the file, else the first one. An unknown name is ``E0117``.
        untrusted: check against ``[policies.untrusted]`` too, and narrow the
            IR's limits by it.
        lower: produce the IR (``False`` for check-only runs).

    Returns:
        A :class:`CompileResult`; never raises for bad input.
    """
    with paused_collector():  # compiling allocates many objects and frees few: collections are wasted work
        return _compile_source(text, file, registry, graph=graph, untrusted=untrusted, lower=lower, _stack=_stack,
                               _cache=_cache)


class _BuiltinSchemas(Mapping):
    """The built-in tools' argument schemas of a registry (tool name -> JSON
    schema), computed on first access: a file without ``tool`` nodes never
    imports the tool registry (``ragc run`` of a model-only workflow)."""

    def __init__(self, registry: Registry):
        self._registry = registry
        self._schemas: dict | None = None

    def _all(self) -> dict:
        if self._schemas is None:
            from ragc.harness.tools.registry import argument_schemas

            self._schemas = argument_schemas(self._registry, builtins_only=True)
        return self._schemas

    def __getitem__(self, name: str):
        return self._all()[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


_SCHEMAS: dict[int, tuple[Registry, _BuiltinSchemas]] = {}


def _tool_schemas(registry: Registry | None) -> Mapping | None:
    """The built-in tools' argument schemas of ``registry`` (a lazy mapping,
    cached per registry object), for checking ``tool`` nodes' ``args``."""
    if registry is None or not registry.tools:
        return None
    hit = _SCHEMAS.get(id(registry))
    if hit is None or hit[0] is not registry:
        hit = (registry, _BuiltinSchemas(registry))
        _SCHEMAS[id(registry)] = hit
    return hit[1]


def _compile_source(text: str, file: str, registry: Registry | None, *, graph: str | None, untrusted: bool,
                    lower: bool, _stack: tuple, _cache: dict | None) -> CompileResult:
    from ragc.check.checker import check_module
    from ragc.syntax.parser import parse

    parsed = parse(text, file)
    result = CompileResult(parsed.module, None, list(parsed.diagnostics), text, file, {file: text})
    if parsed.module is None:
        return result
    bag = DiagnosticBag()
    bag.extend(parsed.diagnostics)
    if registry is not None:
        install_mcp_lister(registry)
    checked = check_module(parsed.module, registry, source=text, file=file, untrusted=untrusted, bag=bag,
                           tool_schemas=_tool_schemas(registry))
    result.info = checked.info
    entry = _entry_graph(parsed.module, file, graph)
    if not parsed.module.graphs and not bag.has_errors:
        bag.add(Diagnostic("E0117", Severity.ERROR, f"`{file}` has no graph", None,
                           help="a workflow file holds at least one `graph NAME { ... }`"))
    elif entry is None and parsed.module.graphs:
        names = [g.name.name for g in parsed.module.graphs]
        from ragc.diagnostics.suggest import did_you_mean

        guess = did_you_mean(graph or "", names)
        bag.add(Diagnostic("E0117", Severity.ERROR, f"no graph `{graph}` in `{file}`", None,
                           help=f"did you mean `{guess}`?" if guess else None,
                           notes=("graphs in this file: " + ", ".join(f"`{n}`" for n in names),)))
    extra_graphs: dict = {}
    extra_refs = None
    if registry is not None:
        extra_graphs, extra_refs = _registry_graphs(checked.info, registry, bag, result, untrusted,
                                                     _stack, _cache if _cache is not None else {})
    result.diagnostics = bag.sorted()
    if not lower or registry is None or entry is None or bag.has_errors:
        return result
    from ragc.ir.lower import lower_module

    info = _canonical_info(parsed.module, checked.info, registry, text, file, untrusted)
    result.program = lower_module(info, registry, entry=entry, source=file, untrusted=untrusted,
                                  extra_graphs=extra_graphs, extra_refs=extra_refs)
    return result


def _canonical_info(module, info, registry: Registry, text: str, file: str, untrusted: bool):
    """The checked view of the module's canonical form (what ``ragc fmt``
    prints), so that a file and its formatted version lower to the same IR
    and hash. Falls back to ``info`` when canonicalisation is unavailable or
    its result does not check cleanly (it always should)."""
    try:
        from ragc.syntax.canon import canonicalize
    except ImportError:
        return info
    from ragc.check.checker import check_module

    canonical = canonicalize(module)
    if canonical == module:
        return info  # already canonical (a formatted file): the same tree checks the same way
    rechecked = check_module(canonical, registry, source=text, file=file, untrusted=untrusted)
    return rechecked.info if rechecked.ok else info


def compile_file(path: str | Path, registry: Registry | None, **kw) -> CompileResult:
    """Read and compile a ``.rag`` file; keyword arguments as for
    :func:`compile_source`. A file that cannot be read (or is not UTF-8) is
    one ``E0118`` diagnostic without location, not an exception."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, UnicodeDecodeError):
            reason = f"not valid UTF-8 (byte {e.start})"  # as `ragc fmt` says it
        else:
            reason = e.strerror if e.strerror else str(e)
            reason = reason[:1].lower() + reason[1:]
        d = Diagnostic(READ_ERROR, Severity.ERROR, f"cannot read `{path}`: {reason}", None)
        return CompileResult(None, None, [d], "", str(path), {})
    return compile_source(text, str(path), registry, **kw)


READ_ERROR = "E0118"
"""Code of an unreadable source file."""


class _ItemField:
    """A list item of a ``graphs [...]`` field where :func:`_registry_graphs`
    expects a field (only its ``value`` is read, for spans)."""

    def __init__(self, value):
        self.value = value


def _registry_graphs(info, registry: Registry, bag: DiagnosticBag, result: CompileResult, untrusted: bool,
                     stack: tuple, cache: dict):
    """Compile the registry graphs used as subgraphs by ``info``; returns
    ``(graphs by key, refs)``, or ``({}, None)`` when it uses none."""
    from ragc.check.values import as_name

    used = []
    for g in info.graphs.values():
        for node in g.nodes.values():
            if node.kind == "repl" and "graphs" in node.fields:  # what its cells may graph_run
                items = getattr(node.fields["graphs"].value, "items", ())
                for item in items:
                    name = as_name(item)
                    if name and name in registry.graphs:
                        used.append((node, _ItemField(item), name))
                continue
            if node.kind != "subgraph" or "graph" not in node.fields:
                continue
            f = node.fields["graph"]
            name = as_name(f.value)
            if name and name not in info.graphs and name in registry.graphs:
                used.append((node, f, name))
    if not used:
        return {}, None  # the common case; `ragc check` then never imports the IR modules
    from ragc.check.context import Ctx
    from ragc.check.schemas import check_mapping
    from ragc.ir.lower import REGISTRY_PREFIX, merge_refs
    from ragc.ir.model import RegistryRefs

    graphs: dict = {}
    refs = RegistryRefs()
    ctx = Ctx(bag, registry, result.source, result.file, untrusted)
    for node, f, name in used:
        compiled = _compile_registry_graph(name, registry, untrusted, stack, cache)
        if compiled.get("cycle"):
            bag.add(Diagnostic("E0306", Severity.ERROR,
                               "subgraph recursion: " + " -> ".join(f"`{x}`" for x in compiled["cycle"]),
                               Label(f.value.span, f"`{name}` runs this graph again"),
                               help="a graph cannot run itself as a subgraph; use a loop instead"))
            continue
        for d in compiled["diagnostics"]:
            bag.add(d)
        result.sources.update(compiled["sources"])
        if compiled["errors"]:
            first = next(d for d in compiled["diagnostics"] if d.is_error) if compiled["diagnostics"] else None
            where = (f"{first.span.file}:{first.span.line}:{first.span.column}: " if first and first.span else "")
            bag.add(Diagnostic("E0810", Severity.ERROR, f"registry graph `{name}` has errors",
                               Label(f.value.span, "used here"),
                               notes=(where + first.message,) if first else compiled["notes"]))
            continue
        graphs.update(compiled["graphs"])
        refs = merge_refs(refs, compiled["refs"])
        refs = merge_refs(refs, RegistryRefs(graphs=[name]))
        if node.kind == "repl":
            continue  # a cell gives the input when it calls graph_run
        schema = compiled["graphs"][REGISTRY_PREFIX + name].input_schema
        check_mapping(ctx, node.node.name.span, node.fields.get("input"), None, name,
                      required=list(schema.get("required", [])), names=list(schema.get("properties", {})))
    return graphs, refs


def _compile_registry_graph(name: str, registry: Registry, untrusted: bool, stack: tuple, cache: dict) -> dict:
    """Compile ``[graphs.NAME]``: ``{"graphs", "refs", "diagnostics",
    "sources", "errors", "notes", "cycle"}`` (memoised per compile)."""
    if name in stack:
        return {"cycle": list(stack[stack.index(name):]) + [name]}
    if name in cache:
        return cache[name]
    from ragc.ir.lower import lower_registry_graph

    from ragc.registry.files import ReferencedFileError, describe, read_referenced_text

    entry = registry.graphs[name]
    out = {"graphs": {}, "refs": None, "diagnostics": [], "sources": {}, "errors": True, "notes": (), "cycle": None}
    try:
        # regular files only, bounded: a FIFO or /dev/zero there must not hang or exhaust the check
        path = registry.resolve_path(entry.path) if "\x00" not in entry.path else Path(entry.path)
        text = read_referenced_text(path)
    except ReferencedFileError as e:
        out["notes"] = (f"`{describe(entry.path)}` {e.reason}",)
        cache[name] = out
        return out
    sub = compile_source(text, str(path), registry, untrusted=untrusted, lower=False,
                         _stack=stack + (name,), _cache=cache)
    out["diagnostics"] = sub.diagnostics
    out["sources"] = sub.sources
    graph_names = [g.name.name for g in sub.module.graphs] if sub.module is not None else []
    gname = entry.graph or (graph_names[0] if len(graph_names) == 1 else name)
    if sub.ok and gname not in graph_names:
        out["notes"] = (f"`{path}` has no graph `{gname}` (graphs: " + ", ".join(graph_names) + ")",)
        cache[name] = out
        return out
    if sub.ok:
        graphs, refs = lower_registry_graph(sub.info, registry, name, gname, untrusted=untrusted)
        out.update(graphs=graphs, refs=refs, errors=False)
    cache[name] = out
    return out
