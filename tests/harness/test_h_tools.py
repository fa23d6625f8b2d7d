"""Built-in tools, the workspace sandbox, Python tools and the tool registry
(validation, timeouts, bounded results, breakers)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from hkit import FAST
from ragc.harness.errors import ConfigError
from ragc.harness.tools.registry import MAX_RESULT_BYTES, ToolRegistry
from ragc.harness.tools.sandbox import SandboxError, Workspace
from ragc.registry.model import PolicyEntry, Registry, RunCommandPolicy, ToolEntry

pytestmark = pytest.mark.anyio

PY = os.path.basename(sys.executable)


@pytest.fixture(autouse=True)
def _interpreter_on_path(monkeypatch):
    """`run_command` finds programs by name on PATH; make the test
    interpreter's name resolve there even when CI runs the venv's pytest
    without activating the venv."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("def main():\n    return 'Quorum join fires'\n")
    (root / "README.md").write_text("# Demo\nThe quorum policy decides.\n")
    (root / "blob.bin").write_bytes(b"\x00\x01quorum\x00")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("quorum in git internals\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    return root


def registry_for(ws: Path, tools: dict | None = None, policy: PolicyEntry | None = None, functions=None) -> ToolRegistry:
    reg = Registry(tools={k: ToolEntry(**v) for k, v in (tools or {}).items()})
    return ToolRegistry(reg, Workspace(ws), policy=policy, functions=functions, settings=FAST)


# --------------------------------------------------------------------------- sandbox


def test_workspace_resolution(ws: Path):
    w = Workspace(ws)
    assert w.resolve("src/main.py") == ws.resolve() / "src" / "main.py"
    assert w.resolve("src/../README.md") == ws.resolve() / "README.md"
    assert w.resolve(str(ws / "README.md")) == ws.resolve() / "README.md"
    for bad in ("../secret.txt", "src/../../secret.txt", "/etc/passwd", "~/x"):
        with pytest.raises(SandboxError):
            w.resolve(bad)


async def test_read_file_refuses_traversal_absolute_and_symlink_escape(ws: Path):
    (ws / "link.txt").symlink_to(ws.parent / "secret.txt")
    (ws / "linkdir").symlink_to(ws.parent)
    (ws / "inner.txt").symlink_to(ws / "README.md")
    tools = registry_for(ws)
    for path in ("../secret.txt", str(ws.parent / "secret.txt"), "link.txt", "linkdir/secret.txt"):
        r = await tools.call("read_file", {"path": path})
        assert r.is_error and "outside the workspace" in r.content and "top secret" not in r.content, path
    ok = await tools.call("read_file", {"path": "inner.txt"})  # a symlink that stays inside is fine
    assert not ok.is_error and ok.value.startswith("# Demo")


async def test_write_file_and_read_back(ws: Path):
    tools = registry_for(ws)
    r = await tools.call("write_file", {"path": "out/notes.md", "content": "héllo\n"})
    assert not r.is_error and r.value == {"path": "out/notes.md", "bytes": len("héllo\n".encode())}
    assert (ws / "out" / "notes.md").read_text() == "héllo\n"
    bad = await tools.call("write_file", {"path": "../escape.txt", "content": "x"})
    assert bad.is_error and not (ws.parent / "escape.txt").exists()
    (ws / "lnk").symlink_to(ws.parent)
    bad2 = await tools.call("write_file", {"path": "lnk/escape.txt", "content": "x"})
    assert bad2.is_error and not (ws.parent / "escape.txt").exists()


async def test_read_file_errors_are_results(ws: Path):
    tools = registry_for(ws)
    assert "does not exist" in (await tools.call("read_file", {"path": "nope.txt"})).content
    assert "binary" in (await tools.call("read_file", {"path": "blob.bin"})).content
    assert "directory" in (await tools.call("read_file", {"path": "src"})).content


async def test_list_files(ws: Path):
    tools = registry_for(ws)
    flat = await tools.call("list_files", {"path": ".", "recursive": False})
    assert flat.value == [".git/", "README.md", "blob.bin", "src/"]
    deep = await tools.call("list_files", {"path": ".", "recursive": "true"})  # lax validation of a string bool
    assert deep.value == ["README.md", "blob.bin", "src/main.py"]  # .git skipped


async def test_search_skips_binaries_and_ignored_dirs(ws: Path):
    tools = registry_for(ws)
    r = await tools.call("search", {"query": "QUORUM"})
    assert r.value == [{"path": "README.md", "line": 2, "text": "The quorum policy decides."},
                       {"path": "src/main.py", "line": 2, "text": "return 'Quorum join fires'"}]
    assert r.content.splitlines()[0] == "README.md:2: The quorum policy decides."
    words = await tools.call("search", {"query": "policy quorum"})  # no exact phrase: all words on a line
    assert [m["path"] for m in words.value] == ["README.md"] and "all of its words" in words.content
    most = await tools.call("search", {"query": "How is the quorum policy decided?"})  # best lines by shared words
    assert [m["path"] for m in most.value] == ["README.md"] and "at least 2 of its words" in most.content
    one = await tools.call("search", {"query": "quorum", "max_results": 1})
    assert len(one.value) == 1 and "stopped at 1" in one.content
    none = await tools.call("search", {"query": "zebra"})
    assert none.value == [] and not none.is_error


async def test_search_keeps_a_few_lines_per_file_and_counts_the_rest(ws: Path):
    (ws / "notes.md").write_text("".join(f"join number {i}\n" for i in range(10)))
    (ws / "src" / "joins.py").write_text("def join():\n    return 'join'\n")
    tools = registry_for(ws)
    r = await tools.call("search", {"query": "join"})
    paths = [m["path"] for m in r.value]
    assert paths.count("notes.md") == 3 and "src/joins.py" in paths
    assert "(more matching lines in: notes.md (+7))" in r.content


async def test_search_ranks_files_about_the_query_first(ws: Path):
    (ws / "a_notes.md").write_text("We talked about the quorum once.\n")
    (ws / "src" / "z_joins.py").write_text(
        "# quorum joins\n" + "".join(f"def quorum_{i}(): return 'quorum'\n" for i in range(6)))
    tools = registry_for(ws)
    r = await tools.call("search", {"query": "quorum"})
    paths = [m["path"] for m in r.value]
    assert paths[:3] == ["src/z_joins.py"] * 3  # six mentions beat one, whatever the alphabet says
    assert paths.index("a_notes.md") > 2
    few = await tools.call("search", {"query": "quorum", "max_results": 2})
    assert "more lines in other files" in few.content


async def test_signal_completion(ws: Path):
    tools = registry_for(ws)
    r = await tools.call("signal_completion", {"signal": "blocked", "reason": "missing dependency"})
    assert r.value == {"signal": "blocked", "reason": "missing dependency"} and not r.is_error
    bad = await tools.call("signal_completion", {"signal": "blocked"})
    assert bad.is_error and "reason" in bad.content
    bad2 = await tools.call("signal_completion", {"signal": "done"})
    assert bad2.is_error and "complete" in bad2.content


# --------------------------------------------------------------------------- run_command


def policy(*allow: str, timeout: float = 10.0, max_output: int = 4096) -> PolicyEntry:
    return PolicyEntry(run_command=RunCommandPolicy(allow=allow, timeout=timeout, max_output_bytes=max_output))


async def test_run_command_output_and_exit_code(ws: Path):
    tools = registry_for(ws, policy=policy(PY, "ls"))
    r = await tools.call("run_command", {"command": f"{PY} -c \"import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)\""})
    assert r.value == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n", "timed_out": False}
    assert not r.is_error and r.content.startswith("exit code: 3")
    sub = await tools.call("run_command", {"command": "ls", "working_dir": "src"})
    assert sub.value["stdout"] == "main.py\n"


async def test_run_command_allowlist_and_no_shell(ws: Path):
    tools = registry_for(ws, policy=policy("ls"))
    r = await tools.call("run_command", {"command": "rm -rf src"})
    assert r.is_error and "not an allowed program" in r.content and (ws / "src").exists()
    piped = await tools.call("run_command", {"command": "ls | rm -rf src"})  # no shell: `|` is an argument of ls
    assert (ws / "src").exists() and piped.value["exit_code"] != 0
    outside = await tools.call("run_command", {"command": f"ls {ws.parent}"})
    assert outside.is_error and "outside the workspace" in outside.content
    escape = await tools.call("run_command", {"command": "ls", "working_dir": ".."})
    assert escape.is_error


def processes_with(token: str) -> list[int]:
    """Host pids whose command line contains ``token`` (a sandboxed command
    sees its own PID namespace, so the pids it prints are not the host's)."""
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


async def test_run_command_timeout_kills_the_process_group(ws: Path):
    token = f"ragc-grandchild-{os.getpid()}-{time.time_ns()}"
    script = ("import subprocess, sys, time; "
              f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60) # {token}']); "
              "print(p.pid, flush=True); time.sleep(60)")
    tools = registry_for(ws, policy=policy(PY, timeout=0.5))
    started = time.monotonic()
    r = await tools.call("run_command", {"command": f'{PY} -c "{script}"'})
    assert time.monotonic() - started < 5
    assert r.is_error and r.value["timed_out"] is True and "timeout" in r.content
    for _ in range(100):
        if not processes_with(token):
            break
        await anyio.sleep(0.05)
    else:
        pytest.fail("the grandchild process survived the timeout")


