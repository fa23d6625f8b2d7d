"""Authoring ``.rag`` from ``.ragsh``: ``graph_define``, ``graph_validate``,
``graph_compile``, ``graph_diff``, and the graphs ``graph_run`` may run.

A graph defined by a script is **untrusted** (a model probably wrote it):
it is checked and compiled against ``[policies.untrusted]``, and it runs only
after a human approved its exact text with ``ragc approve`` (the same gate as
``ragc run --untrusted``, :mod:`ragc.check.approvals`). So that a human has a
file to review and approve, ``graph_define`` writes the text to
``.ragc/generated/NAME.rag`` under the session root; that directory and
name pattern are the session's choice, never the script's, and a script has
no other way to write a file. Registry graphs (``[graphs.NAME]``) are
trusted: the registry is reviewed configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragc.compiler import CompileResult, compile_file, compile_source
from ragc.registry.model import Registry
from ragc.repl.errors import CapabilityError, ReplLimitError
from ragc.repl.policy import ReplPolicy

GENERATED_DIR = Path(".ragc") / "generated"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass
class DefinedGraph:
    """A graph a script defined: its name, text and where it was written."""

    name: str
    source: str
    path: Path


@dataclass
class GraphBook:
    """The graphs of one session, resolved by name.

    Args:
        registry: the session's registry.
        policy: the session's limits (``max_source_bytes``, ``max_graphs``).
        root: the directory holding ``.ragc/`` (approvals and generated files).
    """

    registry: Registry
    policy: ReplPolicy
    root: Path
    defined: dict[str, DefinedGraph] = field(default_factory=dict)

    # ------------------------------------------------------------------ builtins

    def define(self, name: str, source: str) -> dict:
        """``graph_define(name, source)``: keep and write an untrusted graph.

        Returns:
            ``{"name", "path", "ok", "diagnostics"}`` (the untrusted check's
            result, so a script can correct its text at once).

        Raises:
            CapabilityError: a bad name or a non-string source.
            ReplLimitError: ``max_source_bytes`` or ``max_graphs``.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise CapabilityError(f"graph_define: `{name}` is not a graph name",
                                  hint="use letters, digits and `_`, starting with a letter")
        if not isinstance(source, str):
            raise CapabilityError("graph_define: the source must be a string of .rag text")
        size = len(source.encode("utf-8"))
        if size > self.policy.max_source_bytes:
            raise ReplLimitError("max_source_bytes", f"graph `{name}` is {size} bytes, more than max_source_bytes "
                                                     f"({self.policy.max_source_bytes})")
        if name not in self.defined and len(self.defined) >= self.policy.max_graphs:
            raise ReplLimitError("max_graphs", f"the session already defined max_graphs ({self.policy.max_graphs}) graphs")
        path = self.root / GENERATED_DIR / f"{name}.rag"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source, encoding="utf-8")
        except OSError as e:
            raise CapabilityError(f"graph_define: cannot write `{path}`: {e.strerror or e}") from None
        self.defined[name] = DefinedGraph(name, source, path)
        checked = self._compile(name, lower=False)
        return {"name": name, "path": self._shown(path), **_verdict(checked)}

    def validate(self, name: str) -> dict:
        """``graph_validate(name)``: ``{"ok", "diagnostics"}`` of a defined
        graph (untrusted) or a registry graph; each diagnostic as
        ``ragc check --format json`` gives it."""
        return _verdict(self._compile(name, lower=False))

    def compile(self, name: str) -> dict:
        """``graph_compile(name)``: ``{"ok", "diagnostics", "hash", "entry",
        "nodes": {name: kind}}`` (``hash`` etc. only when ``ok``)."""
        result = self._compile(name, lower=True)
        out = _verdict(result)
        if result.program is not None:
            program = result.program
            graph = program.entry_graph
            out.update(hash=program.hash, entry=program.entry,
                       nodes={n: getattr(node, "kind", "?") for n, node in graph.nodes.items()})
        return out

    def diff(self, old: str, new: str) -> dict:
        """``graph_diff(old, new)``: ``ragc diff --format json`` of two graphs.

        Raises:
            CapabilityError: either side does not compile.
        """
        from ragc.ir.diff import diff_programs

        a, b = self._compile(old, lower=True), self._compile(new, lower=True)
        for n, r in ((old, a), (new, b)):
            if r.program is None:
                raise CapabilityError(f"graph_diff: `{n}` does not compile ({_first_error(r)})",
                                      hint=f"see graph_validate({n!r})")
        return diff_programs(a.program, b.program, old_file=old, new_file=new)

    # ------------------------------------------------------------------ for graph_run

    def runnable(self, name: str) -> tuple[Any, bool, str]:
        """The program of graph ``name``, whether it is untrusted, and its source path.

        Raises:
            CapabilityError: unknown name, compile errors, or an untrusted
                graph whose text was not approved.
        """
        result = self._compile(name, lower=True)
        if result.program is None:
            raise CapabilityError(f"graph `{name}` does not compile ({_first_error(result)})",
                                  hint=f"see graph_validate({name!r})")
        if name in self.defined:
            d = self.defined[name]
            if self._approval_required() and not self._approved(d.path):
                shown = self._shown(d.path)
                raise CapabilityError(f"graph `{name}` is untrusted and not approved to run", kind="refused",
                                      hint=f"a human reviews `{shown}`, then runs `ragc approve {shown}`")
            return result.program, True, str(d.path)
        return result.program, False, result.file

    # ------------------------------------------------------------------ internals

    def _compile(self, name: str, *, lower: bool) -> CompileResult:
        if not isinstance(name, str):
            raise CapabilityError(f"expected a graph name, got {type(name).__name__}")
        if name in self.defined:
            d = self.defined[name]
            return compile_source(d.source, self._shown(d.path), self.registry, untrusted=True, lower=lower)
        entry = self.registry.graphs.get(name)
        if entry is None:
            from ragc.diagnostics.suggest import did_you_mean

            known = sorted(self.defined) + sorted(self.registry.graphs)
            guess = did_you_mean(name, known)
            raise CapabilityError(f"unknown graph `{name}`",
                                  hint=(f"did you mean `{guess}`? " if guess else "")
                                  + "define one with graph_define(name, source), or add [graphs.NAME] to the registry")
        return compile_file(self.registry.resolve_path(entry.path), self.registry, graph=entry.graph, lower=lower)

    def _approval_required(self) -> bool:
        policy = self.registry.policies.get("untrusted")
        return True if policy is None else policy.require_approval is not False

    def _approved(self, path: Path) -> bool:
        from ragc.check.approvals import is_approved

        return is_approved(path, root=self.root)

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _verdict(result: CompileResult) -> dict:
    from ragc.diagnostics.render import render_json

    return {"ok": result.ok, "diagnostics": render_json(result.diagnostics).get("diagnostics", [])}


def _first_error(result: CompileResult) -> str:
    for d in result.diagnostics:
        if d.is_error:
            where = f"{d.span.line}:{d.span.column}: " if d.span else ""
            return f"{where}{d.code}: {d.message}"
    return "no program"
