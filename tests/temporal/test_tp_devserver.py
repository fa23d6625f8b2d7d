"""``ragc dev-server`` in a subprocess: it says where it listens, serves
clients there with its state in the SQLite file (WAL: a ``-wal`` file next
to it), and stops cleanly on SIGTERM (exit 0, no server left behind)."""

from __future__ import annotations

import signal
import subprocess

import anyio
import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402

from ragc.runtime.errors import RunError  # noqa: E402
from ragc.temporal import client as tc  # noqa: E402
from ragc.temporal.devserver import free_port  # noqa: E402

pytestmark = pytest.mark.anyio


async def test_dev_server_command_starts_serves_and_stops(tmp_path):
    port = free_port()
    db = tmp_path / "state" / "dev.sqlite"
    log = tmp_path / "err.log"
    proc = subprocess.Popen(tkit.ragc_cmd("dev-server", "--port", str(port), "--headless", "--db-filename", str(db)),
                            cwd=tmp_path, env=tkit.cli_env(), stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    try:
        with anyio.fail_after(40):
            while "Ctrl-C stops it" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                await anyio.sleep(0.1)
        assert f"temporal dev server on 127.0.0.1:{port}, state in {db}" in log.read_text()
        client = await tc.connect(tc.Connection(address=f"127.0.0.1:{port}"))
        assert await tc.list_runs(client) == []
        assert db.with_name("dev.sqlite-wal").exists(), "WAL journal mode"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0, log.read_text()
    with pytest.raises(RunError) as e:
        await tc.connect(tc.Connection(address=f"127.0.0.1:{port}"))
    assert e.value.code == "E0930"
