"""``docs/upstream.md`` stays true: its upstream example formats to exactly
the canonical example shown beside it, both check cleanly against the
repository registry and lower to the same IR hash; every code the page names
is in the catalogue; the corpus numbers it states are the corpus's."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragc.compiler import compile_source
from ragc.diagnostics.codes import catalogue
from ragc.registry.loader import load_registry
from ragc.syntax.formatter import format_source

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "upstream.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```rag\n(.*?)```", DOC, flags=re.S)


def _body(block: str) -> str:
    """The block without its leading `//` caption line."""
    return "".join(block.splitlines(keepends=True)[1:])


def test_upstream_example_formats_to_the_canonical_example():
    upstream, canonical = BLOCKS[0], BLOCKS[1]
    out = format_source(upstream, "doc.rag")
    assert out.ok
    assert _body(out.text) == _body(canonical)
    registry = load_registry(ROOT / "registry.toml", cwd=ROOT).registry
    a = compile_source(upstream, "doc.rag", registry)
    b = compile_source(canonical, "doc.rag", registry)
    assert a.ok and b.ok, (a.diagnostics, b.diagnostics)
    assert a.program.compute_hash() == b.program.compute_hash()


def test_codes_named_on_the_page_exist():
    codes = set(re.findall(r"`([EW]0\d{3})`", DOC))
    assert {"E0290", "E0291", "E0292", "E0293", "E0294", "E0295"} <= codes
    assert codes <= set(catalogue())


def test_corpus_numbers_on_the_page():
    programs = json.loads((ROOT / "tests/upstream/corpus/manifest.json").read_text())["programs"]
    counts = {c: sum(1 for e in programs if e["class"] == c)
              for c in ("accepted", "rejected", "documented", "not_a_program")}
    for cls, n in counts.items():
        assert f"| `{cls}` " in DOC and re.search(rf"\| `{cls}` [^|]*\| {n} \|", DOC), (cls, n)
    assert f"{len(programs)} programs" in DOC
