"""The docs stay true: the whole-graph examples of ``docs/language.md``,
``docs/quickstart.md`` and ``README.md`` are canonical and check cleanly
against the repository registry; the fragments of ``language.md`` parse
inside a node, and its dedent example has the value the page states."""

from __future__ import annotations

import re

import pytest

from synkit import REPO
from ragc.compiler import compile_source
from ragc.registry.loader import load_registry
from ragc.syntax.formatter import format_source
from ragc.syntax.parser import parse

DOC = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```rag\n(.*?)```", DOC, flags=re.S)


@pytest.mark.parametrize("doc", ["docs/language.md", "docs/quickstart.md", "README.md"])
def test_whole_graph_examples_are_canonical_and_check(doc):
    registry = load_registry(REPO / "registry.toml").registry
    text = (REPO / doc).read_text(encoding="utf-8")
    graphs = [b for b in re.findall(r"```rag\n(.*?)```", text, flags=re.S) if "graph " in b]
    assert graphs
    for block in graphs:
        assert format_source(block).text == block
        result = compile_source(block, "doc.rag", registry, lower=False)
        assert not [d for d in result.diagnostics if d.is_error], result.diagnostics


def test_fragments_parse_where_they_belong():
    fragments = [b for b in BLOCKS if "graph " not in b]
    assert len(fragments) >= 3, "language.md lost its fragment examples"
    for block in fragments:
        wrapped = (f"graph g {{\n{block}\n}}\n" if block.lstrip().startswith("input")
                   else f"graph g {{\n  node n {{\n{block}\n  }}\n}}\n")
        assert parse(wrapped).ok, block


def test_dedent_example_value():
    block = next(b for b in BLOCKS if b.lstrip().startswith('prompt """'))
    value = parse(f"graph g {{ node n {{ {block} }} }}").module.graphs[0].nodes[0].field("prompt").value.value
    stated = re.search(r"has the value `(.*?)`,", DOC, flags=re.S).group(1)
    assert '"' + value.replace("\n", "\\n") + '"' == stated
