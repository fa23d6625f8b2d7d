"""``ragc serve`` refusing to start: beyond loopback without a token, a taken
port -- one ``error:`` line with a hint, exit 2, no traceback."""

from __future__ import annotations

import socket
import subprocess

from wfkit import RAGC

from ragc.cli.serve import is_loopback


def _serve(tmp_path, *argv: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RAGC), "serve", "--journal", str(tmp_path / "j.sqlite"), *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "RAGC_SERVE_TOKEN"}
    out = _serve(tmp_path, "--host", "0.0.0.0", "--port", "1", env=env)
    assert out.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a token" in out.stderr and "--token" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_taken_port_is_an_error_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = _serve(tmp_path, "--port", str(s.getsockname()[1]))
    assert out.returncode == 2 and "cannot listen on 127.0.0.1" in out.stderr and "--port" in out.stderr
    assert "Traceback" not in out.stderr


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