async def test_run_command_caps_huge_output(ws: Path):
    tools = registry_for(ws, policy=policy(PY, max_output=2048))
    r = await tools.call("run_command", {"command": f"{PY} -c \"print('x' * 2_000_000)\""})
    assert r.value["exit_code"] == 0 and len(r.value["stdout"]) == 2048
    assert "truncated: 2048 of 2000001 bytes kept" in r.content
    assert len(r.content.encode()) < MAX_RESULT_BYTES + 200


async def test_tool_config_narrows_allowlist(ws: Path):
    tools = registry_for(ws, tools={"ls_only": {"builtin": "run_command", "config": {"allow": ["ls", "cat"]}}},
                         policy=policy("ls"))
    assert not (await tools.call("ls_only", {"command": "ls"})).is_error
    r = await tools.call("ls_only", {"command": "cat README.md"})  # cat is not in the policy
    assert r.is_error and "allowed: ls" in r.content


# --------------------------------------------------------------------------- registry behaviour


async def test_alias_with_root_config(ws: Path):
    tools = registry_for(ws, tools={"read_src": {"builtin": "read_file", "description": "Read source.",
                                                 "config": {"root": "src"}}})
    spec = tools.specs(["read_src"])[0]
    assert spec.name == "read_src" and spec.description == "Read source."
    assert spec.parameters["required"] == ["path"] and "title" not in spec.parameters
    assert "Quorum" in (await tools.call("read_src", {"path": "main.py"})).content
    assert (await tools.call("read_src", {"path": "../README.md"})).is_error


