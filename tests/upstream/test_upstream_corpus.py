"""Upstream compatibility: every `.rag` program of TinyAgents' history.

``corpus/`` holds the programs of upstream's docs fences and Rust tests
(extracted by ``extract_corpus.py``, deduplicated; ``corpus/manifest.json``
says from which commit and file each came and what upstream's own parser and
compiler at ``bbcd0a6`` made of it). Each program is classified:

* ``accepted`` by upstream: ragc accepts it too, apart from unknown registry
  names, unless :data:`NOT_ACCEPTED` lists it with the precise codes ragc
  reports and why (``docs/upstream.md``, "Deliberate differences");
* ``rejected`` by upstream (a negative test): ragc rejects it too, unless
  :data:`ACCEPTED_DELIBERATELY` says why ragc accepts it;
* ``documented`` (docs forms upstream's parser never implemented): ragc
  accepts them.

Every program that ragc accepts formats to a canonical file that checks
cleanly, lowers to the same IR hash as the lenient file, and formats to
itself again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.registry.loader import load_registry
from ragc.registry.model import AgentEntry, FunctionEntry, GraphEntry, ReducerEntry
from ragc.syntax.formatter import format_source

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
PROGRAMS = {e["file"]: e for e in MANIFEST["programs"]}

REGISTRY_NAME_CODES = frozenset({"E0106", "E0107", "E0108", "E0109", "E0110", "E0111", "E0112"})
"""Unknown model, tool, agent, graph, reducer, function, store: upstream bound
names against the host's registry, which ragc's repository registry is not."""

REJECTED_DELIBERATELY: dict[str, tuple[frozenset[str], str]] = {
    # Programs upstream's parser and compiler accepted that ragc rejects on purpose, with the
    # precise codes it reports and why (docs/upstream.md, "Deliberate differences"). Each code
    # is one ragc will not guess a meaning for; none is a registry name.
    "115_g.rag": (frozenset({"E0293"}),
                  "reducer arguments `\"agg\" 3`: upstream handed `3` to its host unread, so ragc does "
                  "not guess what the reducer should do with it"),
    "049_orchestrator.rag": (frozenset({"E0294", "E0205", "E0301"}),
                             "named input mappings (`send worker_a \"split_a\"`, `input \"topic\"`: the "
                             "host's mappings); `timeout 30` (upstream passed \"30\" on unconverted, the "
                             "unit is unknown); `sends` plus `next worker_a` on one node (upstream wired "
                             "only the `next` and left the sends to its host's node factory, so whether "
                             "`worker_a` ran once or twice was the host's)"),
}
"""``accepted`` programs ragc rejects deliberately."""

FRAGMENTS: dict[str, tuple[frozenset[str], str]] = {
    # `documented` docs snippets that are no whole program (upstream's parser rejected it too:
    # `60s`; its compiler would say "no `start` node")
    "027_support_agent.rag": (frozenset({"E0105"}),
                              "a `defaults` example without `start` or nodes (a fragment of a graph)"),
}
"""``documented`` snippets that are fragments, not programs: ragc reports
what a program lacks (``E0105``)."""

NOT_ACCEPTED = {**REJECTED_DELIBERATELY, **FRAGMENTS}
# `channel c barrier N` is an `append` channel since issue 17c; a top-level join restating a
# `kind join` node's sources is dropped, and a `kind join` node joining a `sends` fork is the
# sender's `join T`, since 17c (all three in 049: test_barrier_and_join_stated_twice,
# test_a_join_node_after_sends_joins_the_fork)
# `model` on a `subagent` node (a model override) is supported since issue 12: 123_g.rag, 128_g.rag
# an interrupt without `prompt` (060, 078) and `command { update }` on an undeclared key (076, 077) are
# filled in for upstream-spelled graphs since issue 17b (test_filled_in_only_for_upstream_graphs)
# `kind repl_agent` is `kind repl` since issue 15: 031_support_repl.rag, 085_g.rag, 124_g.rag

ACCEPTED_DELIBERATELY: dict[str, str] = {
    "073_g.rag": "several top-level edges from one node are ragc's static parallel (`next [b, c]`); upstream "
                 "had one successor per node and called the second edge dead weight",
    "096_g.rag": "several top-level edges from one node are ragc's static parallel (`next [b, c]`)",
}
"""Upstream negative tests that ragc accepts, with the reason (docs/upstream.md)."""


@pytest.fixture(scope="module")
def registry():
    load = load_registry(ROOT / "registry.toml", cwd=ROOT)
    assert load.ok, load.diagnostics
    return load.registry


def _compile(text: str, file: str, registry):
    return compile_source(text, file, registry, lower=True)


TABLES = {"E0106": "models", "E0107": "tools", "E0108": "agents", "E0109": "graphs", "E0110": "reducers",
          "E0111": "functions"}


def _stand_in_graph(folder: Path, name: str) -> GraphEntry:
    path = folder / f"{name}.rag"
    path.write_text(f"graph {name} {{\n  start a\n  node a {{ kind model }}\n}}\n", encoding="utf-8")
    return GraphEntry(path=str(path))


def _with_names(registry, result, folder: Path):
    """``registry`` plus a stand-in entry for every model, tool, agent,
    graph (a one-node graph file in ``folder``), reducer and function
    ``result`` reports unknown (upstream bound names against its host's
    registry), so the program lowers and its IR can be compared. ``None``
    when some unknown name cannot be stood in for (a store)."""
    extra: dict[str, dict] = {}
    for d in result.diagnostics:
        if d.code not in REGISTRY_NAME_CODES:
            continue
        table = TABLES.get(d.code)
        name = re.search(r"`([^`]+)`", d.message)
        if table is None or name is None:
            return None
        extra.setdefault(table, {})[name.group(1)] = {
            "models": lambda: registry.models["default"],
            "tools": lambda: registry.tools["search"],
            "agents": AgentEntry,
            "graphs": lambda: _stand_in_graph(folder, name.group(1)),
            "reducers": lambda: ReducerEntry(python="tests.helpers:longest"),
            "functions": lambda: FunctionEntry(python="tests.helpers:score"),
        }[table]()
    return registry.model_copy(update={t: {**getattr(registry, t), **names} for t, names in extra.items()})


def _errors(result) -> set[str]:
    return {d.code for d in result.diagnostics if d.is_error}


def _files(cls: str) -> list[str]:
    return sorted(f for f, e in PROGRAMS.items() if e["class"] == cls)


def test_manifest_matches_the_corpus():
    on_disk = {p.name for p in CORPUS.glob("*.rag")}
    assert on_disk == set(PROGRAMS)
    assert len(PROGRAMS) == 130
    for e in PROGRAMS.values():
        assert e["origins"], e["file"]
        assert all(len(o["commit"]) == 7 and o["path"] and o["kind"] in ("docs", "rust_test") for o in e["origins"])
        assert e["class"] in ("accepted", "rejected", "documented", "not_a_program")
        assert e["upstream"] in ("ok", "parse_error", "compile_error", "bind_error")
    for f in list(NOT_ACCEPTED) + list(ACCEPTED_DELIBERATELY):
        assert f in PROGRAMS, f
    assert all(PROGRAMS[f]["class"] == "accepted" for f in REJECTED_DELIBERATELY)
    assert all(PROGRAMS[f]["class"] == "documented" for f in FRAGMENTS)
    assert all(PROGRAMS[f]["class"] == "rejected" for f in ACCEPTED_DELIBERATELY)


def test_upstream_accepted_programs_rejected_only_deliberately(registry):
    """Of the programs upstream's parser and compiler accepted, ragc rejects
    none for anything but an unknown registry name, apart from the ones
    :data:`REJECTED_DELIBERATELY` lists with their reasons."""
    rejected = []
    for file in _files("accepted"):
        text = (CORPUS / file).read_text(encoding="utf-8")
        if _errors(_compile(text, file, registry)) - REGISTRY_NAME_CODES:
            rejected.append(file)
    assert sorted(rejected) == sorted(REJECTED_DELIBERATELY)


@pytest.mark.parametrize("file", _files("accepted") + _files("documented"))
def test_upstream_valid_programs_are_accepted(file, registry):
    text = (CORPUS / file).read_text(encoding="utf-8")
    result = _compile(text, file, registry)
    errors = _errors(result) - REGISTRY_NAME_CODES
    if file in NOT_ACCEPTED:
        codes, why = NOT_ACCEPTED[file]
        assert errors == codes, (why, [(d.code, d.message) for d in result.diagnostics])
        return
    assert not errors, [(d.code, d.span.line if d.span else None, d.message) for d in result.diagnostics]


@pytest.mark.parametrize("file", _files("accepted") + _files("documented"))
def test_canonical_form_has_the_same_meaning(file, registry, tmp_path):
    if file in NOT_ACCEPTED:
        pytest.skip(NOT_ACCEPTED[file][1])
    text = (CORPUS / file).read_text(encoding="utf-8")
    formatted = format_source(text, file)
    assert formatted.ok, formatted.diagnostics
    again = format_source(formatted.text, file)
    assert again.text == formatted.text, "ragc fmt is not idempotent here"
    lenient = _compile(text, file, registry)
    canonical = _compile(formatted.text, file, registry)
    assert _errors(canonical) - REGISTRY_NAME_CODES == set(), [(d.code, d.message) for d in canonical.diagnostics]
    assert _errors(lenient) == _errors(canonical)
    wider = _with_names(registry, lenient, tmp_path)
    assert wider is not None, "an unknown registry name that cannot be stood in for"
    lenient = _compile(text, file, wider)
    canonical = _compile(formatted.text, file, wider)
    assert lenient.ok and canonical.ok, [(d.code, d.message) for d in lenient.diagnostics + canonical.diagnostics]
    assert lenient.program.compute_hash() == canonical.program.compute_hash()


@pytest.mark.parametrize("file", _files("rejected"))
def test_upstream_negative_tests_are_still_rejected(file, registry):
    text = (CORPUS / file).read_text(encoding="utf-8")
    result = _compile(text, file, registry)
    if file in ACCEPTED_DELIBERATELY:
        assert not _errors(result) - REGISTRY_NAME_CODES, ACCEPTED_DELIBERATELY[file]
        return
    # rejected for a reason of its own, not only because the repository's registry lacks a name
    assert _errors(result) - REGISTRY_NAME_CODES, \
        f"upstream rejected this ({PROGRAMS[file]['upstream_message']}); ragc accepts it"


def test_the_lenient_forms_are_exercised():
    """The corpus holds each upstream spelling the rewrite maps (guards against
    a corpus rebuilt without them)."""
    texts = "\n".join((CORPUS / f).read_text(encoding="utf-8") for f in _files("accepted"))
    for needle in ("kind tool_executor", "recursion_limit", "checkpoint inherit", "interrupt manual",
                   'aggregate "usage_delta"', "tool_call ->", 'timeout "', "kind router",
                   "update {", 'defaults { mode "', "interrupt auto", "join [a] -> b", "kind repl_agent"):
        assert needle in texts, needle


def test_filled_in_only_for_upstream_graphs(registry):
    """An interrupt without ``prompt`` and a ``command { update }`` on an
    undeclared key are filled in only in a graph written upstream's way (060,
    076); the same graph written ragc's way keeps E0204 and E0502, with spans."""
    for file, upstream_word, ragc_word, code, line, column in (
            ("060_review_flow.rag", "kind tool_executor", "kind tool", "E0204", 13, 8),
            ("076_flow2.rag", "kind tool_executor", "kind tool", "E0502", 10, 9)):
        text = (CORPUS / file).read_text(encoding="utf-8")
        assert upstream_word in text
        assert not _errors(_compile(text, file, registry)) - REGISTRY_NAME_CODES
        canonical = text.replace(upstream_word, ragc_word).replace("kind agent", "kind model")
        result = _compile(canonical, file, registry)
        found = [(d.code, d.span.line, d.span.column) for d in result.diagnostics if d.is_error]
        assert (code, line, column) in found, found
        d = next(d for d in result.diagnostics if d.code == code)
        assert d.help, d


