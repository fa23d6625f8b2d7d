"""Every ReplPolicy limit stops the cell with a limit error naming it; the
session stays usable afterwards."""

from __future__ import annotations

import pytest

from ragc.repl import ReplLimitError, ReplPolicy, ReplSession


def limited(registry, cell: str, **limits):
    with ReplSession(registry, policy=ReplPolicy(**limits)) as s:
        r = s.run_cell(cell)
        after = s.run_cell("1 + 1")  # the session survives the limit
        assert after.ok and after.value == 2
    assert isinstance(r.error, ReplLimitError), r.error and r.error.render()
    return r.error


def test_max_operations(registry) -> None:
    e = limited(registry, "s = 0\nfor i in range(10000000):\n    s += i\n", max_operations=100)
    assert e.limit == "max_operations" and e.line in (2, 3) and "max_operations (100)" in e.message
    assert "--max-operations" in e.hint


def test_max_operations_is_per_cell_and_allows_real_work(registry) -> None:
    with ReplSession(registry, policy=ReplPolicy(max_operations=100)) as s:
        for _ in range(3):
            r = s.run_cell("s = 0\nfor i in range(20000):\n    s += i\n")
            assert r.ok, r.error and r.error.render()


def test_max_calls_counts_each_element_of_a_batch(registry) -> None:
    with ReplSession(registry, policy=ReplPolicy(max_calls=3)) as s:
        assert s.run_cell('model_query("fake", "What is the capital of France?")').ok
        r = s.run_cell('model_query_batched("fake", ["item 0", "item 1", "item 2"])')
        assert isinstance(r.error, ReplLimitError) and r.error.limit == "max_calls"
        assert s.capabilities.calls == 1  # the refused batch made no call
        assert s.run_cell('model_query_batched("fake", ["item 0", "item 1"])').ok
        r = s.run_cell('tool_call("read_file", {"path": "notes.txt"})')
        assert r.error.limit == "max_calls" and "3" in r.error.message


def test_max_output_bytes(registry) -> None:
    e = limited(registry, 'for i in range(100):\n    print("0123456789")\n', max_output_bytes=50)
    assert e.limit == "max_output_bytes" and e.line == 2


def test_max_output_bytes_counts_show_vars(registry) -> None:
    with ReplSession(registry, policy=ReplPolicy(max_output_bytes=40)) as s:
        assert s.run_cell('big = "x" * 200').ok
        r = s.run_cell("show_vars()")
        assert r.error is not None and r.error.limit == "max_output_bytes"


def test_max_depth(registry) -> None:
    e = limited(registry, "def down(n):\n    return down(n + 1)\ndown(0)\n", max_depth=20)
    assert e.limit == "max_depth" and "max_depth (20)" in e.message


def test_timeout_in_evaluation(registry) -> None:
    e = limited(registry, "s = 0\nfor i in range(1000000000):\n    s += 1\n", timeout_s=0.5,
                max_operations=10**9)
    assert e.limit == "timeout_s"


def test_timeout_in_a_capability_call(registry) -> None:
    e = limited(registry, 'model_query("fake", "slow question")', timeout_s=0.5)
    assert e.limit == "timeout_s" and e.line == 1


def test_max_source_bytes(registry) -> None:
    e = limited(registry, "x = 1\n" * 100, max_source_bytes=100)
    assert e.limit == "max_source_bytes"
    e = limited(registry, 'graph_define("g", "' + "x" * 200 + '")', max_source_bytes=150)
    assert e.limit == "max_source_bytes"


def test_max_graphs(registry) -> None:
    cell = 'graph_define("a", "graph a {}")\ngraph_define("b", "graph b {}")\n'
    e = limited(registry, cell, max_graphs=1)
    assert e.limit == "max_graphs" and e.line == 2


@pytest.mark.parametrize("bad", [{"max_calls": 0}, {"timeout_s": -1}, {"max_depth": "3"}])
def test_policy_rejects_non_positive_limits(bad) -> None:
    with pytest.raises(ValueError):
        ReplPolicy(**bad)
