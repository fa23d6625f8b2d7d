"""A bounded fuzz of `run_command` arguments against the sandbox: commands
of the default allowlist built from the tokens attackers use (`..`, links
that lead out, `-exec`, glued options, absolute paths, shells). Whatever is
refused or runs, the secret next to the workspace never appears in a result,
nothing is written outside, and no call raises (a refusal is a tool error
the model reads)."""

from __future__ import annotations

import shlex
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seckit import DEFAULT_ALLOW, SECRET
from ragc.harness.tools import os_sandbox
from ragc.harness.tools.registry import ToolRegistry
from ragc.harness.tools.sandbox import Workspace
from ragc.registry.model import PolicyEntry, Registry, RunCommandPolicy

TOKENS = ["..", "../outside", "../outside/secret.txt", "out", "out/secret.txt", "secret_link", ".", "-exec", "-execdir",
          "sh", "-c", "cat ../outside/secret.txt", "cat secret_link", "{}", ";", "+", "-L", "-R", "-r", "-C..",
          "-sC../outside", "--directory=..", "-f../outside/Makefile", "-name", "secret.txt", "TOPSECRET", "-maxdepth",
          "0", "/etc/passwd", "/proc/1/environ", "~", "~/x", "-e", "--", "x=!cat ../outside/secret.txt", "alias.x",
          "import os;print(open('../outside/secret.txt').read())", "print(open('secret_link').read())",
          "open('../outside/planted','w').write('x')", "README.md", "-I", "-n", "$HOME", "`id`", "$(id)"]

command = st.builds(lambda prog, args: " ".join([prog] + [shlex.quote(a) for a in args]),
                    st.sampled_from(DEFAULT_ALLOW), st.lists(st.sampled_from(TOKENS), max_size=7))


@pytest.fixture(scope="module")
def fuzz_ws(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "Makefile").write_text("all:\n\t@cat secret.txt\n")
    ws = base / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("# demo\n")
    (ws / "out").symlink_to(outside)
    (ws / "secret_link").symlink_to(outside / "secret.txt")
    (ws / "Makefile").write_text("all:\n\t@cat ../outside/secret.txt\n")
    return ws


@pytest.mark.skipif(not os_sandbox.status().available, reason="the fuzz targets the OS sandbox")
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=command)
def test_no_command_reveals_or_writes_outside(fuzz_ws: Path, cmd: str):
    tools = ToolRegistry(Registry(), Workspace(fuzz_ws),
                         policy=PolicyEntry(run_command=RunCommandPolicy(allow=DEFAULT_ALLOW, timeout=10)))

    async def call():
        return await tools.call("run_command", {"command": cmd})

    result = anyio.run(call)
    assert SECRET not in result.content and SECRET not in repr(result.value), cmd
    assert not (fuzz_ws.parent / "outside" / "planted").exists(), cmd
    assert "Traceback" not in result.content or result.value is not None, cmd  # a program's own traceback is fine
