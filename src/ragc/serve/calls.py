"""What each model call of a served run was asked: the request messages.

The journal keeps every model call's *reply* (an ``effect`` record) and every
tool call's arguments (the ``tool_call_started`` event) but not the messages
sent to a model, which the inspector shows as the call's input. Runs that
``ragc serve`` executes use :class:`RecordingHarness`, which notes each
request in a :class:`CallLog` before the call. The log lives in the server's
memory: a run executed by ``ragc run``, or by an earlier server process,
shows its model replies but not their inputs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ragc.harness import Harness

MAX_RUNS = 200
"""Runs whose requests are kept (oldest forgotten first)."""


class CallLog:
    """``run_id -> [{"activation", "key", "model", "messages"}]`` for the most
    recent :data:`MAX_RUNS` runs; ``messages`` are JSON dicts of
    :class:`ragc.harness.types.Message` (``role``, ``content``...)."""

    def __init__(self, max_runs: int = MAX_RUNS):
        self._runs: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._max = max_runs

    def record(self, run_id: str, activation: str | None, key: str, model: str, request: Any) -> None:
        """Note one request (a :class:`~ragc.harness.types.ModelRequest`)."""
        calls = self._runs.setdefault(run_id, [])
        self._runs.move_to_end(run_id)
        while len(self._runs) > self._max:
            self._runs.popitem(last=False)
        dumped = request.model_dump(mode="json")
        calls.append({"activation": activation, "key": key, "model": model, "messages": dumped.get("messages", [])})

    def of(self, run_id: str) -> list[dict[str, Any]]:
        """The requests noted for ``run_id``, in call order (``[]`` if none)."""
        return list(self._runs.get(run_id, []))


class RecordingHarness(Harness):
    """A :class:`~ragc.harness.Harness` that notes each model request in ``calls``.

    Args:
        calls: the log to write to.
        *args, **kwargs: as for :class:`~ragc.harness.Harness`.
    """

    def __init__(self, *args: Any, calls: CallLog, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._call_log = calls

    async def _complete(self, client: Any, model: str, request: Any, **kw: Any) -> Any:
        # `_complete` is the one path of every model call (plain model nodes and
        # agent loops); a call served from the journal is noted too, since the
        # request is rebuilt identically on replay.
        self._call_log.record(kw.get("run_id", ""), kw.get("activation"), kw.get("key", ""), model, request)
        return await super()._complete(client, model, request, **kw)
