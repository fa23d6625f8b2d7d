"""A large generated workflow (1000 nodes: chains, routers, static forks with
joins, sends with joins) checks cleanly and in bounded time, and the
algorithms do not recurse (no RecursionError on long chains)."""

from __future__ import annotations

import time

from ragc.compiler import compile_source


def generate(blocks: int) -> str:
    """``blocks`` blocks of 10 nodes each: a model, a router looping back at
    most twice, a static fork of two models joined, a send to an agent with a
    join, and a chain of models."""
    lines = ["graph big {", "  input { question: string }", "  start n0_a",
             "  channel notes append", "  channel rounds sum", "  channel reviews append"]
    for i in range(blocks):
        nxt = f"n{i + 1}_a" if i + 1 < blocks else "END"
        p = f"n{i}_"
        lines += [
            f"  node {p}a {{ kind model  prompt \"Step {i}: {{{{ input.question }}}}\"  output notes"
            f"  command {{ update {{ rounds: 1 }} }}  next {p}r }}",
            f"  node {p}r {{ kind router  routes {{ again -> {p}a when state.rounds < {i % 3}  go -> {p}f }} }}",
            f"  node {p}f {{ kind model  output notes  next [{p}x, {p}y] }}",
            f"  node {p}x {{ kind model  output notes }}",
            f"  node {p}y {{ kind model  output notes }}",
            f"  join [{p}x, {p}y] -> {p}s",
            f"  node {p}s {{ kind model  send [ reviewer {{ diff: state.notes }} ]  join {p}c1 }}",
            f"  node {p}c1 {{ kind model  output notes  next {p}c2 }}",
            f"  node {p}c2 {{ kind model  output notes  next {p}c3 }}",
            f"  node {p}c3 {{ kind model  output notes  next {p}c4 }}",
            f"  node {p}c4 {{ kind model  output notes  next {nxt} }}",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def test_thousand_nodes_check_cleanly_and_fast(test_registry):
    text = generate(100)
    assert text.count("  node ") == 1000
    t0 = time.perf_counter()
    result = compile_source(text, "big.rag", test_registry, lower=False)
    elapsed = time.perf_counter() - t0
    assert result.diagnostics == []
    assert elapsed < 30, f"check of 1000 nodes took {elapsed:.1f}s"


def test_long_chain_does_not_recurse(test_registry):
    n = 3000
    body = "\n".join(f"  node c{i} {{ kind model  next {'c' + str(i + 1) if i + 1 < n else 'END'} }}" for i in range(n))
    text = "graph chain {\n  start c0\n" + body + "\n}\n"
    result = compile_source(text, "chain.rag", test_registry)
    assert result.diagnostics == [] and result.program is not None
    assert len(result.program.graphs["chain"].nodes) == n
