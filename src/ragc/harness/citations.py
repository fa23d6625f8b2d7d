"""The citation guard: a report may cite only files a tool of the run returned.

A small model writes plausible paths (``src/ragc/runtime.md``) as readily as
real ones. The guard checks every file path an agent's answer cites against
the run's :class:`SourceLedger` (the ``sources`` of every tool result of the
run, :class:`ragc.harness.types.ToolResult`), so a report never presents an
unread file as its source:

* a cited path the ledger holds is kept;
* a bare file name or a path suffix that matches exactly one ledger path
  (``runtime.md`` for ``docs/runtime.md``) is rewritten to that path;
* any other cited path is *unverified*: with ``citations = "mark"`` it is
  followed by :data:`UNVERIFIED_MARK`; with ``"remove"`` a line that is only
  about it (a line starting with the path, after list markers) is dropped
  and other mentions are marked. Either way a closing note lists what was
  not verified.

What counts as a citation: a URL (``http://``, ``https://``, ``ftp://``; no
tool of a workspace returns one, so a cited URL is always unverified), or a
token of path characters that contains a ``/`` and
ends in ``.<extension>``, or a bare ``name.ext`` whose extension is one of
:data:`FILE_EXTENSIONS`, optionally followed by ``:line`` or ``:line-line``.
Module names (``ragc.runtime.joins``) and versions (``3.11``) are not paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

FILE_EXTENSIONS = frozenset(
    "md rst txt py pyi rag ragsh toml json jsonl yaml yml lark cfg ini sh js ts tsx rs go c h cpp hpp java kt rb "
    "html css sql csv lock".split())
"""Extensions that make a bare ``name.ext`` token a file path."""

UNVERIFIED_MARK = "[unverified: no tool of this run returned it]"

_PATH = re.compile(
    r"(?<![\w/.:-])(?P<path>(?:\.{1,2}/)?(?:[\w.-]+/)*[\w-][\w.-]*\.(?P<ext>[A-Za-z][A-Za-z0-9]{0,7}))"
    r"(?P<lines>:\d+(?:-\d+)?)?(?![\w/-])")
_URL_BEFORE = re.compile(r"[a-z][a-z0-9+.-]*://\S*$", re.I)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]`'\"]+", re.I)
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)])?\s*[`\"'(\[]*")


class SourceLedger:
    """The files whose content a run's tools returned (workspace-relative,
    ``/``-separated). Filled by :meth:`ragc.harness.Harness.call_tool` from
    every tool result, replayed ones included, and seeded by the runtime from
    the journal when a run resumes."""

    __slots__ = ("_paths",)

    def __init__(self, paths: Iterable[str] = ()):
        self._paths: dict[str, None] = {}
        self.add(paths)

    def add(self, paths: Iterable[str]) -> None:
        """Record ``paths`` as returned by a tool."""
        for p in paths:
            p = normalise(p)
            if p:
                self._paths[p] = None

    def __contains__(self, path: str) -> bool:
        return normalise(path) in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[str]:
        """The recorded paths, in the order first returned."""
        return list(self._paths)

    def resolve(self, cited: str) -> str | None:
        """The ledger path that ``cited`` names: itself, or the one ledger
        path it is a ``/``-suffix of (``None`` if none or several)."""
        c = normalise(cited)
        if c in self._paths:
            return c
        matches = [p for p in self._paths if p.endswith("/" + c)]
        return matches[0] if len(matches) == 1 else None


def normalise(path: str) -> str:
    """``path`` without a leading ``./``, surrounding quotes or backticks."""
    p = path.strip().strip("`'\"")
    while p.startswith("./"):
        p = p[2:]
    return p


@dataclass(frozen=True)
class Citation:
    """A path cited in a text: ``path`` as written, its character ``start``/``end``."""

    path: str
    start: int
    end: int


def find_citations(text: str) -> list[Citation]:
    """The file paths ``text`` cites, in order (rules in the module doc)."""
    out: list[Citation] = []
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        out.append(Citation(url, m.start(), m.start() + len(url)))
    for m in _PATH.finditer(text):
        path, ext = m.group("path"), m.group("ext").lower()
        if _URL_BEFORE.search(text[max(0, m.start() - 200):m.start()]):
            continue
        if "/" not in path and ext not in FILE_EXTENSIONS:
            continue
        if "/" in path and ext not in FILE_EXTENSIONS and not re.search(r"[A-Za-z]", path.rsplit(".", 1)[0]):
            continue
        out.append(Citation(path, m.start("path"), m.end("path")))
    out.sort(key=lambda c: c.start)
    return out


@dataclass
class GuardResult:
    """What :func:`guard` did: the new ``text``, the cited paths it
    ``verified`` (as ledger paths), those it found ``unverified``, and
    ``rewritten`` (cited → ledger path)."""

    text: str
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    rewritten: dict[str, str] = field(default_factory=dict)


def guard(text: str, ledger: SourceLedger, mode: str) -> GuardResult:
    """Check the paths ``text`` cites against ``ledger``.

    Args:
        text: an agent's final answer.
        ledger: the run's sources.
        mode: ``"off"`` (text unchanged), ``"mark"`` or ``"remove"`` (see
            the module doc).

    Returns:
        A :class:`GuardResult`; ``text`` ends with a note naming the
        unverified paths when there were any.
    """
    if mode == "off":
        return GuardResult(text)
    result = GuardResult(text)
    out_lines: list[str] = []
    for line in text.split("\n"):
        cites = find_citations(line)
        if not cites:
            out_lines.append(line)
            continue
        pieces: list[str] = []
        pos = 0
        drop = False
        for c in cites:
            real = ledger.resolve(c.path)
            pieces.append(line[pos:c.start])
            if real is not None:
                if real != normalise(c.path):
                    result.rewritten[c.path] = real
                pieces.append(real)
                if real not in result.verified:
                    result.verified.append(real)
            else:
                if c.path not in result.unverified:
                    result.unverified.append(c.path)
                lead = _LIST_MARKER.match(line)
                if mode == "remove" and lead is not None and lead.end() >= c.start:
                    drop = True
                pieces.append(f"{c.path} {UNVERIFIED_MARK}")
            pos = c.end
        pieces.append(line[pos:])
        if not drop:
            out_lines.append("".join(pieces))
    new = "\n".join(out_lines).rstrip()
    if result.unverified:
        verb = "removed or marked" if mode == "remove" else "marked"
        new += (f"\n\n(citation guard: {len(result.unverified)} cited path(s) {verb}, no tool of this run returned "
                f"them: {', '.join(result.unverified)})")
    result.text = new
    return result
