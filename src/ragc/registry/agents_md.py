"""Agents defined by folders: ``.agents/NAME/AGENT.md`` (seed 003's layout).

Each folder ``.agents/NAME/`` holding an ``AGENT.md`` defines the registry
agent ``NAME``:

* ``AGENT.md`` is the system prompt;
* an optional ``TOOLS.md`` in the same folder is appended to it as tool
  guidance, under a ``# Tools`` heading;
* optional front matter: ``AGENT.md`` may start with a block of
  ``key: value`` lines between two ``---`` lines, setting the other agent
  keys (``model``, ``prompt``, ``description``, ``tools``,
  ``max_iterations``, ``output``, ``memory``, ``skills``). Values are a quoted or bare string, an
  integer, or a list ``[a, "b"]``. Without front matter the agent uses the
  defaults of :class:`ragc.registry.model.AgentEntry` (model ``"default"``,
  no tools, 8 iterations).

The folder is looked up relative to the registry's directory (the current
directory when there is no registry). A registry ``[agents.NAME]`` entry wins
over a folder of the same name (:func:`ragc.registry.loader.load_registry`
merges them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span
from ragc.diagnostics.suggest import did_you_mean
from ragc.registry.files import ReferencedFileError, read_referenced_text
from ragc.registry.model import AgentEntry
from ragc.registry.validation import value_message

AGENTS_DIR = ".agents"
FRONT_MATTER_KEYS = ("model", "prompt", "description", "tools", "max_iterations", "output", "memory", "skills")

_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")


@dataclass
class Discovered:
    """Agents found under one directory.

    ``agents``: name -> entry (sorted by name). ``files``: name -> the
    ``AGENT.md`` path. ``sources``: file name -> text of every ``AGENT.md``
    that produced a diagnostic (for rendering). ``diagnostics``: ``E0806``
    (unreadable file) and ``E0809`` (bad front matter).
    """

    agents: dict[str, AgentEntry] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _line_span(file: str, text: str, line_no: int, col: int = 1, length: int | None = None) -> Span:
    lines = text.split("\n")
    offset = sum(len(l) + 1 for l in lines[: line_no - 1]) + col - 1
    line = lines[line_no - 1] if line_no - 1 < len(lines) else ""
    if length is None:
        length = max(len(line) - (col - 1), 1)
    return Span(file, offset, offset + length, line_no, col, line_no, col + length)


def _scalar(raw: str) -> object:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    return raw


def _value(raw: str) -> object:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip()
        return [_scalar(x) for x in inner.split(",") if x.strip()] if inner else []
    return _scalar(raw)


def parse_front_matter(text: str, file: str, *, code: str, keys: tuple[str, ...], list_keys: tuple[str, ...],
                       what: str = "") -> tuple[dict, dict[str, int], str, list[Diagnostic]]:
    """Split a Markdown file with ``---`` front matter (``AGENT.md``,
    ``SKILL.md``) into its settings and its body.

    Args:
        text: the file's text.
        file: the name to put in spans.
        code: the diagnostic code for malformed lines and unknown keys.
        keys: the front-matter keys the file may use.
        list_keys: keys whose single value is taken as a one-item list.
        what: a word naming the file kind in the unknown-key message
            (``"skill"`` gives "unknown skill front matter key").

    Returns:
        ``(settings, key_lines, body, diagnostics)``: the front-matter keys
        as Python values, the 1-based line of each key, the text after the
        front matter, and ``code`` diagnostics for an unclosed front matter,
        lines that are not ``key: value`` and unknown keys.
    """
    diags: list[Diagnostic] = []
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, {}, text.strip(), diags
    close = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if close is None:
        diags.append(Diagnostic(code, Severity.ERROR, "front matter is not closed",
                                Label(_line_span(file, text, 1), "opened here"),
                                help="end the front matter with a line `---`"))
        return {}, {}, text.strip(), diags
    settings: dict = {}
    key_lines: dict[str, int] = {}
    for i in range(1, close):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            diags.append(Diagnostic(code, Severity.ERROR, "front matter line is not `key: value`",
                                    Label(_line_span(file, text, i + 1), "expected `key: value`")))
            continue
        key, raw = m.group(1), m.group(2)
        if key not in keys:
            guess = did_you_mean(key, keys)
            diags.append(Diagnostic(
                code, Severity.ERROR, f"unknown {what + ' ' if what else ''}front matter key `{key}`",
                Label(_line_span(file, text, i + 1, 1, len(key)), "unknown key"),
                help=f"did you mean `{guess}`?" if guess else "known keys: " + ", ".join(f"`{k}`" for k in keys)))
            continue
        value = _value(raw)
        if key in list_keys and not isinstance(value, list):
            value = [value]
        settings[key] = value
        key_lines[key] = i + 1
    return settings, key_lines, "\n".join(lines[close + 1:]).strip(), diags


def parse_agent_md(text: str, file: str) -> tuple[dict, dict[str, int], str, list[Diagnostic]]:
    """Split ``AGENT.md`` into front matter and body (:func:`parse_front_matter`
    with :data:`FRONT_MATTER_KEYS` and ``E0809``); the body is the system
    prompt text."""
    return parse_front_matter(text, file, code="E0809", keys=FRONT_MATTER_KEYS,
                              list_keys=("tools", "memory", "skills"))


def discover(base_dir: Path, display_base: Path | None = None) -> Discovered:
    """Agents of ``base_dir/.agents/*/AGENT.md``.

    Args:
        base_dir: the registry's directory.
        display_base: file names in diagnostics are made relative to this
            directory when possible (default: ``base_dir``).

    Returns:
        A :class:`Discovered`; never raises for unreadable or malformed files.
    """
    out = Discovered()
    root = base_dir / AGENTS_DIR
    if not root.is_dir():
        return out
    show_base = display_base or base_dir
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        md = folder / "AGENT.md"
        if not os.path.lexists(md):
            continue
        name = folder.name
        try:
            shown = str(md.relative_to(show_base))
        except ValueError:
            shown = str(md)
        try:
            # regular files only, bounded (a FIFO named AGENT.md must not hang `ragc check`)
            text = read_referenced_text(md)
            tools_md = folder / "TOOLS.md"
            tools_text = read_referenced_text(tools_md) if os.path.lexists(tools_md) else None
        except ReferencedFileError as e:
            out.diagnostics.append(Diagnostic("E0890", Severity.ERROR, f"`{shown}` (or its TOOLS.md) {e.reason}",
                                              None,
                                              help="an agent folder holds regular text files of at most 4 MiB"))
            continue
        settings, key_lines, body, diags = parse_agent_md(text, shown)
        system = body
        if tools_text and tools_text.strip():
            system = f"{body}\n\n# Tools\n\n{tools_text.strip()}"
        try:
            entry = AgentEntry.model_validate({**settings, "system": system})
        except ValidationError as e:
            seen: set[tuple[str, str]] = set()
            for err in e.errors():
                key = str(err["loc"][0]) if err["loc"] else "?"
                if (key, value_message(err)) in seen:
                    continue  # e.g. one per bad list element, all on the key's line: say it once
                seen.add((key, value_message(err)))
                line = key_lines.get(key, 1)
                diags.append(Diagnostic("E0809", Severity.ERROR,
                                        f"invalid front matter value for `{key}`: {value_message(err)}",
                                        Label(_line_span(shown, text, line), f"in agent `{name}`")))
            entry = None
        if diags:
            out.sources[shown] = text
            out.diagnostics.extend(diags)
        if entry is not None:
            out.agents[name] = entry
            out.files[name] = md
    return out
