"""The runtime's diagnostic codes and the terminal renderings of events."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from irb import fanout, fn, graph, join, program, send

from ragc.cli.live import JsonlPrinter, LiveView, ProgressPrinter
from ragc.diagnostics.codes import catalogue
from ragc.runtime.engine import Engine
from ragc.runtime.errors import RUNTIME_CODES

REPO = Path(__file__).resolve().parents[2]


def test_runtime_codes_are_in_the_catalogue_with_checkable_examples():
    from ragc.compiler import compile_source
    from ragc.registry.loader import load_registry

    cat = catalogue()
    reg = load_registry(REPO / "registry.toml").registry
    for code, title in RUNTIME_CODES.items():
        info = cat[code]
        assert info.title == title
        if info.example_lang == "rag":
            r = compile_source(info.example, f"{code}.rag", reg)
            assert r.ok, (code, [d.message for d in r.diagnostics])


def _events():
    n = 12
    g = graph("fan", "d", [
        fn("d", "noop", routing=fanout(send("w", {"i": "$item"}, foreach=("item", list(range(n)))), join="j")),
        fn("w", "work", input="$payload.i", output="res"),
        fn("done", "noop"),
    ], channels={"res": "append"}, joins=[join("j", "d", "done")])
    events = []
    import anyio

    async def go():
        return await Engine(program(g), functions={"noop": lambda: None, "work": lambda i: i}).start(
            {}, listeners=[events.append])

    r = anyio.run(go)
    assert r.status == "completed"
    return events


def test_live_view_renders_fanout_progress_and_totals():
    from rich.console import Console

    events = _events()
    console = Console(file=io.StringIO(), width=100, record=True)
    view = LiveView("fan", console=console)
    for ev in events:
        view(ev)
    fan = view.fanouts["d#1"]
    fan.status = "running"  # drawn as if still open: one branch running
    fan.branches[0].state, fan.branches[0].ended, fan.branches[0].doing = "running", None, "w (function)"
    console.print(view)
    text = console.export_text()
    assert "fan" in text and "11 done, 1 running of 12" in text and "→ join j" in text
    assert "14 steps" in text
    assert "w i=0  running" in text and "w (function)" in text


def test_live_view_totals_count_replayed_steps_once():
    # An inline answer resumes in the same view: the journal's completions are
    # replayed (replayed=True) and must not be counted again.
    from dataclasses import replace

    from ragc import events as E
    from rich.console import Console

    events = _events()
    completed = [ev for ev in events if type(ev) is E.NodeCompleted]
    view = LiveView("fan", console=Console(file=io.StringIO(), width=100))
    for ev in events + [replace(ev, replayed=True) for ev in completed]:
        view(ev)
    assert view.totals.steps == len(completed) == 14


def test_progress_and_jsonl_printers():
    events = _events()
    buf = io.StringIO()
    p = ProgressPrinter(buf)
    for ev in events:
        p(ev)
    out = buf.getvalue()
    assert "fan-out d#1: 12 branches" in out and "join j: ok (12 ok" in out and "done done#1" in out
    assert "d#1/0:w#1" not in out  # branch-level lines are left out
    buf = io.StringIO()
    j = JsonlPrinter(buf)
    for ev in events:
        j(ev)
    import json

    types = [json.loads(x)["type"] for x in buf.getvalue().splitlines()]
    assert types.count("branch_finished") == 12 and types[-1] == "run_finished"


@pytest.mark.anyio
async def test_on_event_listener_errors_do_not_break_the_run(capsys):
    def broken(ev):
        raise RuntimeError("listener bug")

    g = graph("g", "a", [fn("a", "noop")])
    r = await Engine(program(g), functions={"noop": lambda: None}).start({}, listeners=[broken])
    assert r.status == "completed"
    assert "listener bug" in capsys.readouterr().err