def test_bad_tool_config_is_a_config_error(ws: Path):
    with pytest.raises(ConfigError, match="unknown config key"):
        registry_for(ws, tools={"r": {"builtin": "read_file", "config": {"rooot": "src"}}}).get("r")
    with pytest.raises(ConfigError, match="unknown tool"):
        registry_for(ws).specs(["nope"])
    with pytest.raises(ConfigError, match="MCP"):
        registry_for(ws, tools={"m": {"mcp": "server"}}).get("m")


async def test_unknown_tool_and_invalid_arguments_go_back_as_errors(ws: Path):
    tools = registry_for(ws)
    r = await tools.call("delete_everything", {}, allowed=["read_file", "search"])
    assert r.is_error and "unknown tool `delete_everything`" in r.content and "read_file, search" in r.content
    r2 = await tools.call("write_file", {"path": 3})
    assert r2.is_error and "path" in r2.content and "content: Field required" in r2.content
    r3 = await tools.call("read_file", {}, raw_arguments="{'path': oops")
    assert r3.is_error and "not a JSON object" in r3.content
    r4 = await tools.call("write_file", {"path": "x"}, allowed=["read_file"])
    assert r4.is_error and "unknown tool" in r4.content and not (ws / "x").exists()


async def test_policy_deny_list(ws: Path):
    tools = registry_for(ws, policy=PolicyEntry(deny_tools=("write_file",)))
    r = await tools.call("write_file", {"path": "a", "content": "b"})
    assert r.is_error and not (ws / "a").exists()
    with pytest.raises(ConfigError, match="not allowed by the policy"):
        tools.specs(["write_file"])


