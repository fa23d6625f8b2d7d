"""``memory`` and ``skills`` on a workflow's own ``kind agent`` node: checked
with did-you-mean (``E0874`` at the name's span), lowered into the IR only
when set, formatted, and run as a registry agent's settings are -- a real
``ragc run`` saves a memory, a second ``ragc run`` process recalls it into the
model's prompt; a run killed with SIGKILL right after its save and resumed
writes the memory once; a skill's instructions and tools reach the model."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import ragc
from ragc.compiler import compile_source
from ragc.harness.providers.scripted import ScriptedProvider
from ragc.lsp.analysis import Analysis, RegistryInfo
from ragc.registry.loader import load_registry
from ragc.syntax.formatter import format_source

RAGC = str(Path(sys.executable).with_name("ragc"))

REGISTRY = """
[models.default]
provider = "scripted"
script = "model.jsonl"
max_retries = 0

[stores.memory]
kind = "episodic"
path = ".ragc/memory.sqlite"
capacity = 50
recall_tokens = 200

[stores.journal]
kind = "sqlite"

[tools.read_file]
builtin = "read_file"

[tools.die_once]
python = "crash_tools:die_once"   # a module next to registry.toml
"""

CRASH_TOOLS = '''
import os, signal
from pathlib import Path


def die_once() -> str:
    """Kill this process the first time (a crash right after the memory was saved)."""
    marker = Path("died.marker")
    if not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return "still alive"
'''

SKILL = """---
description: Answer in the voice of a ship's log.
tools: [read_file]
---
Begin every answer with "Log entry:".
"""

FLOW = """// a node that remembers, without a registry agent
graph remember {
  input {
    message: string
  }
  start chat
  channel reply last
  node chat {
    kind agent
    prompt "{{ input.message }}"
    memory "memory"
    TOOLS
    max_iterations 4
    output reply
  }
}
"""


def _project(tmp_path: Path, script: list[dict], tools: str = "") -> Path:
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "crash_tools.py").write_text(CRASH_TOOLS)
    (tmp_path / "skills" / "shiplog").mkdir(parents=True)
    (tmp_path / "skills" / "shiplog" / "SKILL.md").write_text(SKILL)
    (tmp_path / "model.jsonl").write_text("".join(json.dumps(x) + "\n" for x in script))
    (tmp_path / "flow.rag").write_text(FLOW.replace("TOOLS", tools))
    return tmp_path


def _env(log: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAGC_DEBUG", "RAGC_SCRIPTED_LOG")}
    if log is not None:
        env["RAGC_SCRIPTED_LOG"] = str(log)
    return env


def _memories(ws: Path) -> list[tuple]:
    with sqlite3.connect(ws / ".ragc" / "memory.sqlite") as conn:
        return conn.execute("SELECT agent, text, origin FROM memories").fetchall()


def _compile(root: Path, text: str, untrusted: bool = False):
    load = load_registry(root / "registry.toml", cwd=root)
    assert load.ok, load.diagnostics
    return compile_source(text, "flow.rag", load.registry, untrusted=untrusted)


# ----------------------------------------------------------------------------- check, IR, fmt, LSP


def test_unknown_store_and_skill_on_an_agent_node_are_diagnostics_with_spans(tmp_path):
    root = _project(tmp_path, [])
    text = FLOW.replace('memory "memory"', 'memory "memroy"').replace("TOOLS", 'skills ["shiplgo", "journal"]')
    r = _compile(root, text)
    got = [(d.code, d.message, d.primary.span.line, d.primary.span.column, d.help) for d in r.diagnostics]
    assert got == [
        ("E0874", "unknown memory store `memroy` in the memory of node `chat`", 11, 12, "did you mean `memory`?"),
        ("E0874", "unknown skill `shiplgo` in the skills of node `chat`", 12, 13, "did you mean `shiplog`?"),
        ("E0874", "unknown skill `journal` in the skills of node `chat`", 12, 24,
         "add skills/NAME/SKILL.md (next to the registry) or [skills.NAME]"),
    ]
    (fix,) = r.diagnostics[0].suggestions
    assert fix.replacement == '"memory"' and text[fix.span.offset:fix.span.end_offset] == '"memroy"'
    # a run journal is a store, but not a memory store
    r = _compile(root, FLOW.replace('memory "memory"', 'memory "journal"').replace("TOOLS", ""))
    assert [(d.code, d.message) for d in r.diagnostics] == [
        ("E0874", "store `journal` is a run journal, not a memory store (node `chat`)")]
    # other kinds do not take them
    r = _compile(root, FLOW.replace("kind agent", "kind model").replace("TOOLS", "").replace("max_iterations 4", ""))
    assert [(d.code, d.message) for d in r.diagnostics] == [("E0203", "`memory` is not allowed on `model` nodes")]


def test_the_ir_has_memory_and_skills_only_when_set(tmp_path):
    root = _project(tmp_path, [])
    plain = _compile(root, FLOW.replace('    memory "memory"\n', "").replace("TOOLS", ""))
    assert plain.ok, plain.diagnostics
    node = plain.program.model_dump(mode="json")["graphs"]["remember"]["nodes"]["chat"]
    assert "memory" not in node and "skills" not in node
    both = _compile(root, FLOW.replace("TOOLS", 'skills ["shiplog"]'))
    assert both.ok, both.diagnostics
    node = both.program.model_dump(mode="json")["graphs"]["remember"]["nodes"]["chat"]
    assert node["memory"] == ["memory"] and node["skills"] == ["shiplog"]
    assert both.program.refs.stores == ["memory"] and "read_file" in both.program.refs.tools
    assert both.program.hash != plain.program.hash


def test_fmt_quotes_bare_memory_and_skill_names():
    src = FLOW.replace('memory "memory"', "memory memory").replace("TOOLS", "skills [shiplog]")
    out = format_source(src, "flow.rag").text
    assert 'memory "memory"' in out and 'skills ["shiplog"]' in out
    assert format_source(out, "flow.rag").text == out


def test_untrusted_policy_applies_to_a_node_skills_tools(tmp_path):
    root = _project(tmp_path, [])
    (root / "registry.toml").write_text(REGISTRY + '\n[policies.untrusted]\nallow_tools = ["die_once"]\n')
    text = FLOW.replace("TOOLS", 'skills ["shiplog"]')
    assert _compile(root, text).ok
    r = _compile(root, text, untrusted=True)
    assert [(d.code, d.message, d.primary.span.line) for d in r.diagnostics] == [
        ("E0601", "tool `read_file` is not granted by policy `untrusted`", 12)]
    assert r.diagnostics[0].notes == ("used through skill `shiplog`",)
    # a node's own `allow tools` must list the skill's tools too
    r = _compile(root, text.replace("    output reply", '    allow tools ["die_once"]\n    output reply'))
    assert [d.code for d in r.diagnostics] == ["E0603"]


def test_lsp_completes_memory_stores_and_skills_and_hovers_them(tmp_path):
    root = _project(tmp_path, [])
    info = RegistryInfo(load_registry(root / "registry.toml", cwd=root).registry, root / "registry.toml")
    text = FLOW.replace("TOOLS", 'skills ["shiplog"]')
    doc = Analysis(text, str(root / "flow.rag"), info)
    at_memory = text.index('memory "memory"') + len("memory ")
    assert [c[0] for c in doc.completions(at_memory)] == ["memory"]  # not the run journal
    at_skills = text.index('skills ["shiplog"]') + len("skills ")
    assert [c[0] for c in doc.completions(at_skills)] == ["shiplog"]
    hover, _ = doc.hover(text.index("shiplog") + 2)
    assert "skill `shiplog`" in hover and "ship's log" in hover
    hover, _ = doc.hover(text.index('memory "memory"') + 9)
    assert "store `memory`" in hover and "kind: `episodic`" in hover and "recall_tokens: `200`" in hover
    hover, _ = doc.hover(text.index("skills ["))
    assert "field `skills`" in hover and "`agent`" in hover


# ----------------------------------------------------------------------------- runs


SAVE_RUN = [
    # run 2 is answered only if the recalled memory is in the prompt (first: each process reads the script anew)
    {"when": "# Memory\nEarlier events (`memory`), most relevant first:\n- The deploy code word is heliotrope",
     "text": "It is heliotrope."},
    {"when": "The deploy code word is heliotrope",
     "tool_calls": [{"name": "memory_save", "arguments": {"text": "The deploy code word is heliotrope",
                                                          "importance": 0.9}}]},
    {"when": "The deploy code word is heliotrope", "text": "Noted."},
]


@pytest.mark.slow
def test_a_node_saves_in_one_run_and_recalls_in_the_next_process(tmp_path):
    ws = _project(tmp_path, SAVE_RUN)
    log = ws / "calls.jsonl"
    check = subprocess.run([RAGC, "check", "flow.rag"], cwd=ws, capture_output=True, text=True, env=_env())
    assert check.returncode == 0, check.stdout + check.stderr
    first = subprocess.run([RAGC, "run", "flow.rag", "--input", "message=The deploy code word is heliotrope",
                            "--json"], cwd=ws, capture_output=True, text=True, env=_env(log), timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.strip().splitlines()[-1])["state"]["reply"] == "Noted."
    assert [(a, t) for a, t, _ in _memories(ws)] == [("chat", "The deploy code word is heliotrope")]

    second = subprocess.run([RAGC, "run", "flow.rag", "--input", "message=What is the deploy code word?", "--json"],
                            cwd=ws, capture_output=True, text=True, env=_env(log), timeout=120)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["state"]["reply"] == "It is heliotrope."
    calls = [json.loads(x) for x in log.read_text().splitlines()]
    assert len({c["pid"] for c in calls}) == 2  # two processes
    last = calls[-1]["last_user"]
    assert last.startswith("What is the deploy code word?\n\n# Memory\n")
    assert "- The deploy code word is heliotrope" in last


@pytest.mark.slow
def test_a_node_memory_is_written_once_across_kill_9_and_resume(tmp_path):
    script = [
        {"when": "My favourite colour is teal",
         "tool_calls": [{"name": "memory_save", "arguments": {"text": "The user's favourite colour is teal"}}]},
        {"when": "My favourite colour is teal", "tool_calls": [{"name": "die_once", "arguments": {}}]},
        {"when": "My favourite colour is teal", "text": "Noted: teal."},
    ]
    ws = _project(tmp_path, script, tools='tools ["die_once"]')
    run = subprocess.run([RAGC, "run", "flow.rag", "--input", "message=My favourite colour is teal",
                          "--run-id", "first", "--json"], cwd=ws, capture_output=True, text=True, env=_env(),
                         timeout=120)
    assert run.returncode == -9, run.stderr  # killed inside die_once, after memory_save
    saved = _memories(ws)
    assert [(a, t) for a, t, _ in saved] == [("chat", "The user's favourite colour is teal")]
    assert saved[0][2].startswith("first/")  # the origin: run id / activation / call key

    resume = subprocess.run([RAGC, "resume", "first", "--json"], cwd=ws, capture_output=True, text=True, env=_env(),
                            timeout=120)
    assert resume.returncode == 0, resume.stderr
    final = json.loads(resume.stdout.strip().splitlines()[-1])
    assert final["status"] == "completed" and final["state"]["reply"] == "Noted: teal."
    assert _memories(ws) == saved, "the resumed run did not write the memory again"


def test_a_node_skill_prompt_and_tools_reach_the_model_call(tmp_path, monkeypatch):
    script = [{"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}}]},
              {"text": "Log entry: the hull is sound."}]
    ws = _project(tmp_path, script)
    (ws / "notes.txt").write_text("The hull is sound.\n")
    (ws / "flow.rag").write_text(FLOW.replace('    memory "memory"\n', "").replace("TOOLS", 'skills ["shiplog"]'))
    requests = []
    original = ScriptedProvider.complete

    async def recording(self, request, **kw):
        requests.append(request)
        return await original(self, request, **kw)

    monkeypatch.setattr(ScriptedProvider, "complete", recording)
    seen = []
    result = ragc.run(ws / "flow.rag", {"message": "How is the hull?"}, registry=ws / "registry.toml", journal=None,
                      workspace=ws, on_event=seen.append)
    assert result.status == "completed", result.error
    assert result.state["reply"] == "Log entry: the hull is sound."
    system = requests[0].messages[0]
    assert system.role == "system"
    assert "# Skill: shiplog\nAnswer in the voice of a ship's log.\n\nBegin every answer with \"Log entry:\"." \
        in system.content
    assert [t.name for t in requests[0].tools] == ["read_file"]  # granted by the skill only
    (tool,) = [e for e in seen if type(e).__name__ == "ToolCallCompleted"]
    assert tool.tool == "read_file" and not tool.is_error and "hull is sound" in tool.summary
