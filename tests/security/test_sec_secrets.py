"""Secrets never printed (issue 16 point 5): a key with a control
character, a key with a trailing newline, and a server that quotes the key
in its error; real `ragc run` processes, a real 127.0.0.1 server, and the
journal file's bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from servers.http_server import Reply, ScriptedServer
from servers.openai_wire import completion, error
from ragc.registry import secrets

WORKFLOW = 'graph g {\n  channel notes append\n  start a\n  node a { kind model prompt "hello" output notes }\n}\n'
KEY = "sk-abc123SECRET"


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def project(tmp_path: Path, server) -> Path:
    (tmp_path / "g.rag").write_text(WORKFLOW)
    (tmp_path / "registry.toml").write_text(
        f'[models.default]\nprovider = "openai"\nmodel = "gpt-test"\nbase_url = "{server.url}/v1"\n'
        'api_key = "${MY_KEY}"\n')
    return tmp_path


def ragc(cwd: Path, key: str, *argv: str) -> subprocess.CompletedProcess:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "NO_COLOR": "1", "MY_KEY": key}
    return subprocess.run([sys.executable, "-m", "ragc", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def everything(cwd: Path, key: str, run_id: str, run: subprocess.CompletedProcess) -> str:
    """Every output a user or a log collector sees, plus the journal's bytes."""
    parts = [run.stdout, run.stderr]
    for argv in (("runs", "show", run_id), ("runs", "show", run_id, "--json"), ("runs", "events", run_id),
                 ("runs", "events", run_id, "--json"), ("runs", "list", "--json")):
        r = ragc(cwd, key, *argv)
        parts += [r.stdout, r.stderr]
    for f in (cwd / ".ragc").glob("runs.sqlite*"):
        parts.append(f.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_a_key_with_a_control_character_is_refused_and_never_shown(tmp_path: Path, server):
    cwd = project(tmp_path, server)
    key = "sk-abc123\x01SECRET"
    run = ragc(cwd, key, "run", "g.rag", "--run-id", "r1", "--json")
    assert run.returncode == 2, run.stderr  # found when the registry is loaded: E0891 at the value
    assert "E0891" in run.stderr and "control character (U+0001)" in run.stderr
    assert "registry.toml:5:11" in run.stderr and "Traceback" not in run.stderr
    seen = everything(cwd, key, "r1", run)
    for fragment in ("sk-abc123", "SECRET", "\\x01", "\\u0001"):
        assert fragment not in seen, fragment
    assert not server.requests  # never sent


def test_a_trailing_newline_is_stripped_with_a_warning(tmp_path: Path, server):
    cwd = project(tmp_path, server)
    server.script(Reply(json=completion("hi")))
    run = ragc(cwd, KEY + "\n", "run", "g.rag", "--run-id", "r2", "--json")
    assert run.returncode == 0, run.stderr
    assert "ends with a newline; it was removed" in run.stderr
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in everything(cwd, KEY + "\n", "r2", run)


def test_a_key_quoted_by_the_server_is_redacted_everywhere(tmp_path: Path, server):
    cwd = project(tmp_path, server)
    server.responder = lambda rec: Reply(401, json=error(f"Incorrect API key provided: "
                                                         f"{rec.headers['authorization'].split()[-1]}"))
    run = ragc(cwd, KEY, "run", "g.rag", "--run-id", "r3", "--json")
    assert run.returncode == 1
    assert server.requests and KEY in server.requests[0].headers["authorization"]
    seen = everything(cwd, KEY, "r3", run)
    assert "Incorrect API key provided: [REDACTED]" in seen
    assert KEY not in seen


def test_redaction_forms_and_validation_units():
    secrets.forget_all()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert secrets.validate_secret("tok-123456\r\n", where="model `m`: api_key") == "tok-123456"
        assert any(issubclass(w.category, secrets.SecretWarning) for w in caught)
        with pytest.raises(secrets.SecretValueError) as e:
            secrets.validate_secret("tok-12\x7f3456", where="model `m`: api_key")
        assert "tok-12" not in str(e.value) and "U+007F" in str(e.value)
        text = "b'Bearer tok-123456\\r\\n' and tok-12\x7f3456 and {\"k\": \"tok-123456\"}"
        assert "tok-12" not in secrets.redact(text)
        assert secrets.redact_value({"a": ["x tok-123456 y"]}) == {"a": ["x [REDACTED] y"]}
        secrets.remember("abc")  # too short to redact ordinary text
        assert secrets.redact("abc") == "abc"
    finally:
        secrets.forget_all()


def test_the_run_time_check_refuses_a_key_set_after_the_registry_was_loaded():
    from ragc.harness.errors import ConfigError
    from ragc.harness.providers import api_keys
    from ragc.registry.model import ModelEntry

    entry = ModelEntry(provider="openai", model="x", api_keys=("${K1}", "${K2}"))
    try:
        with pytest.raises(ConfigError) as e:
            api_keys("m", entry, {"K1": "sk-good-123456", "K2": "sk-bad\x1b[31m-123456"})
        assert "sk-bad" not in str(e.value) and "U+001B" in str(e.value) and "api_keys" in str(e.value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert api_keys("m", entry, {"K1": "sk-good-123456\n", "K2": "sk-two-123456"}) == [
                "sk-good-123456", "sk-two-123456"]
    finally:
        secrets.forget_all()