async def test_result_is_bounded(ws: Path):
    (ws / "big.txt").write_text("y" * 100_000)
    tools = registry_for(ws)
    r = await tools.call("read_file", {"path": "big.txt"})
    assert len(r.content.encode()) < MAX_RESULT_BYTES + 100 and "truncated: 16384 of 100000 bytes" in r.content
    assert len(r.value) == 100_000  # the value for state is whole


# --------------------------------------------------------------------------- python tools


def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: the first number.
        b (int): the second number,
            two by default.
    """
    return a + b


async def slow(seconds: float) -> str:
    """Sleep.

    Parameters
    ----------
    seconds : float
        How long to sleep, in seconds.
    """
    await anyio.sleep(seconds)
    return "slept"


def broken(x: str) -> str:
    """Always fails."""
    raise RuntimeError(f"cannot handle {x}")


def parts(path: str, tags: list[str] | None = None) -> dict:
    """Describe a path."""
    return {"path": Path(path), "tags": tags or []}


async def test_python_tool_schema_validation_and_call(ws: Path):
    tools = registry_for(ws, tools={"add": {"python": "test_h_tools:add"}, "parts": {"python": "test_h_tools:parts"}})
    spec = tools.specs(["add"])[0]
    assert spec.description == "Add two integers."
    assert spec.parameters["properties"]["a"] == {"type": "integer", "description": "the first number."}
    assert spec.parameters["properties"]["b"]["description"] == "the second number, two by default."
    assert spec.parameters["required"] == ["a"]
    r = await tools.call("add", {"a": "40"})
    assert (r.content, r.value, r.is_error) == ("42", 42, False)
    bad = await tools.call("add", {"a": "forty"})
    assert bad.is_error and "a: Input should be a valid integer" in bad.content
    p = await tools.call("parts", {"path": "a/b", "tags": ["x"]})
    assert p.value == {"path": "a/b", "tags": ["x"]}


async def test_python_tool_numpy_docstring_timeout_and_exception(ws: Path):
    tools = registry_for(ws, tools={"slow": {"python": "test_h_tools:slow", "timeout": 0.2},
                                    "broken": {"python": "test_h_tools:broken"}})
    assert tools.specs(["slow"])[0].parameters["properties"]["seconds"]["description"] == "How long to sleep, in seconds."
    assert (await tools.call("slow", {"seconds": 0.01})).value == "slept"
    started = time.monotonic()
    t = await tools.call("slow", {"seconds": 5})
    assert t.is_error and "timed out after 0.2s" in t.content and time.monotonic() - started < 2
    b = await tools.call("broken", {"x": "this"})
    assert b.is_error and "RuntimeError: cannot handle this" in b.content


async def test_tool_breaker_opens_and_recovers(ws: Path):
    calls = []

    def flaky(n: int) -> str:
        """Fails until told otherwise."""
        calls.append(n)
        if n < 0:
            raise ValueError("negative")
        return "ok"

    tools = registry_for(ws, functions={"flaky": flaky})
    for _ in range(2):
        assert "ValueError" in (await tools.call("flaky", {"n": -1})).content
    refused = await tools.call("flaky", {"n": 1})
    assert refused.is_error and "temporarily disabled" in refused.content and calls == [-1, -1]
    await anyio.sleep(0.65)
    assert (await tools.call("flaky", {"n": 1})).content == "ok"
    assert tools.breaker("flaky").state == "closed"


def test_unimportable_python_tool(ws: Path):
    with pytest.raises(ConfigError, match="cannot import"):
        registry_for(ws, tools={"x": {"python": "no_such_module_xyz:f"}}).get("x")


# --------------------------------------------------------------------------- review regressions


async def test_unresolvable_paths_are_tool_errors_that_do_not_trip_the_breaker(ws: Path):
    (ws / "loop1").symlink_to(ws / "loop2")
    (ws / "loop2").symlink_to(ws / "loop1")
    tools = registry_for(ws)  # FAST: the breaker opens after 2 crashes
    for path in ("loop1", "loop1/x", "a" * 300, "~no_such_user_xyz/x"):
        r = await tools.call("read_file", {"path": path})
        assert r.is_error and "internal error" not in r.content, (path, r.content)
    assert tools.breaker("read_file").state == "closed"
    assert not (await tools.call("read_file", {"path": "README.md"})).is_error


async def test_read_file_refuses_a_fifo(ws: Path):
    os.mkfifo(ws / "pipe")
    tools = registry_for(ws)
    with anyio.fail_after(5):
        r = await tools.call("read_file", {"path": "pipe"})
    assert r.is_error and "not a regular file" in r.content


async def test_read_only_file_tools_honour_their_timeout(ws: Path, monkeypatch):
    from ragc.harness.tools import builtins

    def slow_search(*args):
        time.sleep(1.5)

    monkeypatch.setattr(builtins, "_search", slow_search)
    tools = registry_for(ws, tools={"s": {"builtin": "search", "timeout": 0.2}})
    started = time.monotonic()
    r = await tools.call("s", {"query": "quorum"})
    assert r.is_error and "timed out" in r.content and time.monotonic() - started < 1.0


async def test_write_file_keeps_the_mode_and_leaves_no_temp_file(ws: Path):
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    tools = registry_for(ws)
    r = await tools.call("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho new\n"})
    assert not r.is_error and script.read_text().endswith("new\n")
    assert script.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in ws.iterdir() if "ragc-tmp" in p.name) == []


async def test_run_command_refuses_arguments_through_a_symlink_that_leads_out(ws: Path):
    (ws / "up").symlink_to(ws.parent)
    tools = registry_for(ws, policy=policy("cat", "ls"))
    r = await tools.call("run_command", {"command": "cat up/secret.txt"})
    assert r.is_error and "outside the workspace" in r.content and "top secret" not in r.content
    r2 = await tools.call("run_command", {"command": "ls --directory=up"})
    assert r2.is_error and "outside the workspace" in r2.content
    ok = await tools.call("run_command", {"command": "cat src/main.py"})
    assert not ok.is_error and "Quorum" in ok.value["stdout"]


async def test_tool_config_empty_allow_list_allows_no_program(ws: Path):
    tools = registry_for(ws, tools={"nothing": {"builtin": "run_command", "config": {"allow": []}}})  # no policy list
    r = await tools.call("nothing", {"command": "ls"})
    assert r.is_error and "not an allowed program" in r.content


def test_run_command_config_timeout_accepts_durations_and_rejects_junk(ws: Path):
    t = registry_for(ws, tools={"rc": {"builtin": "run_command", "config": {"timeout": "2s"}}}).get("rc")
    assert t.timeout_s == pytest.approx(7.0)
    with pytest.raises(ConfigError, match="timeout"):
        registry_for(ws, tools={"rc": {"builtin": "run_command", "config": {"timeout": "soon"}}}).get("rc")


async def test_run_command_an_allowed_name_is_not_a_workspace_file_of_that_name(ws: Path):
    # A model that may write files must not get `./ls` (its own script) past `allow = ["ls"]`.
    script = ws / "ls"
    script.write_text("#!/bin/sh\necho pwned\n")
    script.chmod(0o755)
    tools = registry_for(ws, policy=policy("ls"))
    r = await tools.call("run_command", {"command": "./ls"})
    assert r.is_error and "workspace file" in r.content and "./ls" in r.content
    bare = await tools.call("run_command", {"command": "ls"})  # the program on PATH
    assert not bare.is_error and "pwned" not in bare.value["stdout"]
    named = registry_for(ws, policy=policy("./ls"))  # the path itself allowed
    ok = await named.call("run_command", {"command": "./ls"})
    assert not ok.is_error and ok.value["stdout"] == "pwned\n"
