"""Skills: named, documented bundles of instructions and tools (seed 003's
``skills/NAME/SKILL.md``), discovered like ``.agents/NAME/AGENT.md`` agents
(:mod:`ragc.registry.agents_md`).

Where they are found, relative to the registry's directory (the current
directory without a registry), in this order (the first definition of a
name wins; a ``[skills.NAME]`` registry entry wins over all folders):

* ``skills/NAME/SKILL.md``;
* ``.agents/AGENT/skills/NAME/SKILL.md`` (a skill kept beside the agent
  folder that uses it; the name is still ``NAME``).

``SKILL.md`` is the skill's instructions; optional front matter between two
``---`` lines sets ``description`` (default: the first paragraph of the
body), ``tools`` (a list ``[a, "b"]``), ``model`` and ``max_iterations``.

A skill is used two ways:

* an agent is given it (``[agents.X] skills = ["NAME"]``): its description
  and instructions are appended to the agent's system prompt under
  ``# Skill: NAME`` and its tools are added to the agent's tools
  (:meth:`ragc.harness.Harness.run_agent`);
* a workflow runs it as a node (``kind subagent`` with ``agent "NAME"``):
  every skill is also a registry agent of the same name (unless an agent of
  that name exists, or the registry lacks the skill's ``model``) whose only
  skill is itself.

Diagnostics: ``E0870`` (unreadable ``SKILL.md``, bad front matter, no
description); unknown skill names are ``E0874`` (:mod:`ragc.registry.extensions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ragc.diagnostics.model import Diagnostic, Label, Severity, Span
from ragc.diagnostics.suggest import did_you_mean
from ragc.registry.agents_md import AGENTS_DIR, parse_front_matter
from ragc.registry.model import AgentEntry, Registry, SkillEntry
from ragc.registry.validation import value_message

SKILLS_DIR = "skills"
SKILL_FILE = "SKILL.md"
FRONT_MATTER_KEYS = ("description", "tools", "model", "max_iterations")


@dataclass
class DiscoveredSkills:
    """Skills found under one directory: ``skills`` (name -> entry),
    ``files`` (name -> ``SKILL.md``), ``sources`` (file name -> text, for
    rendering diagnostics) and ``diagnostics``."""

    skills: dict[str, SkillEntry] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _span(file: str, text: str, line_no: int) -> Span:
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[: line_no - 1])
    line = lines[line_no - 1] if line_no - 1 < len(lines) else ""
    return Span(file, offset, offset + max(len(line), 1), line_no, 1, line_no, max(len(line), 1) + 1)


def parse_skill_md(text: str, file: str) -> tuple[dict, dict[str, int], str, list[Diagnostic]]:
    """``(settings, key_lines, instructions, diagnostics)`` of one ``SKILL.md``
    (``E0870`` for a malformed or unknown front-matter line; the parser of
    ``AGENT.md``, :func:`ragc.registry.agents_md.parse_front_matter`)."""
    return parse_front_matter(text, file, code="E0870", keys=FRONT_MATTER_KEYS, list_keys=("tools",), what="skill")


def _first_paragraph(text: str) -> str:
    para: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if para:
                break
            continue
        if line.lstrip().startswith("#") and not para:
            continue  # a title line
        para.append(line.strip())
    return " ".join(para)


def skill_files(base_dir: Path) -> list[Path]:
    """Every ``SKILL.md`` under ``base_dir`` in discovery order."""
    out = sorted((base_dir / SKILLS_DIR).glob(f"*/{SKILL_FILE}")) if (base_dir / SKILLS_DIR).is_dir() else []
    agents = base_dir / AGENTS_DIR
    if agents.is_dir():
        out += sorted(agents.glob(f"*/{SKILLS_DIR}/*/{SKILL_FILE}"))
    return out


def discover_skills(base_dir: Path, display_base: Path | None = None) -> DiscoveredSkills:
    """The skills of ``base_dir`` (see the module doc); never raises for
    unreadable or malformed files (they are diagnostics)."""
    out = DiscoveredSkills()
    show_base = display_base or base_dir
    for md in skill_files(base_dir):
        name = md.parent.name
        if name in out.skills:
            continue
        try:
            shown = str(md.relative_to(show_base))
        except ValueError:
            shown = str(md)
        try:
            text = md.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            out.diagnostics.append(Diagnostic("E0870", Severity.ERROR, f"cannot read `{shown}`: {e}", None))
            continue
        settings, key_lines, body, diags = parse_skill_md(text, shown)
        settings.setdefault("description", _first_paragraph(body))
        entry = None
        if not settings["description"]:
            diags.append(Diagnostic("E0870", Severity.ERROR, f"skill `{name}` has no description",
                                    Label(_span(shown, text, 1), "in this file"),
                                    help="add `description: ...` in front matter, or a first paragraph"))
        else:
            try:
                entry = SkillEntry.model_validate({**settings, "instructions": body})
            except ValidationError as e:
                for err in e.errors():
                    key = str(err["loc"][0]) if err["loc"] else "?"
                    diags.append(Diagnostic("E0870", Severity.ERROR,
                                            f"invalid skill front matter value for `{key}`: {value_message(err)}",
                                            Label(_span(shown, text, key_lines.get(key, 1)), f"in skill `{name}`")))
        if diags:
            out.sources[shown] = text
            out.diagnostics.extend(diags)
        if entry is not None:
            out.skills[name] = entry
            out.files[name] = md
    return out


def with_skills(reg: Registry, base_dir: Path, cwd: Path) -> tuple[Registry, DiscoveredSkills]:
    """``reg`` plus the skills found under ``base_dir`` (registry entries
    win) and one agent per skill whose name no agent has and whose model the
    registry has (so a workflow can run a skill as a ``subagent`` node)."""
    found = discover_skills(base_dir, cwd)
    skills = dict(found.skills)
    skills.update(reg.skills)
    agents = dict(reg.agents)
    for name, skill in skills.items():
        # a skill whose model the registry lacks can still be given to agents, just not run as a node
        if name not in agents and skill.model in reg.models:
            agents[name] = AgentEntry(model=skill.model, description=skill.description,
                                      max_iterations=skill.max_iterations, skills=(name,))
    updated = reg.model_copy(update={"skills": skills, "agents": agents})
    updated.source = reg.source
    return updated, found
