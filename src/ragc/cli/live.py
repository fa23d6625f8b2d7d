"""Terminal rendering of a run's events for ``ragc run`` / ``ragc resume``.

Three sinks over one event stream (:mod:`ragc.events`):

* :class:`LiveView` -- on a terminal: a rich ``Live`` tree of what is
  running. Top-level nodes show their kind, time and current call; each
  fan-out shows its branches by their label (the first node and what differs
  in their payloads, :func:`ragc.events.branch_labels`), each with its state
  -- ``queued``, ``running`` (and which call: ``model fast``, ``tool
  read_file``, tokens streamed), ``done``, ``failed``, ``cancelled``,
  ``skipped`` -- and its time; the counts keep cancelled and failed branches
  apart from done ones. When the view closes it prints the complete summary:
  every top-level step, every fan-out with every branch (up to
  :attr:`LiveView.SUMMARY_BRANCHES` per fan-out, then counts), every
  failure and question, in order.
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

STATE_STYLE = {"queued": ("·", "dim"), "running": ("▶", "bold"), "done": ("✓", "green"), "failed": ("✗", "red"),
               "cancelled": ("⊘", "yellow"), "skipped": ("↷", "dim")}
_BRANCH_STATUS = {"ok": "done", "failed": "failed", "cancelled": "cancelled", "skipped": "skipped"}


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
        return (f"{el:5.1f}s · {plural(self.steps, 'step')} · {plural(self.model_calls, 'model call')} · "
                f"{plural(self.tool_calls, 'tool call')} · {plural(self.tokens, 'token')}{cost}")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 step``, ``2 steps``, ``plural(2, "branch", "branches")`` (English number agreement)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


class _Work:
    """What one activation or branch is doing: its call, its tokens, its time."""

    __slots__ = ("label", "state", "started", "ended", "doing", "model_calls", "tool_calls", "tokens",
                 "streamed", "note")

    def __init__(self, label: str, state: str = "queued", started: float | None = None):
        self.label = label
        self.state = state
        self.started = started
        self.ended: float | None = None
        self.doing = ""
        self.model_calls = self.tool_calls = self.tokens = self.streamed = 0
        self.note = ""

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else now) - self.started

    def line(self, now: float) -> str:
        icon, style = STATE_STYLE.get(self.state, ("?", ""))
        parts = [self.state]
        if self.started is not None:
            parts[0] += f" {self.elapsed(now):.1f}s"
        if self.state == "running" and self.doing:
            parts.append(self.doing)
        if self.streamed and self.state == "running":
            parts.append(f"{self.streamed} chars streamed")
        calls = []
        if self.model_calls:
            calls.append(plural(self.model_calls, "model call"))
        if self.tool_calls:
            calls.append(plural(self.tool_calls, "tool call"))
        if self.tokens:
            calls.append(plural(self.tokens, "token"))
        if calls and self.state != "running":
            parts.append(", ".join(calls))
        if self.note:
            parts.append(self.note)
        return f"[{style}]{icon}[/] {_esc(self.label)}  [dim]{_esc(' · '.join(parts))}[/]"


class _Fan:
    __slots__ = ("node", "join", "branches", "status", "started")

    def __init__(self, node: str, join: str | None, labels: list[str], started: float):
        self.node = node
        self.join = join
        self.branches = [_Work(label) for label in labels]
        self.status = "running"
        self.started = started

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATE_STYLE, 0)
        for b in self.branches:
            out[b.state] += 1
        return out

    def header(self) -> str:
        c = self.counts()
        shown = ", ".join(f"{c[s]} {s}" for s in ("done", "running", "queued", "failed", "cancelled", "skipped")
                          if c[s] or s == "done")
        return f"{shown} of {len(self.branches)}"


class LiveView:
    """A rich live tree of a running workflow (see module docs).

    Args:
        title: shown at the root (the graph name).
        console: a ``rich.console.Console`` (stderr by default).
        program: the running :class:`~ragc.ir.model.ProgramIR`, if known:
            fan-outs then show their join's policy (``join quorum 3 of 5``)
            instead of the join's id.
    """

    MAX_SHOWN = 8
    """Branch lines drawn per fan-out while it runs (running first, then queued)."""
    SUMMARY_BRANCHES = 50
    """Branch lines per fan-out in the final summary; the rest are counted."""

    def __init__(self, title: str, console: Any = None, program: Any = None):
        from rich.console import Console

        self.title = title
        self.join_labels: dict[str, str] = {}
        if program is not None:
            from ragc.ir.export import join_label

            for g in program.graphs.values():
                for jid, j in g.joins.items():
                    self.join_labels.setdefault(jid, join_label(j))
        self.console = console or Console(stderr=True)
        self.totals = _Totals()
        self.running: dict[str, _Work] = {}  # top-level activations
        self.fanouts: dict[str, _Fan] = {}
        self.log: list[str] = []  # the complete summary, in order
        self._live: Any = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "LiveView":
        from rich.live import Live

        self._live = Live(self, console=self.console, refresh_per_second=8, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
        for line in self.summary():
            self.console.print(line, highlight=False)

    def pause(self) -> None:
        """Stop drawing (before asking a question inline)."""
        if self._live is not None:
            self._live.stop()

    def resume(self) -> None:
        """Start drawing again (after :meth:`pause`)."""
        if self._live is not None:
            self._live.start()

    def summary(self) -> list[str]:
        """The complete summary (rich markup lines): the log, plus the fan-outs
        still open (an interrupted or failed run)."""
        now = time.time()
        out = list(self.log)
        for fan in list(self.fanouts.values()):
            if fan.status == "running":
                out += self._fan_lines(fan, now, "stopped")
        return out

    # ------------------------------------------------------------------ events

    def _branch(self, activation: str | None) -> _Work | None:
        """The innermost fan-out branch an activation runs in (``fork/3:node#1``)."""
        if not activation:
            return None
        cut = activation.rfind("/")
        while cut > 0:
            fan = self.fanouts.get(activation[:cut])
            if fan is not None:
                idx = activation[cut + 1:].split(":", 1)[0]
                if idx.isdigit() and int(idx) < len(fan.branches):
                    return fan.branches[int(idx)]
            cut = activation.rfind("/", 0, cut)
        return None

    def _work(self, activation: str | None) -> _Work | None:
        if activation is None:
            return None
        return self.running.get(activation) or self._branch(activation)

    def __call__(self, ev: E.Event) -> None:
        self.totals.update(ev)
        t = type(ev)
        now = ev.ts
        if t is E.NodeStarted:
            act = ev.activation  # type: ignore[attr-defined]
            if "/" not in act:
                self.running[act] = _Work(f"{ev.node} ({ev.kind})", "running", now)  # type: ignore[attr-defined]
            else:
                b = self._branch(act)
                if b is not None:
                    if b.state == "queued":
                        b.state, b.started = "running", now
                    b.doing = f"{ev.node} ({ev.kind})"  # type: ignore[attr-defined]
        elif t is E.ModelCallStarted:
            w = self._work(ev.activation)  # type: ignore[attr-defined]
            if w is not None:
                w.doing, w.streamed = f"model {ev.model}", 0  # type: ignore[attr-defined]
        elif t is E.ModelDelta:
            w = self._work(ev.activation)  # type: ignore[attr-defined]
            if w is not None:
                w.streamed += len(ev.text)  # type: ignore[attr-defined]
        elif t is E.ModelCallCompleted:
            w = self._work(ev.activation)  # type: ignore[attr-defined]
            if w is not None and not ev.cached:  # type: ignore[attr-defined]
                w.model_calls += 1
                w.tokens += ev.input_tokens + ev.output_tokens  # type: ignore[attr-defined]
                w.doing = ""
        elif t is E.ToolCallStarted:
            w = self._work(ev.activation)  # type: ignore[attr-defined]
            if w is not None:
                w.doing = f"tool {ev.tool}"  # type: ignore[attr-defined]
        elif t is E.ToolCallCompleted:
            w = self._work(ev.activation)  # type: ignore[attr-defined]
            if w is not None and not ev.cached:  # type: ignore[attr-defined]
                w.tool_calls += 1
                w.doing = f"tool {ev.tool} failed" if ev.is_error else ""  # type: ignore[attr-defined]
        elif t is E.NodeCompleted:
            act = ev.activation  # type: ignore[attr-defined]
            w = self.running.pop(act, None)
            if "/" not in act and not ev.replayed:  # type: ignore[attr-defined]
                route = f" -> {ev.route}" if ev.route else ""  # type: ignore[attr-defined]
                calls = ""
                if w is not None and (w.model_calls or w.tool_calls):
                    calls = " · " + ", ".join(x for x in (
                        plural(w.model_calls, "model call") if w.model_calls else "",
                        plural(w.tool_calls, "tool call") if w.tool_calls else "",
                        plural(w.tokens, "token") if w.tokens else "") if x)
                self.log.append(f"[green]✓[/] {_esc(act)}{_esc(route)} "
                                f"[dim]{ev.duration_s:.2f}s{calls}[/]")  # type: ignore[attr-defined]
        elif t is E.NodeFailed:
            act = ev.activation  # type: ignore[attr-defined]
            if not ev.will_retry:  # type: ignore[attr-defined]
                self.running.pop(act, None)
                b = self._branch(act)
                if b is not None:
                    b.note = _short(ev.error, 60)  # type: ignore[attr-defined]
                else:
                    self.log.append(f"[red]✗[/] {_esc(act)}: {_esc(_short(ev.error, 160))}")  # type: ignore[attr-defined]
        elif t is E.NodeCancelled:
            self.running.pop(ev.activation, None)  # type: ignore[attr-defined]
            b = self._branch(ev.activation)  # type: ignore[attr-defined]
            if b is not None:
                b.note = ev.reason  # type: ignore[attr-defined]
        elif t is E.FanOutStarted:
            labels = list(ev.labels) or []  # type: ignore[attr-defined]
            n = ev.branches  # type: ignore[attr-defined]
            labels = (labels + [f"{ev.node} branch {i}" for i in range(len(labels), n)])[:n]  # type: ignore[attr-defined]
            join = ev.join  # type: ignore[attr-defined]
            self.fanouts[ev.activation] = _Fan(ev.node, self.join_labels.get(join, f"join {join}") if join else None,  # type: ignore[attr-defined]
                                               labels, now)
        elif t is E.BranchFinished:
            fan = self.fanouts.get(ev.activation)  # type: ignore[attr-defined]
            if fan is not None and ev.branch < len(fan.branches):  # type: ignore[attr-defined]
                b = fan.branches[ev.branch]  # type: ignore[attr-defined]
                b.state = _BRANCH_STATUS.get(ev.status, ev.status)  # type: ignore[attr-defined]
                if b.started is None and b.state != "cancelled":
                    b.started = now
                b.ended = now if b.started is not None else None
                b.doing = ""
        elif t is E.JoinFired:
            fan = self.fanouts.get(ev.activation)  # type: ignore[attr-defined]
            if fan is not None:
                fan.status = f"{fan.join or 'join'}: {ev.outcome}"  # type: ignore[attr-defined]
                self.log += self._fan_lines(fan, now, fan.status)
        elif t is E.InterruptRaised:
            self.log.append(f"[yellow]?[/] {_esc(ev.node)}: {_esc(_short(ev.question))}")  # type: ignore[attr-defined]
        elif t is E.Warning:
            self.log.append(f"[yellow]![/] {_esc(_short(ev.message, 160))}")  # type: ignore[attr-defined]

    def _fan_lines(self, fan: _Fan, now: float, status: str) -> list[str]:
        lines = [f"[cyan]⋔[/] {_esc(fan.node)}: {fan.header()} · {_esc(status)} · "
                 f"[dim]{now - fan.started:.1f}s[/]"]
        for b in fan.branches[: self.SUMMARY_BRANCHES]:
            lines.append("    " + b.line(now))
        rest = fan.branches[self.SUMMARY_BRANCHES:]
        if rest:
            c: dict[str, int] = {}
            for b in rest:
                c[b.state] = c.get(b.state, 0) + 1
            lines.append(f"    [dim]… and {len(rest)} more: " + ", ".join(f"{v} {k}" for k, v in c.items()) + "[/]")
        return lines

    # ------------------------------------------------------------------ drawing

    def __rich__(self) -> Any:
        from rich.tree import Tree

        now = time.time()
        root = Tree(f"[bold]{_esc(self.title)}[/]  [dim]{self.totals.line()}[/]")
        # the refresh runs in rich's thread while events arrive: iterate snapshots
        for w in list(self.running.values()):
            root.add(w.line(now))
        for fan in list(self.fanouts.values()):
            if fan.status != "running":
                continue
            label = f"[cyan]⋔ {_esc(fan.node)}[/] {fan.header()}"
            if fan.join:
                label += f" → {_esc(fan.join)}"
            node = root.add(label)
            order = {"running": 0, "queued": 1}
            shown = sorted((b for b in list(fan.branches) if b.state in order), key=lambda b: order[b.state])
            for b in shown[: self.MAX_SHOWN]:
                node.add(b.line(now))
            if len(shown) > self.MAX_SHOWN:
                node.add(f"[dim]… {len(shown) - self.MAX_SHOWN} more running or queued[/]")
        return root


class ProgressPrinter:
    """Plain progress lines for a non-terminal stderr (see module docs).

    Args:
        stream: where to write (stderr by default).
        verbose: also one line per branch completion (by its label), per
            branch-level node completion and per model and tool call
            (``ragc -v run``).
    """

    def __init__(self, stream: TextIO | None = None, verbose: int = 0):
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.labels: dict[str, tuple[str, ...]] = {}

    def _p(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, ev: E.Event) -> None:
        t = type(ev)
        if t is E.NodeCompleted:
            if self.verbose or ("/" not in ev.activation and ">" not in ev.activation):  # type: ignore[attr-defined]
                how = " (from journal)" if ev.replayed else f" {ev.duration_s:.2f}s"  # type: ignore[attr-defined]
                route = f" -> {ev.route}" if ev.route else ""  # type: ignore[attr-defined]
                self._p(f"  done {ev.activation}{route}{how}")  # type: ignore[attr-defined]
        elif self.verbose and t is E.BranchFinished:
            labels = self.labels.get(ev.activation, ())  # type: ignore[attr-defined]
            i = ev.branch  # type: ignore[attr-defined]
            label = labels[i] if i < len(labels) else f"{ev.node} branch {i}"  # type: ignore[attr-defined]
            self._p(f"  branch {ev.activation}/{i} {label}: {_BRANCH_STATUS.get(ev.status, ev.status)}")  # type: ignore[attr-defined]
        elif self.verbose and t is E.ModelCallCompleted:
            self._p(f"    model {ev.model} for {ev.activation}: {plural(ev.input_tokens + ev.output_tokens, 'token')}"  # type: ignore[attr-defined]
                    f"{' (from journal)' if ev.cached else f' {ev.duration_s:.2f}s'}")  # type: ignore[attr-defined]
        elif self.verbose and t is E.ToolCallCompleted:
            state = "failed" if ev.is_error else "ok"  # type: ignore[attr-defined]
            self._p(f"    tool {ev.tool} for {ev.activation}: {state}"  # type: ignore[attr-defined]
                    f"{' (from journal)' if ev.cached else f' {ev.duration_s:.2f}s'}")  # type: ignore[attr-defined]
        elif t is E.NodeFailed:
            retry = " (will retry)" if ev.will_retry else ""  # type: ignore[attr-defined]
            self._p(f"  failed {ev.activation}: {_short(ev.error, 160)}{retry}")  # type: ignore[attr-defined]
        elif t is E.FanOutStarted:
            self.labels[ev.activation] = ev.labels  # type: ignore[attr-defined]
            self._p(f"  fan-out {ev.activation}: {plural(ev.branches, 'branch', 'branches')}")  # type: ignore[attr-defined]
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
