"""Terminal rendering of a run's events for ``ragc run`` / ``ragc resume``.

Three sinks over one event stream (:mod:`ragc.events`):

* :class:`LiveView` -- on a terminal: a rich ``Live`` tree of what is
  running (node kind, elapsed time), fan-outs with their progress
  (done/total) and join status, and a header with steps, model calls,
  tokens and cost. Redrawn a few times a second; events only update counters
  (cheap for 10 000 branches).
* :class:`ProgressPrinter` -- not a terminal: one plain line per top-level
  node completion, fan-out, join and failure (branch-level lines would flood
  a log), on stderr.
* :class:`JsonlPrinter` -- ``--json``: every event as one JSON line on
  stdout (model text deltas excluded).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from ragc import events as E


class _Totals:
    __slots__ = ("model_calls", "tool_calls", "tokens", "cost", "steps", "started")

    def __init__(self) -> None:
        self.model_calls = self.tool_calls = self.tokens = self.steps = 0
        self.cost = 0.0
        self.started = time.monotonic()

    def update(self, ev: E.Event) -> None:
        # What this view saw happen: a resumed leg replays the journal's
        # completions and calls (``replayed``/``cached``), counted once already.
        t = type(ev)
        if t is E.ModelCallCompleted and not ev.cached:  # type: ignore[attr-defined]
            self.model_calls += 1
            self.tokens += ev.input_tokens + ev.output_tokens  # type: ignore[attr-defined]
            self.cost += ev.cost_usd  # type: ignore[attr-defined]
        elif t is E.ToolCallCompleted and not ev.cached:  # type: ignore[attr-defined]
            self.tool_calls += 1
        elif t is E.NodeCompleted and not ev.replayed:  # type: ignore[attr-defined]
            self.steps += 1

    def line(self) -> str:
        el = time.monotonic() - self.started
        cost = f" · ${self.cost:.4f}" if self.cost else ""
        return (f"{el:5.1f}s · {self.steps} steps · {self.model_calls} model calls · {self.tool_calls} tool calls"
                f" · {self.tokens} tokens{cost}")


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


class LiveView:
    """A rich live tree of a running workflow (see module docs).

    Args:
        title: shown at the root (the graph name).
        console: a ``rich.console.Console`` (stderr by default).
    """

    MAX_SHOWN = 8

    def __init__(self, title: str, console: Any = None):
        from rich.console import Console

        self.title = title
        self.console = console or Console(stderr=True)
        self.totals = _Totals()
        self.running: dict[str, tuple[str, str, float]] = {}
        self.fanouts: dict[str, dict[str, Any]] = {}
        self.done_lines: list[str] = []
        self._live: Any = None

    def __enter__(self) -> "LiveView":
        from rich.live import Live

        self._live = Live(self, console=self.console, refresh_per_second=8, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
        for line in self.done_lines[-12:]:
            self.console.print(line, highlight=False)

    def pause(self) -> None:
        """Stop drawing (before asking a question inline)."""
        if self._live is not None:
            self._live.stop()

    def resume(self) -> None:
        """Start drawing again (after :meth:`pause`)."""
        if self._live is not None:
            self._live.start()

    def __call__(self, ev: E.Event) -> None:
        self.totals.update(ev)
        t = type(ev)
        if t is E.NodeStarted:
            self.running[ev.activation] = (ev.node, ev.kind, time.monotonic())  # type: ignore[attr-defined]
        elif t is E.NodeCompleted or t is E.NodeFailed or t is E.NodeCancelled:
            self.running.pop(ev.activation, None)  # type: ignore[attr-defined]
            if t is E.NodeFailed and not ev.will_retry:  # type: ignore[attr-defined]
                self.done_lines.append(f"[red]✗[/] {ev.activation}: {_short(ev.error)}")  # type: ignore[attr-defined]
            elif t is E.NodeCompleted and "/" not in ev.activation and not ev.replayed:  # type: ignore[attr-defined]
                self.done_lines.append(f"[green]✓[/] {ev.activation} [dim]{ev.duration_s:.2f}s[/]")  # type: ignore[attr-defined]
        elif t is E.FanOutStarted:
            self.fanouts[ev.activation] = {"node": ev.node, "total": ev.branches, "done": 0,  # type: ignore[attr-defined]
                                           "failed": 0, "join": ev.join, "status": "running"}  # type: ignore[attr-defined]
        elif t is E.BranchFinished:
            f = self.fanouts.get(ev.activation)  # type: ignore[attr-defined]
            if f is not None:
                f["done"] += 1
                if ev.status == "failed":  # type: ignore[attr-defined]
                    f["failed"] += 1
        elif t is E.JoinFired:
            f = self.fanouts.get(ev.activation)  # type: ignore[attr-defined]
            if f is not None:
                f["status"] = (f"{ev.outcome}: {ev.succeeded} ok, {ev.failed} failed, "  # type: ignore[attr-defined]
                               f"{ev.cancelled} cancelled, {ev.skipped} skipped")  # type: ignore[attr-defined]
                self.done_lines.append(f"[cyan]⋔[/] {f['node']}: join {f['status']}")
        elif t is E.InterruptRaised:
            self.done_lines.append(f"[yellow]?[/] {ev.node}: {_short(ev.question)}")  # type: ignore[attr-defined]

    def __rich__(self) -> Any:
        from rich.tree import Tree

        now = time.monotonic()
        root = Tree(f"[bold]{self.title}[/]  [dim]{self.totals.line()}[/]")
        # the refresh runs in rich's thread while events arrive: iterate snapshots
        fans = {act: dict(f) for act, f in list(self.fanouts.items()) if f["status"] == "running"}
        groups: dict[str, Any] = {}
        for act, f in fans.items():
            label = f"[cyan]⋔ {f['node']}[/] {f['done']}/{f['total']}"
            if f["failed"]:
                label += f" [red]({f['failed']} failed)[/]"
            if f["join"]:
                label += f" → join {f['join']}"
            groups[act + "/"] = [root.add(label), 0]
        for act, (node, kind, start) in list(self.running.items()):
            parent = None
            for prefix, g in groups.items():
                if act.startswith(prefix):
                    parent = g
            line = f"{node} [dim]({kind}) {now - start:.1f}s[/]"
            if parent is None:
                root.add(line)
            else:
                parent[1] += 1
                if parent[1] <= self.MAX_SHOWN:
                    parent[0].add(line)
                elif parent[1] == self.MAX_SHOWN + 1:
                    parent[0].add("[dim]…[/]")
        return root


class ProgressPrinter:
    """Plain progress lines for a non-terminal stderr (see module docs)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr

    def _p(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, ev: E.Event) -> None:
        t = type(ev)
        if t is E.NodeCompleted:
            if "/" not in ev.activation and ">" not in ev.activation:  # type: ignore[attr-defined]
                how = " (from journal)" if ev.replayed else f" {ev.duration_s:.2f}s"  # type: ignore[attr-defined]
                route = f" -> {ev.route}" if ev.route else ""  # type: ignore[attr-defined]
                self._p(f"  done {ev.activation}{route}{how}")  # type: ignore[attr-defined]
        elif t is E.NodeFailed:
            retry = " (will retry)" if ev.will_retry else ""  # type: ignore[attr-defined]
            self._p(f"  failed {ev.activation}: {_short(ev.error, 160)}{retry}")  # type: ignore[attr-defined]
        elif t is E.FanOutStarted:
            self._p(f"  fan-out {ev.activation}: {ev.branches} branches")  # type: ignore[attr-defined]
        elif t is E.JoinFired:
            self._p(f"  join {ev.join}: {ev.outcome} ({ev.succeeded} ok, {ev.failed} failed, "  # type: ignore[attr-defined]
                    f"{ev.cancelled} cancelled, {ev.skipped} skipped)")  # type: ignore[attr-defined]
        elif t is E.RunStarted:
            self._p(f"run {ev.run_id}: {'resuming' if ev.resumed else 'starting'} {ev.graph}")  # type: ignore[attr-defined]


class JsonlPrinter:
    """Every event as a JSON line on ``stream`` (stdout by default)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def __call__(self, ev: E.Event) -> None:
        if type(ev) is E.ModelDelta:
            return
        self.stream.write(json.dumps(E.to_json(ev), ensure_ascii=False, default=str) + "\n")
        self.stream.flush()