def test_named_reducer_with_parameters_says_what_to_register(registry):
    """115: `aggregate "agg" 3` stays E0293 (upstream handed `3` to its host
    unread), spanning both arguments, and the help names the reducer to register."""
    result = _compile((CORPUS / "115_g.rag").read_text(encoding="utf-8"), "115_g.rag", registry)
    d = next(d for d in result.diagnostics if d.code == "E0293")
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 43, 50)
    assert "`[reducers.agg]`" in d.help and "`channel facts agg`" in d.help
    assert any("unread" in n for n in d.notes)


BARRIER_AND_JOIN_TWICE = """graph g {
  start fanout
  channel arrivals barrier 2
  channel out append
  node fanout {
    kind model
    next [worker_a, worker_b]
  }
  node worker_a { kind model  output out  next gather }
  node worker_b { kind model  output out  next gather }
  node gather {
    kind join
    sources [worker_a, worker_b]
    next done
  }
  node done { kind model }
  join [worker_a, worker_b] -> gather
}
"""


def test_barrier_and_join_stated_twice(registry):
    """049's `channel arrivals barrier 2` is an `append` channel (upstream's
    `Barrier` channel merged writes into a list; the count is kept as data),
    and its `join [worker_a, worker_b] -> gather` restating the `gather` join
    node's sources is dropped (one barrier, not two): accepted, and `ragc fmt`
    writes the canonical form with the same IR hash."""
    lenient = _compile(BARRIER_AND_JOIN_TWICE, "g.rag", registry)
    assert not _errors(lenient), [(d.code, d.message) for d in lenient.diagnostics]
    formatted = format_source(BARRIER_AND_JOIN_TWICE, "g.rag")
    assert formatted.ok, formatted.diagnostics
    assert "barrier 2" not in formatted.text
    assert "channel arrivals append" in formatted.text
    assert "metadata { upstream: { barriers: { arrivals: 2 } } }" in formatted.text
    assert formatted.text.count("join [") == 1
    assert format_source(formatted.text, "g.rag").text == formatted.text
    canonical = _compile(formatted.text, "g.rag", registry)
    assert canonical.ok, [(d.code, d.message) for d in canonical.diagnostics]
    assert lenient.program.compute_hash() == canonical.program.compute_hash()
    assert canonical.program.graphs["g"].metadata["upstream"]["barriers"] == {"arrivals": 2}


