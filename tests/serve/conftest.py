"""Fixtures of the ``ragc serve`` tests: a real server in a subprocess
(``ragc serve`` on a free 127.0.0.1 port, a scripted copy of the repository
registry, a SQLite journal in ``tmp_path``), started and stopped per test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from wfkit import RAGC, WORKFLOWS, write_scripted_registry_toml  # noqa: E402

# Two model nodes in a row; the second answers slowly, so a test can act
# while a run is in flight (after `first` is journaled).
TWO_STEPS = """
graph two_steps {
  input { topic: string }
  start first
  channel notes append
  node first {
    kind model
    prompt "FIRST about {{ input.topic }}"
    output notes
    next second
  }
  node second {
    kind model
    prompt "SECOND about {{ input.topic }}"
    output notes
    next END
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``ragc serve``: ``url``, ``token``, the folder it serves
    (``root``: ``workflows/`` copied, ``two_steps.rag``), its journal and
    the scripted-call log (``calls()``: one dict per answered model request)."""

    root: Path
    port: int
    token: str | None
    journal: Path
    call_log: Path
    env: dict[str, str]
    argv: list[str]
    proc: subprocess.Popen | None = None
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=10)

    def start(self) -> "Server":
        log = open(self.root / "serve.log", "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.root, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ragc serve exited: {(self.root / 'serve.log').read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("ragc serve did not come up")

    def kill(self) -> None:
        """``kill -9`` (a crash: nothing is cleaned up)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def calls(self) -> list[dict[str, Any]]:
        import json

        if not self.call_log.exists():
            return []
        return [json.loads(x) for x in self.call_log.read_text().splitlines() if x.strip()]

    def wait_status(self, run_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        with self.client() as c:
            while time.monotonic() < deadline:
                r = c.get(f"/api/runs/{run_id}")
                if r.status_code == 200:
                    last = r.json()
                    if last["status"] == status and not last["live"]:
                        return last
                time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not reach {status}: {last and last['status']}")


DRAFTS = [{"when": "Earlier drafts: Draft one", "text": "Draft two"},
          {"when": "Write a short announcement", "text": "Draft one", "delay_ms": 400}]
STEPS = [{"when": "FIRST", "text": "first note", "repeat": True},
         {"when": "SECOND", "text": "second note", "delay_ms": 1500, "repeat": True}]


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., Server]:
    """``make_server(token=None, default=[...lines], extra=(more argv...))`` -> a started :class:`Server`."""
    servers: list[Server] = []

    def make(*, token: str | None = None, default: list | None = None, start: bool = True,
             extra: tuple[str, ...] = ()) -> Server:
        root = tmp_path / "root"
        if not root.exists():
            root.mkdir()
            shutil.copytree(WORKFLOWS, root / "workflows")
            (root / "two_steps.rag").write_text(TWO_STEPS, encoding="utf-8")
            (root / "ws").mkdir()
        write_scripted_registry_toml(root, default=default if default is not None else DRAFTS + STEPS)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAGC_", "OTEL_"))}
        call_log = root / "calls.jsonl"
        env["RAGC_SCRIPTED_LOG"] = str(call_log)
        port = free_port()
        argv = [str(RAGC), "serve", "--port", str(port), "--registry", "registry.toml", "--journal", "runs.sqlite",
                "--workspace", "ws"]
        if token:
            argv += ["--token", token]
        argv += list(extra)
        server = Server(root, port, token, root / "runs.sqlite", call_log, env, argv)
        servers.append(server)
        return server.start() if start else server

    yield make
    for s in servers:
        s.stop()
