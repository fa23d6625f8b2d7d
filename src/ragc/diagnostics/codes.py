"""The catalogue of diagnostic codes: one :class:`CodeInfo` per code.

Every code a stage emits has an entry here; ``ragc explain CODE`` prints it
and ``docs/diagnostics.md`` is generated from it (:func:`render_markdown`,
kept in sync by a test).

Ranges (``docs/architecture.md``): ``E00xx`` syntax and limits, ``E01xx``
names and resolution, ``E02xx`` node kinds and fields, ``E03xx`` routing and
loops, ``E04xx`` fan-out and joins, ``E05xx`` channels, state and write
conflicts, ``E06xx`` policy and capabilities, ``E07xx`` schemas and types,
``E08xx`` registry, ``E09xx`` runtime. Warnings use ``W`` with the same
ranges.

How the catalogue is assembled (and how to add codes): each area owns a
tuple of :class:`CodeInfo` entries. The checker's and registry's tables are
in :mod:`ragc.diagnostics.codes_check`. Other areas put theirs in a module of
this package named in :data:`AREA_MODULES` (``codes_syntax`` for ``E00xx``,
``codes_runtime`` for ``E09xx``) exposing ``CODES: tuple[CodeInfo, ...]``;
:func:`catalogue` merges them, so no one edits another area's file. A code
defined twice raises :class:`ValueError` (at import of the catalogue, hence
in every test run).
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

_CODE = re.compile(r"^[EW][0-9]{4}$")

AREA_MODULES: tuple[str, ...] = (
    "ragc.diagnostics.codes_syntax",  # E00xx / W00xx (syntax and limits)
    "ragc.diagnostics.codes_check",  # E01xx..E08xx (checker and registry)
    "ragc.diagnostics.codes_runtime",  # E09xx / W09xx (run time)
    "ragc.diagnostics.codes_extensions",  # E0870..E0879 (MCP servers, memory stores, skills)
)
"""Modules whose ``CODES`` tuples make up the catalogue; a missing module
(an area not built yet) is skipped."""

AREAS: dict[str, str] = {
    "00": "syntax and limits",
    "01": "names and resolution",
    "02": "node kinds and fields",
    "03": "routing and loops",
    "04": "fan-out and joins",
    "05": "channels, state and write conflicts",
    "06": "policy and capabilities",
    "07": "schemas, types and templates",
    "08": "registry",
    "09": "runtime",
}
"""Area title by the two digits after the letter (``E0102`` -> ``"01"``)."""


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One catalogue entry.

    Args:
        code: ``E`` or ``W`` followed by four digits.
        severity: ``"error"`` or ``"warning"`` (the default severity; must
            agree with the letter).
        title: a short lowercase phrase (``"unknown node"``).
        explanation: a paragraph (Markdown) saying what is wrong and how to
            fix it.
        example: a minimal source that triggers the code.
        example_lang: the example's language: ``"rag"`` (a ``.rag`` file,
            checked against :data:`EXAMPLE_REGISTRY` by the tests) or
            ``"toml"`` (a ``registry.toml``).
    """

    code: str
    severity: str
    title: str
    explanation: str
    example: str
    example_lang: str = "rag"

    @property
    def area(self) -> str:
        return AREAS.get(self.code[1:3], "other")


def _validate(entries: Iterable[CodeInfo]) -> dict[str, CodeInfo]:
    out: dict[str, CodeInfo] = {}
    for e in entries:
        if not _CODE.match(e.code):
            raise ValueError(f"malformed diagnostic code {e.code!r}")
        expected = "error" if e.code[0] == "E" else "warning"
        if e.severity != expected:
            raise ValueError(f"{e.code}: severity {e.severity!r} does not match its letter")
        if e.example_lang not in ("rag", "toml"):
            raise ValueError(f"{e.code}: example_lang must be 'rag' or 'toml'")
        if e.code in out:
            raise ValueError(f"diagnostic code {e.code} is defined twice")
        out[e.code] = e
    return out


@functools.cache
def catalogue() -> Mapping[str, CodeInfo]:
    """Every known code, sorted by code.

    Raises:
        ValueError: a code is malformed, defined twice, or its severity does
            not match its letter.
    """
    entries: list[CodeInfo] = []
    for name in AREA_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        entries.extend(getattr(mod, "CODES"))
    table = _validate(entries)
    return dict(sorted(table.items()))


def lookup(code: str) -> CodeInfo | None:
    """The entry of ``code`` (case-insensitive), or ``None``."""
    return catalogue().get(code.strip().upper())


def render_entry(info: CodeInfo) -> str:
    """Plain text of one entry, as ``ragc explain`` prints it."""
    lines = [
        f"{info.code}: {info.title}",
        f"severity: {info.severity}    area: {info.area}",
        "",
        info.explanation.strip(),
        "",
        f"Example ({'registry.toml' if info.example_lang == 'toml' else '.rag'}):",
        "",
    ]
    lines += ["    " + ln if ln else "" for ln in info.example.strip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """The whole catalogue as Markdown: the content of ``docs/diagnostics.md``."""
    out = [
        "# Diagnostics",
        "",
        "<!-- Generated from src/ragc/diagnostics/codes*.py by "
        "`python -m ragc.diagnostics.codes > docs/diagnostics.md`; do not edit. -->",
        "",
        "Every problem `ragc` reports has a stable code: `E` for errors, `W` for warnings.",
        "`ragc explain CODE` prints one entry. `ragc check --format json` reports each",
        "diagnostic with its code, severity, message, 1-based range, labels, help, notes",
        "and suggestions (`machine-applicable` edits can be applied without review,",
        "`maybe-incorrect` ones need a look).",
        "",
        "| range | area |",
        "|---|---|",
    ]
    for digits, title in AREAS.items():
        out.append(f"| `E{digits}xx` / `W{digits}xx` | {title} |")
    area = None
    for info in catalogue().values():
        if info.area != area:
            area = info.area
            out += ["", f"## {area[0].upper()}{area[1:]}", ""]
        out += [
            f"### {info.code}: {info.title}",
            "",
            f"*{info.severity}*",
            "",
            info.explanation.strip(),
            "",
            f"```{info.example_lang}",
            info.example.strip("\n"),
            "```",
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":  # python -m ragc.diagnostics.codes > docs/diagnostics.md
    import sys

    sys.stdout.write(render_markdown())
