"""The result cache of ``ragc check`` (``ragc.cli.check_cache``): a warm
answer is the fresh one byte for byte, and never a stale one.

Every test runs ``ragc check`` as a subprocess (the cache's recorder hooks
the interpreter) and compares the answer with ``--no-cache``'s for the same
state of the files: the invariant is "cached output == fresh output"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from clikit import REGISTRY, WORKFLOW, Done, ragc

CACHE = Path(".ragc") / "cache" / "check"

BROKEN = WORKFLOW.replace("output greeting\n", "output greting\n")  # E-unknown channel: exit 1

COMMAND_TOOL = """
[tools.run_command]
builtin = "run_command"
"""


def entries(proj: Path) -> list[Path]:
    d = proj / CACHE
    return sorted(d.glob("*.json")) if d.is_dir() else []


def stdout_of(entry: Path) -> str:
    return "".join(text for fd, text in json.loads(entry.read_text())["output"] if fd == 1)


def same(a: Done, b: Done) -> bool:
    return (a.code, a.out, a.err) == (b.code, b.out, b.err)


def warm_equals_fresh(proj: Path, *args: str, env: dict[str, str] | None = None) -> Done:
    """Check twice (the second answer may come from the cache) and once with
    ``--no-cache``; all three must agree. Returns the fresh answer."""
    first = ragc("check", *args, cwd=proj, env=env)
    second = ragc("check", *args, cwd=proj, env=env)
    fresh = ragc("check", "--no-cache", *args, cwd=proj, env=env)
    assert same(first, fresh), (first, fresh)
    assert same(second, fresh), (second, fresh)
    return fresh


def test_a_warm_check_prints_the_fresh_output_and_exit_status(proj: Path):
    (proj / "broken.rag").write_text(BROKEN)
    for args in (("hello.rag",), ("broken.rag",), ("--format", "json", "broken.rag"), ("-q", "broken.rag"),
                 (".",), ("hello.rag", "broken.rag"), ("-v", "broken.rag")):
        fresh = warm_equals_fresh(proj, *args)
        assert fresh.code == (0 if args == ("hello.rag",) else 1), (args, fresh)
    assert entries(proj), "the checks stored entries"
    assert (proj / ".ragc" / "cache" / ".gitignore").read_text().strip().endswith("*")


def _hit_modules(proj: Path, argv: list[str]) -> set[str]:
    probe = ("import sys, json\nfrom ragc.cli.main import main\n"
             f"code = main({argv!r})\n"
             "sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
             "raise SystemExit(code)\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(proj / ".no-config"), "NO_COLOR": "1"}
    env.pop("RAGC_DEBUG", None)
    p = subprocess.run([sys.executable, "-c", probe], cwd=proj, env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


DEFERRED = ("lark", "pydantic", "jinja2", "rich", "httpx", "typing", "pathlib", "dataclasses",
            "ragc.compiler", "ragc.registry", "ragc.check", "ragc.syntax", "ragc.diagnostics", "ragc.harness",
            "ragc.runtime")


def test_a_warm_check_imports_none_of_the_front_end(proj: Path):
    (proj / "broken.rag").write_text(BROKEN)
    for argv in (["check", "hello.rag"], ["check", "--format", "json", "broken.rag"]):
        cold = _hit_modules(proj, argv)
        assert "lark" in cold and "ragc.compiler" in cold  # the first check did the work
        warm = _hit_modules(proj, argv)
        loaded = sorted(m for m in warm if any(m == n or m.startswith(n + ".") for n in DEFERRED))
        assert loaded == [], loaded


def test_editing_the_rag_file_invalidates_even_at_the_same_size_and_mtime(proj: Path):
    rag = proj / "hello.rag"
    ok = warm_equals_fresh(proj, "hello.rag")
    st = rag.stat()
    rag.write_text(WORKFLOW.replace("output greeting\n", "output greetinx\n"))  # same length
    os.utime(rag, ns=(st.st_atime_ns, st.st_mtime_ns))
    broken = ragc("check", "hello.rag", cwd=proj)
    assert broken.code == 1 and not same(broken, ok)
    assert same(broken, ragc("check", "--no-cache", "hello.rag", cwd=proj))


def test_editing_the_registry_invalidates(proj: Path):
    before = warm_equals_fresh(proj, "hello.rag")
    (proj / "registry.toml").write_text(REGISTRY.replace('[models.default]', '[models.other]'))
    after = warm_equals_fresh(proj, "hello.rag")
    assert after.code == 1 and not same(before, after)


def test_creating_a_nearer_registry_invalidates(proj: Path):
    sub = proj / "sub"
    sub.mkdir()
    (sub / "hello.rag").write_text(WORKFLOW)
    before = warm_equals_fresh(sub, "hello.rag")
    (sub / "registry.toml").write_text("[models.other]\nprovider = \"scripted\"\nscript = \"x.jsonl\"\n")
    after = warm_equals_fresh(sub, "hello.rag")
    assert before.code == 0 and after.code == 1


def test_editing_an_agent_folder_invalidates(proj: Path):
    folder = proj / ".agents" / "helper"
    folder.mkdir(parents=True)
    agent = textwrap.dedent("""\
        ---
        model: default
        description: Helps.
        max_iterations: 3
        ---
        You help.
        """)
    (folder / "AGENT.md").write_text(agent)
    before = warm_equals_fresh(proj, "hello.rag")
    (folder / "AGENT.md").write_text(agent.replace("max_iterations: 3", "max_iterations: lots"))
    after = warm_equals_fresh(proj, "hello.rag")
    assert not same(before, after) and "AGENT.md" in after.out
    # a new agent folder (a directory listing the check read) invalidates too
    (proj / ".agents" / "second").mkdir()
    (proj / ".agents" / "second" / "AGENT.md").write_text("---\nmodel: nosuch\n---\nHi.\n")
    third = warm_equals_fresh(proj, "hello.rag")
    assert not same(after, third) and "second" in third.out


def test_changing_an_option_is_a_different_answer(proj: Path):
    (proj / "broken.rag").write_text(BROKEN)
    text = warm_equals_fresh(proj, "broken.rag")
    js = warm_equals_fresh(proj, "--format", "json", "broken.rag")
    quiet = warm_equals_fresh(proj, "-q", "broken.rag")
    untrusted = warm_equals_fresh(proj, "--untrusted", "broken.rag")
    assert len({text.out, js.out, quiet.out}) == 3
    assert untrusted.code == 1
    assert same(ragc("check", "broken.rag", cwd=proj), text)


def test_the_environment_the_check_reads_is_part_of_the_answer(proj: Path):
    (proj / "registry.toml").write_text(REGISTRY + COMMAND_TOOL)
    on = warm_equals_fresh(proj, "hello.rag")
    off = warm_equals_fresh(proj, "hello.rag", env={"RAGC_SANDBOX": "off"})
    assert "RAGC_SANDBOX=off" in off.out
    assert same(ragc("check", "hello.rag", cwd=proj), on)
    # a ${VAR} in the registry: its value is read (a key with a line break is an error), so it is recorded
    (proj / "registry.toml").write_text(REGISTRY + '\n[models.remote]\nprovider = "openai"\n'
                                        'model = "m"\napi_key = "${RAGC_TEST_KEY}"\n')
    unset = warm_equals_fresh(proj, "hello.rag")
    (entry,) = entries(proj)
    assert json.loads(entry.read_text())["env"]["RAGC_TEST_KEY"] is None
    bad = warm_equals_fresh(proj, "hello.rag", env={"RAGC_TEST_KEY": "sk-one\nsk-two"})
    assert not same(unset, bad)
    assert same(ragc("check", "hello.rag", cwd=proj), unset)


def test_a_corrupt_entry_is_ignored_and_rewritten(proj: Path):
    fresh = warm_equals_fresh(proj, "hello.rag")
    (entry,) = entries(proj)
    for junk in ("{not json", json.dumps({"format": 1, "key": "x"}), json.dumps([1, 2]), ""):
        entry.write_text(junk)
        assert same(ragc("check", "hello.rag", cwd=proj), fresh)
        assert stdout_of(entry) == fresh.out  # rewritten


def test_a_tampered_dependency_list_cannot_serve_another_state(proj: Path):
    warm_equals_fresh(proj, "hello.rag")
    (entry,) = entries(proj)
    data = json.loads(entry.read_text())
    data["output"] = [[1, "forged\n"]]
    data["deps"] = [[p, listed, ["f", 0, "0"]] for p, listed, _ in data["deps"]]
    entry.write_text(json.dumps(data))
    assert ragc("check", "hello.rag", cwd=proj).out != "forged\n"


def test_concurrent_checks_write_whole_entries(proj: Path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(proj / ".no-config"), "NO_COLOR": "1"}
    env.pop("RAGC_DEBUG", None)
    procs = [subprocess.Popen([sys.executable, "-m", "ragc", "check", "hello.rag"], cwd=proj, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    fresh = ragc("check", "--no-cache", "hello.rag", cwd=proj)
    assert all(p.returncode == fresh.code for p in procs)
    assert all(out == (fresh.out, fresh.err) for out in outs)
    (entry,) = entries(proj)
    assert stdout_of(entry) == fresh.out
    assert not list((proj / CACHE).glob("*.tmp"))


@pytest.mark.parametrize("how", ["flag", "env"])
def test_no_cache_neither_reads_nor_writes(proj: Path, how: str):
    args, env = (("--no-cache",), None) if how == "flag" else ((), {"RAGC_NO_CACHE": "1"})
    ragc("check", *args, "hello.rag", cwd=proj, env=env)
    assert entries(proj) == []
    warm_equals_fresh(proj, "hello.rag")
    (entry,) = entries(proj)
    data = json.loads(entry.read_text())
    data["output"] = [[1, "stale\n"]]
    entry.write_text(json.dumps(data))
    assert ragc("check", *args, "hello.rag", cwd=proj, env=env).out != "stale\n"


def test_fix_and_stdin_bypass_the_cache(proj: Path):
    (proj / "broken.rag").write_text(BROKEN)
    ragc("check", "--fix", "broken.rag", cwd=proj)
    ragc("check", "-", cwd=proj, input=WORKFLOW)
    assert entries(proj) == []


def test_colour_is_never_replayed(proj: Path):
    r = ragc("--color", "always", "check", "hello.rag", cwd=proj)
    assert r.code == 0 and entries(proj) == []


RECORD = """
import subprocess, sys
from ragc.cli import check_cache
with check_cache.Recorder() as rec:
    from ragc.registry import host_sandbox
    {body}
