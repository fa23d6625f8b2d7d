"""Every `run_command` escape of issue 16, through the path an agent's tool
call takes (`ToolRegistry.call`), with the project's default allowlist.
Each test fails on the code before the OS sandbox (it printed the secret,
ran a shell or let a child live)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from seckit import DEFAULT_ALLOW, SECRET
from ragc.harness.tools import os_sandbox
from ragc.harness.tools.registry import ToolRegistry
from ragc.harness.tools.sandbox import Workspace
from ragc.registry.model import PolicyEntry, Registry, RunCommandPolicy

pytestmark = pytest.mark.anyio

needs_bwrap = pytest.mark.skipif(not os_sandbox.status().available,
                                 reason=f"no OS sandbox here: {os_sandbox.status().reason}")


def tools_for(ws: Path, **policy) -> ToolRegistry:
    rc = RunCommandPolicy(allow=policy.pop("allow", DEFAULT_ALLOW), timeout=policy.pop("timeout", 20), **policy)
    return ToolRegistry(Registry(), Workspace(ws), policy=PolicyEntry(run_command=rc))


async def run(ws: Path, command: str, **policy):
    return await tools_for(ws, **policy).call("run_command", {"command": command})


def leaked(result) -> bool:
    return SECRET in result.content or SECRET in repr(result.value)


async def test_find_exec_sh_cat_outside_is_refused(ws: Path):
    r = await run(ws, "find . -maxdepth 0 -exec sh -c 'cat ../outside/secret.txt' ;")
    assert not leaked(r) and r.is_error and "`sh` is not an allowed program" in r.content


async def test_find_exec_arbitrary_shell_is_refused(ws: Path):
    r = await run(ws, "find . -maxdepth 0 -exec sh -c 'echo PWNED-$((6*7))' ;")
    assert "PWNED-42" not in r.content and r.is_error


async def test_find_dash_L_through_an_inside_symlink_does_not_leak(ws: Path):
    r = await run(ws, "find -L . -name secret.txt -exec cat {} +")
    assert not leaked(r) and r.is_error and "follows symlinks" in r.content


async def test_grep_R_through_an_inside_symlink_does_not_leak(ws: Path):
    r = await run(ws, f"grep -R {SECRET[:9]} .")
    assert not leaked(r)
    glued = await run(ws, f"grep -RIn {SECRET[:9]} .")
    assert not leaked(glued) and glued.is_error


async def test_git_config_alias_on_the_command_line_is_refused(ws: Path):
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    r = await run(ws, "git -c 'alias.x=!cat ../outside/secret.txt' x")
    assert not leaked(r) and r.is_error and "sets configuration" in r.content
    r2 = await run(ws, "git config alias.x '!cat ../outside/secret.txt'")
    assert r2.is_error and "may only read" in r2.content


@needs_bwrap
async def test_git_alias_planted_in_the_repo_config_cannot_read_outside(ws: Path):
    """The agent writes `.git/config` itself: git then runs the alias's shell,
    which the allowlist cannot see; the sandbox hides what is outside."""
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    reg = tools_for(ws)
    cfg = (ws / ".git" / "config").read_text() + f"[alias]\n\tx = !cat {ws.parent}/outside/secret.txt\n"
    w = await reg.call("write_file", {"path": ".git/config", "content": cfg})
    r = await reg.call("run_command", {"command": "git x"})
    assert not leaked(r), (w.content, r.content)


async def test_make_with_a_glued_directory_option_is_refused(ws: Path):
    r = await run(ws, "make -s -C../outside")
    assert not leaked(r) and r.is_error and "outside the workspace" in r.content
    r2 = await run(ws, "make -sC../outside")
    assert not leaked(r2) and r2.is_error


@needs_bwrap
async def test_a_python_program_cannot_read_or_write_outside(ws: Path):
    """What the allowlist cannot judge: a program that runs code."""
    code = ("import os\n"
            "for p in ['../outside/secret.txt', 'secret_link', 'out/secret.txt', os.path.expanduser('~/.bashrc')]:\n"
            "    try: print(open(p).read())\n"
            "    except OSError as e: print('refused', p, e.errno)\n"
            "try: open('../outside/planted', 'w').write('x')\n"
            "except OSError as e: print('write refused', e.errno)\n")
    (ws / "probe.py").write_text(code)
    r = await run(ws, "python3 probe.py")
    assert not leaked(r) and r.value["exit_code"] == 0, r.content
    assert "write refused" in r.value["stdout"]
    assert not (ws.parent / "outside" / "planted").exists()
    inside = await run(ws, "python3 -c \"open('made.txt', 'w').write('ok')\"")
    assert inside.value["exit_code"] == 0 and (ws / "made.txt").read_text() == "ok"


@needs_bwrap
async def test_read_only_workspace_policy(ws: Path):
    r = await run(ws, "python3 -c \"open('made.txt', 'w').write('ok')\"", workspace="read-only")
    assert r.value["exit_code"] != 0 and not (ws / "made.txt").exists()


@needs_bwrap
async def test_no_network_unless_the_policy_grants_it(ws: Path, server):
    from servers.http_server import Reply

    server.responder = lambda rec: Reply(json={"ok": True})
    code = f"import urllib.request; print(urllib.request.urlopen('{server.url}/x', timeout=5).read())"
    (ws / "net.py").write_text(code)
    r = await run(ws, "python3 net.py")
    assert r.value["exit_code"] != 0 and not server.requests
    granted = await run(ws, "python3 net.py", network=True)
    assert granted.value["exit_code"] == 0 and len(server.requests) == 1, granted.content


def processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if token.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@needs_bwrap
async def test_a_child_in_a_new_session_dies_with_the_command(ws: Path):
    """`setsid` leaves the process group the timeout kills; the sandbox's PID
    namespace takes it down anyway."""
    token = f"ragc-escapee-{os.getpid()}-{time.time_ns()}"
    (ws / "escape.py").write_text(
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120) # {token}'], start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(120)\n")
    r = await run(ws, "python3 escape.py", timeout=1)
    assert r.value["timed_out"] and "started" in r.value["stdout"]
    for _ in range(100):
        if not processes_with(token):
            break
        await anyio.sleep(0.05)
    assert processes_with(token) == [], "a child that left the process group survived"
    # and the same when the command ends on its own, leaving the child behind
    (ws / "leave.py").write_text(
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120) # {token}-b'], start_new_session=True)\n")
    done = await run(ws, "python3 leave.py")
    assert done.value["exit_code"] == 0
    for _ in range(100):
        if not processes_with(token + "-b"):
            break
        await anyio.sleep(0.05)
    assert processes_with(token + "-b") == []


async def test_commands_do_not_inherit_api_keys(ws: Path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "sk-live-" + SECRET)
    monkeypatch.setenv("LANG", "C.UTF-8")
    r = await run(ws, "python3 -c \"import os; print(sorted(os.environ)); print(os.environ['MY_SERVICE_API_KEY'])\"")
    assert not leaked(r) and r.value["exit_code"] != 0 and "KeyError" in r.value["stderr"]
    assert "LANG" in r.value["stdout"]
    passed = await run(ws, "python3 -c \"import os; print(os.environ['MY_SERVICE_API_KEY'])\"",
                       env=("MY_SERVICE_API_KEY",))
    assert passed.value["exit_code"] == 0  # a policy may pass a variable on purpose


@needs_bwrap
async def test_memory_limit(ws: Path):
    r = await run(ws, "python3 -c \"x = bytearray(600 * 1024 * 1024); print('allocated')\"", memory_mb=256)
    assert r.value["exit_code"] != 0 and "allocated" not in r.value["stdout"]
    ok = await run(ws, "python3 -c \"x = bytearray(50 * 1024 * 1024); print('allocated')\"", memory_mb=256)
    assert ok.value["exit_code"] == 0 and "allocated" in ok.value["stdout"]


async def test_require_refuses_without_a_sandbox(ws: Path, monkeypatch):
    monkeypatch.setenv("RAGC_SANDBOX", "off")
    os_sandbox.status.cache_clear()
    try:
        r = await run(ws, "ls", sandbox="require")
        assert r.is_error and "OS sandbox" in r.content and "RAGC_SANDBOX=off" in r.content
        plain = await run(ws, "ls")  # `auto` for a trusted run: the argument checks only
        assert plain.value["exit_code"] == 0 and "README.md" in plain.value["stdout"]
    finally:
        monkeypatch.delenv("RAGC_SANDBOX")
        os_sandbox.status.cache_clear()


async def test_tools_cannot_touch_ragc_state_or_plant_host_code(ws: Path):
    """`.ragc/approvals.json` written by an agent would approve its own untrusted
    workflow; a `.git` hook or config runs on the host at the user's next git
    command. File tools refuse both; the sandbox hides `.ragc` and mounts the
    git config and hooks read-only."""
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / ".ragc").mkdir()
    (ws / ".ragc" / "approvals.json").write_text('{"approvals": []}')
    reg = tools_for(ws)
    for path in (".ragc/approvals.json", ".git/hooks/pre-commit", ".git/config", "./.git/../.ragc/x"):
        r = await reg.call("write_file", {"path": path, "content": "#!/bin/sh\necho pwned\n"})
        assert r.is_error and "not for tools" in r.content, (path, r.content)
    assert (await reg.call("read_file", {"path": ".ragc/approvals.json"})).is_error
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    if not os_sandbox.status().available:
        return
    code = ("import os\n"
            "for p in ['.ragc/approvals.json', '.git/hooks/pre-commit', '.git/config']:\n"
            "    try:\n"
            "        open(p, 'a').write('pwned')\n"
            "        print('wrote', p)\n"
            "    except OSError as e: print('refused', p, e.errno)\n")
    (ws / "plant.py").write_text(code)
    r = await reg.call("run_command", {"command": "python3 plant.py"})
    assert r.value["exit_code"] == 0, r.content
    assert "pwned" not in (ws / ".ragc" / "approvals.json").read_text()
    assert not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert "pwned" not in (ws / ".git" / "config").read_text()
    status = await reg.call("run_command", {"command": "git status --short"})
    assert status.value["exit_code"] == 0, status.content  # git still works read-only


@needs_bwrap
async def test_a_path_entry_that_is_home_or_a_parent_does_not_expose_it(ws: Path, monkeypatch):
    monkeypatch.setenv("PATH", f"{ws.parent}{os.pathsep}/{os.pathsep}" + os.environ["PATH"])
    r = await run(ws, "python3 -c \"print(open('../outside/secret.txt').read())\"")
    assert not leaked(r) and r.value["exit_code"] != 0


def test_policy_narrowing_keeps_the_stricter_sandbox_settings():
    a = PolicyEntry(run_command=RunCommandPolicy(network=True, env=("A", "B"), memory_mb=0, sandbox="auto"))
    b = PolicyEntry(run_command=RunCommandPolicy(network=False, env=("B",), memory_mb=512, workspace="read-only"))
    rc = a.narrowed_by(b).run_command
    assert rc.network is False and rc.env == ("B",) and rc.memory_mb == 512 and rc.workspace == "read-only"
    assert rc.sandbox == "auto"  # b says nothing: a's word stands
    off = a.narrowed_by(PolicyEntry(run_command=RunCommandPolicy(sandbox="require"))).run_command
    assert off.sandbox == "require" and off.memory_mb == 4096


async def test_wrappers_run_only_allowed_programs(ws: Path):
    allow = DEFAULT_ALLOW + ("timeout", "env", "xargs")
    ok = await run(ws, "timeout 5 ls", allow=allow)
    assert ok.value["exit_code"] == 0 and "README.md" in ok.value["stdout"], ok.content
    for cmd in ("timeout 5 sh -c id", "env FOO=1 sh -c id", "xargs -0 sh"):
        r = await run(ws, cmd, allow=allow)
        assert r.is_error and "`sh` is not an allowed program" in r.content, (cmd, r.content)


@needs_bwrap
async def test_a_version_manager_shim_on_path_runs_inside_the_sandbox(ws: Path, tmp_path: Path, monkeypatch):
    # pyenv's python3 is ROOT/shims/python3, a script that execs ROOT/libexec/pyenv: with only the
    # shims directory bound, every `python3` check of plan_and_execute exited 127 on this machine
    import sys

    root = tmp_path / "vm"
    (root / "shims").mkdir(parents=True)
    (root / "libexec").mkdir()
    real = root / "libexec" / "real-python3"
    real.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    shim = root / "shims" / "python3"
    shim.write_text(f"#!/bin/sh\nexec {real} \"$@\"\n")
    for f in (real, shim):
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{root / 'shims'}{os.pathsep}/usr/bin{os.pathsep}/bin")
    r = await run(ws, "python3 -c 'print(6 * 7)'")
    assert not r.is_error and r.value["exit_code"] == 0 and r.value["stdout"].strip() == "42", r.content
