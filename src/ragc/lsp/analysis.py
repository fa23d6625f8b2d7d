"""What the language server knows about one ``.rag`` document, with no LSP
types: diagnostics, the symbol under a position, hover text, completion
candidates and definition targets. :mod:`ragc.lsp.server` turns these into
LSP messages.

Positions here are 0-based code-point offsets into the document (the
:class:`~ragc.diagnostics.model.Span` convention); the server converts to
the client's position encoding.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ragc.compiler import CompileResult, compile_source
from ragc.diagnostics.model import Applicability, Diagnostic, Span
from ragc.registry.model import Registry
from ragc.syntax import ast as A

REGISTRY_TABLES = ("models", "tools", "agents", "functions", "reducers", "stores", "graphs", "policies", "skills")
"""Registry tables whose entry names a ``.rag`` file may use."""

KIND_DOCS = {
    "model": "one model call: text, or structured output when it has an `output` schema or routes",
    "agent": "a model with tools, looping until a final answer or its `max_iterations`; `memory` stores "
             "recalled into its task (with `memory_save`/`memory_search` tools) and `skills` as a registry agent's",
    "tool": "one tool call with mapped `args`; routes `ok` / `error`",
    "router": "chooses a route by conditions on state (`routes { when ... -> X }`) or a registered `function`",
    "subagent": "runs a registry agent with an `input` mapping; routes `ok` / `error`",
    "subgraph": "runs another graph (of this file or `[graphs.*]`) with an `input` mapping",
    "interrupt": "asks a human (`prompt`, `options`, `default`, `timeout`); the answer picks the route",
    "join": "a barrier over `sources` with a policy (`all`, `any`, `quorum N`, `tolerate N`, `timeout D`)",
    "function": "a custom Python node (a `[functions.*]` entry) with an `input` mapping",
    "repl": "a model writes `.ragsh` cells that call the granted `tools`, `models` and `agents` until one "
            "calls `answer(...)`; `max_turns`, `limits { ... }`; routes `ok` / `error` or `answer(v, route=...)`",
}
"""One line per node kind (BRIEF §3.4 and docs/language.md, "Node kinds")."""

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@functools.cache
def keywords() -> tuple[str, ...]:
    """The grammar's keywords (``graph``, ``node``, ``channel``...), sorted:
    the terminals of ``grammar/rag.lark`` whose pattern is a word."""
    from lark.lexer import PatternStr

    from ragc.syntax.grammar import lalr_parser

    words = {t.pattern.value for t in lalr_parser().terminals
             if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}
    return tuple(sorted(words))


@dataclass
class Symbol:
    """A name under the cursor: its text, span, and what it names.

    ``role``: ``"node"`` (a node of the document), ``"kind"`` (a node kind
    value), ``"registry"`` (``table`` says which), ``"field"`` (a setting
    key) or ``"word"`` (anything else).
    """

    name: str
    span: Span
    role: str
    table: str | None = None
    node: A.Node | None = None


@dataclass
class RegistryInfo:
    """The registry a document is checked against, with its file and text
    (for go to definition)."""

    registry: Registry | None
    path: Path | None
    text: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @functools.cached_property
    def locations(self) -> dict:
        """Key path -> :class:`~ragc.registry.toml_spans.TomlLocation` of the registry file."""
        if self.text is None or self.path is None:
            return {}
        from ragc.registry.toml_spans import locate

        return locate(self.text, str(self.path))


def registry_file_for(document: Path, explicit: Path | None = None) -> Path | None:
    """The registry file of ``document``: ``explicit`` if given, else the
    nearest ``registry.toml`` in the document's directory or a parent, else
    ``None`` (then :func:`load_registry_for` searches as ``ragc check``
    does from the document's directory: the user configuration)."""
    if explicit is not None:
        return explicit
    for folder in [document.parent, *document.parent.parents]:
        if (folder / "registry.toml").is_file():
            return folder / "registry.toml"
    return None


def load_registry_for(document: Path, path: Path | None) -> RegistryInfo:
    """Load the registry ``path`` (see :func:`registry_file_for`) for
    ``document``. Never raises; a broken registry is returned with its
    diagnostics."""
    from ragc.registry.loader import load_registry

    load = load_registry(path, cwd=document.parent if path is None else path.parent)
    return RegistryInfo(load.registry, load.path.resolve() if load.path else None, load.source,
                        list(load.diagnostics))


class Analysis:
    """One version of a document, compiled as ``ragc check`` compiles it.

    Args:
        text: the document's text.
        file: the path to put in spans (the document's file path).
        registry: the :class:`RegistryInfo` to check against.
    """

    def __init__(self, text: str, file: str, registry: RegistryInfo):
        self.text = text
        self.file = file
        self.registry_info = registry
        self.result: CompileResult = compile_source(text, file, registry.registry, lower=False)

    @property
    def module(self) -> A.Module | None:
        """The document's AST (``None`` when nothing could be parsed)."""
        return self.result.module

    @property
    def registry(self) -> Registry | None:
        """The registry the document was checked against (``None`` if unreadable)."""
        return self.registry_info.registry

    # ------------------------------------------------------------------ diagnostics

    def diagnostics(self) -> list[Diagnostic]:
        """Diagnostics located in this document (or without location): the
        same codes, messages and spans ``ragc check FILE`` prints."""
        return [d for d in self.result.diagnostics if d.span is None or d.span.file == self.file]

    def fixes(self, start: int, end: int) -> list[tuple[Diagnostic, object]]:
        """``(diagnostic, suggestion)`` pairs of machine-applicable suggestions
        of diagnostics overlapping ``[start, end]`` (offsets)."""
        out = []
        for d in self.diagnostics():
            if d.span is None or d.span.end_offset < start or d.span.offset > end:
                continue
            for s in d.suggestions:
                if s.applicability is Applicability.MACHINE_APPLICABLE and s.span.file == self.file:
                    out.append((d, s))
        return out

    # ------------------------------------------------------------------ symbols

    def symbol_at(self, offset: int) -> Symbol | None:
        """The name at ``offset`` (inside a quoted registry name too)."""
        start = offset
        while start > 0 and (self.text[start - 1].isalnum() or self.text[start - 1] in "_-"):
            start -= 1
        m = _WORD.match(self.text, start)
        if m is None or m.end() < offset:
            return None
        name = m.group(0)
        span = _span(self.text, self.file, m.start(), m.end())
        node = self._node_named(name, offset)
        field_ = self._field_at(offset)
        if field_ is not None and field_.key.span.offset <= offset <= field_.key.span.end_offset:
            return Symbol(name, span, "field")
        if field_ is not None and field_.key.name == "kind" and _kind(name) is not None:
            return Symbol(name, span, "kind")
        if field_ is not None:
            from ragc.check.kinds import FIELDS

            spec = FIELDS.get(field_.key.name)
            table = spec.table if spec is not None else None
            if field_.key.name == "graph":
                table = "graphs"
            if table and self.registry is not None and name in getattr(self.registry, table):
                return Symbol(name, span, "registry", table=table)
        if node is not None:
            return Symbol(name, span, "node", node=node)
        table = self._table_of(name)
        if table is not None:
            return Symbol(name, span, "registry", table=table)
        if _kind(name) is not None:
            return Symbol(name, span, "kind")
        return Symbol(name, span, "word")

    def hover(self, offset: int) -> tuple[str, Span] | None:
        """Markdown about the name at ``offset`` and its span, or ``None``."""
        sym = self.symbol_at(offset)
        if sym is None:
            return None
        if sym.role == "kind":
            kind = _kind(sym.name)
            return self._kind_doc(kind), sym.span
        if sym.role == "registry":
            return self._registry_doc(sym.table, sym.name), sym.span
        if sym.role == "node" and sym.node is not None:
            kind_field = sym.node.field("kind")
            kind = _kind(_plain(kind_field.value)) if kind_field is not None else None
            lines = [f"**node `{sym.name}`**" + (f" (kind `{kind}`)" if kind else "")]
            desc = sym.node.field("description")
            if desc is not None and isinstance(desc.value, A.Str):
                lines += ["", desc.value.value]
            if kind:
                lines += ["", f"`{kind}`: {KIND_DOCS[kind]}"]
            return "\n".join(lines), sym.span
        if sym.role == "field":
            return self._field_doc(sym.name), sym.span
        if sym.name in keywords():
            return f"keyword `{sym.name}` (see docs/language.md)", sym.span
        return None

    def definition(self, offset: int) -> Span | None:
        """Where the name at ``offset`` is defined: a node's ``node`` block,
        or a registry entry's TOML table header."""
        sym = self.symbol_at(offset)
        if sym is None:
            return None
        if sym.role == "node" and sym.node is not None:
            return sym.node.span
        if sym.role == "registry":
            loc = self.registry_info.locations.get((sym.table, sym.name))
            return loc.key if loc is not None else None
        return None

    def completions(self, offset: int) -> list[tuple[str, str, str]]:
        """Candidates at ``offset``: ``(label, category, detail)`` with
        category ``keyword``, ``kind``, ``field``, ``node`` or a registry
        table name. After ``kind`` only kinds are offered; after a field
        that takes registry names (``model``, ``tools``, ``agent``...) only
        that table's names; after ``next``/``join``/``->`` only node names."""
        from ragc.check.kinds import FIELDS

        line_start = self.text.rfind("\n", 0, offset) + 1
        before = self.text[line_start:offset]
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:?\s*(.*)$", before)
        key = m.group(1) if m and m.group(2) is not None and (m.group(2) or before.rstrip() != before) else None
        nodes = [(n.name.name, "node", self._node_kind_text(n)) for n in self._nodes_near(offset)]
        if key == "kind":
            return [(k, "kind", KIND_DOCS[k]) for k in KIND_DOCS]
        spec = FIELDS.get(key) if key else None
        table = "graphs" if key == "graph" else (spec.table if spec is not None else None)
        if table and self.registry is not None:
            items = self._registry_items(table)
            if key == "memory":  # only memory kinds, not run journals
                items = [x for x in items if self.registry.stores[x[0]].is_memory]
            return items
        if key in ("next", "start", "join", "sources") or before.rstrip().endswith("->"):
            return nodes
        out = [(k, "keyword", "keyword") for k in keywords()]
        out += [(f, "field", FIELDS[f].shape) for f in sorted(FIELDS) if f not in keywords()]
        out += [(k, "kind", KIND_DOCS[k]) for k in KIND_DOCS if k not in keywords()]
        out += nodes
        if self.registry is not None:
            for t in REGISTRY_TABLES[:7]:
                out += self._registry_items(t)
        seen: set[str] = set()
        return [x for x in out if not (x[0] in seen or seen.add(x[0]))]

    # ------------------------------------------------------------------ helpers

    def _registry_items(self, table: str) -> list[tuple[str, str, str]]:
        entries = getattr(self.registry, table)
        return [(n, table, getattr(e, "description", None) or f"[{table}.{n}]") for n, e in sorted(entries.items())]

    def _table_of(self, name: str) -> str | None:
        if self.registry is None:
            return None
        for t in REGISTRY_TABLES:
            if name in getattr(self.registry, t):
                return t
        return None

    def _graphs(self) -> Iterable[A.Graph]:
        return self.module.graphs if self.module is not None else ()

    def _nodes_near(self, offset: int) -> list[A.Node]:
        for g in self._graphs():
            if g.span.offset <= offset <= g.span.end_offset:
                return g.nodes
        return [n for g in self._graphs() for n in g.nodes]

    def _node_named(self, name: str, offset: int) -> A.Node | None:
        for n in self._nodes_near(offset):
            if n.name.name == name:
                return n
        return None

    def _field_at(self, offset: int) -> A.Field | None:
        """The innermost ``key value`` setting whose span holds ``offset``."""
        best = None
        for g in self._graphs():
            for item in g.items:
                items = item.items if isinstance(item, A.Node) else (item,)
                for f in items:
                    if isinstance(f, A.Field) and f.span.offset <= offset <= f.span.end_offset:
                        if best is None or f.span.offset >= best.span.offset:
                            best = f
        return best

    @staticmethod
    def _node_kind_text(node: A.Node) -> str:
        f = node.field("kind")
        return f"node, kind {_plain(f.value)}" if f is not None else "node"

    def _kind_doc(self, kind: str) -> str:
        from ragc.check.kinds import COMMON, KIND_FIELDS, REQUIRED

        required = REQUIRED.get(kind, ())
        own = sorted(KIND_FIELDS[kind])
        lines = [f"**node kind `{kind}`**", "", KIND_DOCS[kind], ""]
        if required:
            lines.append("required: " + ", ".join(f"`{r}`" for r in required))
        lines.append("fields: " + ", ".join(f"`{f}`" for f in own))
        lines.append("common: " + ", ".join(f"`{f}`" for f in sorted(COMMON)))
        return "\n".join(lines)

    def _registry_doc(self, table: str, name: str) -> str:
        entry = getattr(self.registry, table)[name]
        lines = [f"**{table[:-1]} `{name}`** (registry `[{table}.{name}]`)"]
        desc = getattr(entry, "description", None)
        if desc:
            lines += ["", desc]
        facts = []
        keys = ("provider", "model", "builtin", "python", "path", "kind", "max_iterations")
        if getattr(entry, "is_memory", False):
            keys += ("capacity", "recall", "recall_tokens")
        for key in keys:
            value = getattr(entry, key, None)
            if value not in (None, "", ()):
                facts.append(f"{key}: `{value}`")
        tools = getattr(entry, "tools", None)
        if tools:
            facts.append("tools: " + ", ".join(f"`{t}`" for t in tools))
        if facts:
            lines += [""] + ["- " + f for f in facts]
        return "\n".join(lines)

    @staticmethod
    def _field_doc(key: str) -> str:
        from ragc.check.kinds import COMMON, FIELDS, KIND_FIELDS

        spec = FIELDS.get(key)
        if spec is None:
            return f"`{key}`"
        kinds = ["every kind"] if key in COMMON else [f"`{k}`" for k in KIND_FIELDS if key in KIND_FIELDS[k]]
        text = f"**field `{key}`**: {spec.shape}" + (f" (names from `[{spec.table}]`)" if spec.table else "")
        return text + "\n\nallowed in: " + ", ".join(kinds)


def _kind(name: str | None) -> str | None:
    from ragc.check.kinds import KIND_ALIASES

    if name is None:
        return None
    name = KIND_ALIASES.get(name, name)
    return name if name in KIND_DOCS else None


def _plain(value: object) -> str | None:
    """The text of a bare-word or string value (``kind agent``, ``model "x"``)."""
    if isinstance(value, A.Str):
        return value.value
    if isinstance(value, A.Path) and not value.segments:
        return value.root.name if hasattr(value.root, "name") else str(value.root)
    return None


def _span(text: str, file: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_col = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(file, start, end, line, col, end_line, end_col)