def test_other_barriers_and_parameters_stay_unsupported(registry):
    """Only `barrier N` (one count) maps; a named barrier's arguments and a
    named reducer with parameters stay `E0293`."""
    for channel in ('channel arrivals barrier "a" "b"', 'channel arrivals barrier 2 3',
                    'channel facts aggregate "agg" 3'):
        text = f"graph g {{\n  start a\n  {channel}\n  node a {{ kind model }}\n}}\n"
        assert "E0293" in _errors(_compile(text, "g.rag", registry)), channel


def test_sends_plus_next_says_what_upstream_left_to_its_host(registry):
    """049's `fanout` has `sends [...]` and `next worker_a`: `E0301` at the
    `next`, with a note that upstream wired only the `next` and left the
    sends to its host (so ragc does not pick whether `worker_a` runs twice)."""
    result = _compile((CORPUS / "049_orchestrator.rag").read_text(encoding="utf-8"), "049_orchestrator.rag",
                      registry)
    d = next(d for d in result.diagnostics if d.code == "E0301")
    assert (d.span.line, d.span.column) == (36, 5)
    assert any("host's node factory" in n for n in d.notes)
    assert not any(d.code == "E0293" for d in result.diagnostics), "`barrier 2` is mapped"
    assert not any(d.code == "E0401" for d in result.diagnostics), "the join stated twice is dropped"