sys.__stdout__.write('STORABLE %s\\n' % rec.storable)
"""


@pytest.mark.parametrize(("body", "storable"), [
    ("open('hello.rag').read()", True),
    ("subprocess.run(['true', *host_sandbox.PROBE_COMMAND])", True),  # the sandbox probe's argv
    ("subprocess.run(['true'])", False),  # any other process: e.g. an MCP server listed at check time
    ("import socket; socket.getaddrinfo('localhost', 80)", False),
    ("sys.stdout.buffer.write(b'')", False),  # bytes past the copy of the text
])
def test_what_a_recording_cannot_reproduce_is_not_stored(proj: Path, body: str, storable: bool):
    p = subprocess.run([sys.executable, "-c", RECORD.format(body=body)], cwd=proj, capture_output=True, text=True,
                       timeout=60, check=False)
    assert f"STORABLE {storable}" in p.stdout, p.stderr


def test_stdout_and_stderr_into_one_file_interleave_as_fresh(proj: Path):
    (proj / "broken.rag").write_text(BROKEN)
    env = {**os.environ, "XDG_CONFIG_HOME": str(proj / ".no-config"), "NO_COLOR": "1"}
    env.pop("RAGC_DEBUG", None)

    def merged(*args: str) -> bytes:
        return subprocess.run([sys.executable, "-m", "ragc", "check", "-v", *args, "broken.rag"], cwd=proj,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120).stdout

    fresh = merged("--no-cache")
    assert b"registry: " in fresh
    assert merged() == fresh and merged() == fresh  # the second answer is the cache's
    assert entries(proj)


EDIT_DURING = """
import sys
from ragc.cli import check_cache
with check_cache.Recorder() as rec:
    open('hello.rag').read()
    sys.stdout.write('old answer\\n')
    open('hello.rag', 'a').write('// edited while checking\\n')
sys.__stdout__.write('STORED %s\\n' % check_cache.store('k' * 64, rec, 0))
"""


def test_a_file_edited_while_the_check_ran_is_not_stored(proj: Path):
    p = subprocess.run([sys.executable, "-c", EDIT_DURING], cwd=proj, capture_output=True, text=True, timeout=60,
                       check=False)
    assert "STORED False" in p.stdout, p.stderr
    assert entries(proj) == []
