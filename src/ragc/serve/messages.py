"""Message shapes of the gateway API (HTTP bodies and JSON-RPC ``params``).

Pydantic models, ``extra="forbid"``: one definition validates the HTTP body
of ``POST /api/runs`` and the ``params`` of the JSON-RPC method
``runs.start`` alike, and its JSON Schema is what ``/openapi.json``
publishes (:mod:`ragc.serve.openapi`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRun(_Msg):
    """Start a run of ``file`` (a ``.rag`` path relative to the server's root)."""

    file: str = Field(description="a .rag file under the server's root, e.g. `workflows/triage.rag`")
    input: dict[str, Any] = Field(default_factory=dict, description="the run input (the graph's `input` block)")
    graph: str | None = Field(default=None, description="the entry graph (default: the file's only or main graph)")
    run_id: str | None = Field(default=None, description="a chosen run id (default: a fresh one)")


class Answer(_Msg):
    """Answer the pending interrupt of a run (then the run continues)."""

    answer: Any = Field(description="one of the interrupt's options (any JSON value when it has none)")


class Resume(_Msg):
    """Continue a run that stopped (a crash, a failure, a cancel)."""

    force: bool = Field(default=False, description="resume even if the graph changed since the run started")


class RunRef(_Msg):
    """Names a run (JSON-RPC ``runs.get``, ``runs.cancel``, ``runs.subscribe``...)."""

    run_id: str


class RunAnswer(RunRef):
    """JSON-RPC ``runs.answer``."""

    answer: Any


class RunResume(RunRef):
    """JSON-RPC ``runs.resume``."""

    force: bool = False


class ListRuns(_Msg):
    """JSON-RPC ``runs.list``."""

    limit: int = Field(default=50, ge=1, le=1000)


class FileRef(_Msg):
    """JSON-RPC ``workflows.graph``."""

    file: str


class DiffFiles(_Msg):
    """JSON-RPC ``workflows.diff``: two ``.rag`` files under the root."""

    old: str
    new: str


class Empty(_Msg):
    """No parameters."""


class StartedRun(_Msg):
    """The answer to a start: the run's id (the run goes on in the server)."""

    run_id: str


class RunSummary(BaseModel):
    """One run as listed: journal status, whether this server runs it now
    (``live``) and whether it can be resumed (``resumable``: a run left
    ``running`` by a server or process that is gone is resumable)."""

    id: str
    graph: str
    status: str = Field(description="running | interrupted | completed | failed | cancelled | pending "
                                    "(the journal's word)")
    display_status: str = Field(description="the word `ragc runs list` shows: `waiting` for interrupted, "
                                            "`crashed` for running without a live owner, else `status`")
    live: bool
    resumable: bool
    created: float = Field(description="seconds since the epoch")
    updated: float
    file: str | None
    usage: dict[str, Any]
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None = Field(description="the pending question of an interrupted run")
    parent: str | None


class ErrorBody(BaseModel):
    """Every refused HTTP request: ``{"error": {"message", "code"?, "hint"?}}``."""

    error: dict[str, Any]