SENDS_AND_JOIN_NODE = """graph orchestrator {
  start planner
  channel out append
  node planner {
    kind agent
    model "default"
    command { goto fanout }
  }
  node fanout {
    kind model
    sends [
      send worker_a
      send worker_b
    ]
  }
  node worker_a { kind model  output out  next gather }
  node worker_b { kind model  output out  next gather }
  node gather {
    kind join
    sources [worker_a, worker_b]
    next research
  }
  node research { kind model }
  join [worker_a, worker_b] -> gather
}
"""


def test_a_join_node_after_sends_joins_the_fork(registry):
    """049's shape without its unsupported parts: `sends` to the workers, a
    `kind join` node `gather` with them as `sources` (each `next gather`).
    ragc joins a send fork on the sender: `send [...]` + `join research`,
    `gather` removed; accepted, formatted, same IR hash."""
    lenient = _compile(SENDS_AND_JOIN_NODE, "g.rag", registry)
    assert not _errors(lenient), [(d.code, d.message) for d in lenient.diagnostics]
    formatted = format_source(SENDS_AND_JOIN_NODE, "g.rag")
    assert formatted.ok, formatted.diagnostics
    assert "send [ worker_a, worker_b ]\n    join research\n" in formatted.text, formatted.text
    assert "gather" not in formatted.text
    assert format_source(formatted.text, "g.rag").text == formatted.text
    canonical = _compile(formatted.text, "g.rag", registry)
    assert canonical.ok, [(d.code, d.message) for d in canonical.diagnostics]
    assert lenient.program.compute_hash() == canonical.program.compute_hash()


def test_a_join_node_after_sends_is_kept_when_referred_to(registry):
    """The rewrite needs a join node that only its sources route to: with a
    second way in (`review` routes to `gather`) it is kept, and ragc's
    diagnostics stay."""
    text = SENDS_AND_JOIN_NODE.replace("  node research { kind model }",
                                       "  node research { kind model  next review }\n"
                                       "  node review { kind model  next gather }")
    assert "node gather" in format_source(text, "g.rag").text
    result = _compile(text, "g.rag", registry)
    assert _errors(result), [(d.code, d.message) for d in result.diagnostics]


def test_a_join_node_after_sends_in_a_ragc_graph_stays_an_error(registry):
    """Without another upstream spelling (here: without the top-level join
    that restates `gather`) the graph is a ragc graph and keeps `E0406`."""
    text = SENDS_AND_JOIN_NODE.replace("  join [worker_a, worker_b] -> gather\n", "")
    assert _errors(_compile(text, "g.rag", registry)) == {"E0406"}
