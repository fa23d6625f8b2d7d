"""Helpers of the Temporal tests: run a workflow on both engines, an
in-process worker, a worker subprocess, and the ``ragc`` CLI in a
subprocess that runs this checkout's code."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import ragc
from ragc.temporal import client as tc
from ragc.temporal.context import WorkerContext
from ragc.temporal.worker import build_worker

SRC = Path(__file__).resolve().parents[2] / "src"


def queue() -> str:
    """A task queue of its own for one test."""
    return f"t-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def worker(address: str, task_queue: str, registry: Any = None, *, workspace: Any = None,
                 functions: dict | None = None) -> AsyncIterator[Any]:
    """An in-process worker on ``task_queue``; yields its client."""
    client = await tc.connect(tc.Connection(address=address))
    ctx = WorkerContext(registry, workspace=workspace, functions=functions)
    w = build_worker(client, ctx, task_queue=task_queue)
    async with w:
        try:
            yield client
        finally:
            await ctx.aclose()


async def run_temporal(wf: ragc.Workflow, client: Any, task_queue: str, inputs: dict[str, Any], *,
                       run_id: str | None = None, stop_on_interrupt: bool = True,
                       history_limit: int | None = None) -> dict[str, Any]:
    """Start ``wf`` on Temporal and wait for its end (or its first question)."""
    rid = run_id or f"t-{uuid.uuid4().hex[:12]}"
    await tc.start(client, wf.engine, inputs, run_id=rid, task_queue=task_queue, history_limit=history_limit)
    return await tc.wait(client, rid, stop_on_interrupt=stop_on_interrupt)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``ragc`` subprocess that runs this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGC_")}
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def ragc_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "ragc", *argv]


def ragc_run(*argv: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ragc ARGV`` (this checkout) and wait."""
    return subprocess.run(ragc_cmd(*argv), cwd=cwd, env=cli_env(**env), capture_output=True, text=True,
                          timeout=timeout)


HERE = Path(__file__).resolve().parent


def fan_workflow(tmp: Path, url: str, policy: str = "all") -> tuple[Path, Path]:
    """``fan.rag`` with join policy ``policy`` and a registry whose model is
    the fake OpenAI server at ``url``, written to ``tmp``; ``(rag, registry)``."""
    from fake_openai import registry_toml

    rag = tmp / "fan.rag"
    rag.write_text((HERE / "fan.rag").read_text(encoding="utf-8").replace("POLICY", policy), encoding="utf-8")
    reg = tmp / "registry.toml"
    reg.write_text(registry_toml(url), encoding="utf-8")
    return rag, reg


def load_file(rag: Path, reg: Path, ws: Path | None = None) -> Any:
    """``ragc.load`` of ``rag`` against registry file ``reg`` (no journal)."""
    return ragc.load(rag, registry=reg, journal=None, workspace=ws or rag.parent)


def registry_of(reg: Path) -> Any:
    from ragc.registry.loader import load_registry

    load = load_registry(reg)
    assert load.ok, [str(d) for d in load.diagnostics]
    return load.registry


async def ragc_async(*argv: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m ragc ARGV`` (this checkout) without blocking the event
    loop (an in-process worker keeps working meanwhile)."""
    import anyio

    with anyio.fail_after(timeout):
        r = await anyio.run_process(ragc_cmd(*argv), cwd=cwd, env=cli_env(**env), check=False)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


class WorkerProcess:
    """``ragc worker`` in a subprocess (this checkout); its stderr goes to ``log``."""

    def __init__(self, address: str, task_queue: str, registry: Path, log: Path, **env: str):
        self.log = log
        self.proc = subprocess.Popen(ragc_cmd("worker", "--task-queue", task_queue, "--temporal-address", address,
                                              "--registry", str(registry)),
                                     cwd=registry.parent, env=cli_env(**env), stdout=subprocess.DEVNULL,
                                     stderr=open(log, "wb"), start_new_session=True)

    async def ready(self, timeout: float = 30) -> "WorkerProcess":
        """Wait until the worker says it polls."""
        import anyio

        with anyio.fail_after(timeout):
            while "polling" not in self.log.read_text(errors="replace"):
                assert self.proc.poll() is None, self.log.read_text(errors="replace")
                await anyio.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def replay(client: Any, workflow_id: str) -> int:
    """Replay every workflow run of ``workflow_id`` (its ``continue_as_new``
    chain included) with this checkout's workflow code; raises on a
    nondeterminism. Returns the number of runs replayed."""
    from temporalio.worker import Replayer
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from ragc.temporal.worker import PASSTHROUGH
    from ragc.temporal.workflow import RagcWorkflow

    runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
    replayer = Replayer(workflows=[RagcWorkflow], workflow_runner=runner)
    n = 0
    async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        history = await client.get_workflow_handle(workflow_id, run_id=w.run_id).fetch_history()
        await replayer.replay_workflow(history)
        n += 1
    return n
