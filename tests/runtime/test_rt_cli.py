"""``ragc run`` / ``resume`` / ``runs`` and the Python API on real ``.rag``
files with a scripted registry (the shared examples included)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ragc
from ragc.cli.main import main

EXAMPLES = Path("/work/shared/examples")
REPO = Path(__file__).resolve().parents[2]

REGISTRY = """
[workspace]
root = "."

[models.default]
provider = "scripted"
script = "default.jsonl"
price = { input_per_mtok = 1.0, output_per_mtok = 2.0 }

[models.fast]
provider = "scripted"
script = "fast.jsonl"

[tools.write_file]
builtin = "write_file"

[tools.list_files]
builtin = "list_files"

[tools.read_file]
builtin = "read_file"

[agents.reviewer]
model = "fast"
prompt = "Review this diff for {{ input.focus }}:\\n{{ input.diff }}"
output = "reviews"

[agents.billing_agent]
model = "default"
prompt = "Answer this billing ticket: {{ input.ticket }}"
output = "replies"

[agents.tech_agent]
model = "default"
prompt = "Answer this technical ticket: {{ input.ticket }}"
output = "replies"

[agents.auditor]
model = "fast"
prompt = "Ticket: {{ input.ticket }}\\nReplies: {{ input.replies }}\\nAudit the replies."
output = "audit"

[agents.summarizer]
model = "fast"
prompt = "Summarise the file {{ input.path }}."
tools = ["read_file"]
output = "summaries"
"""

DEFAULT = [
    {"when": "Decide whether to merge", "text": "merge it"},
    {"when": "billing ticket", "text": "Your refund is on its way."},
    {"when": "technical ticket", "text": "Restart the router."},
    {"when": "polite reply", "text": "Thanks for writing."},
    {"when": "Earlier drafts: Draft v1", "text": "Draft v2"},
    {"when": "Earlier drafts: ", "text": "Draft v1"},
    {"when": "Combine these", "text": "All files summarised."},
]
FAST = [
    {"when": "review focuses", "text": "security\nperformance"},
    {"when": "for security", "text": "approve: safe", "delay_ms": 30},
    {"when": "for performance", "text": "approve: fast", "delay_ms": 10},
    {"when": "for style", "text": "approve: tidy", "delay_ms": 20},
    {"when": "for tests", "text": "request changes", "delay_ms": 400},
    {"when": "for docs", "text": "approve: documented", "delay_ms": 400},
    {"when": "Classify", "route": "billing"},
    {"when": "Audit", "text": "tone ok"},
    {"when": "folder is for", "text": "a test folder"},
    {"when": "Summarise the file", "text": "a file", "repeat": True},
]


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for f in EXAMPLES.glob("*.rag"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(REPO / "tests" / "fixtures" / "seed_research_review.rag", tmp_path / "research_review.rag")
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "default.jsonl").write_text("".join(json.dumps(x) + "\n" for x in DEFAULT))
    (tmp_path / "fast.jsonl").write_text("".join(json.dumps(x) + "\n" for x in FAST))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_run_quorum_example_json(ws, capsys):
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--input", "diff=fix a bug", "--json")
    assert code == 0, err
    final = last_json(out)
    assert final["status"] == "completed"
    assert final["output"] == {"verdict": "merge it"}
    assert final["state"]["reviews"] == ["approve: safe", "approve: fast", "approve: tidy"]
    types = [json.loads(x)["type"] for x in out.strip().splitlines()[:-1]]
    assert types[0] == "run_started" and "join_fired" in types and types[-1] == "run_finished"


def test_run_triage_example_human_output(ws, capsys):
    code, out, err = run_cli(capsys, "run", "triage.rag", "--input", "ticket=charged twice")
    assert code == 0, err
    assert "Your refund is on its way." in out and "tone ok" in out
    assert "completed" in err and "3 steps" in err


def test_interrupt_exit_3_then_resume(ws, capsys):
    code, out, err = run_cli(capsys, "run", "approval_flow.rag", "--input", "topic=ragc")
    assert code == 3
    assert "Publish this draft?" in err
    cmd = next(x.strip() for x in err.splitlines() if x.strip().startswith("ragc resume "))
    run_id = cmd.split()[2]
    assert cmd == f"ragc resume {run_id} --answer publish"
    code, out, err = run_cli(capsys, "resume", run_id, "--answer", "maybe")
    assert code == 2 and "E0911" in err
    code, out, err = run_cli(capsys, "resume", run_id, "--answer", "revise")
    assert code == 3
    code, out, err = run_cli(capsys, "resume", run_id[:15], "--answer", "publish", "--json")
    assert code == 0, err
    final = last_json(out)
    assert final["status"] == "completed" and final["state"]["drafts"] == ["Draft v1", "Draft v2"]
    assert (ws / "announcement.md").read_text() == "Draft v2"
    code, out, err = run_cli(capsys, "runs", "show", run_id)
    assert code == 0 and "completed" in out and "approve#2 answered 'publish'" in out
    assert '"rounds": 2' in out
    code, out, err = run_cli(capsys, "runs", "list", "--json")
    assert json.loads(out.splitlines()[0])["run_id"] == run_id
    code, out, err = run_cli(capsys, "runs", "events", run_id, "--json")
    assert code == 0 and json.loads(out.splitlines()[0])["type"] == "run_started"


def test_failed_run_exit_1_with_span(ws, capsys):
    (ws / "bad.rag").write_text('graph bad {\n  start a\n  node a {\n    kind model\n    prompt "nothing matches"\n'
                                "  }\n}\n")
    (ws / "empty.jsonl").write_text("")
    code, out, err = run_cli(capsys, "run", "bad.rag")
    assert code == 1
    assert "E0909" in err and "bad.rag:3" in err and "no line of default.jsonl" in err


def test_check_errors_exit_2_with_diagnostics(ws, capsys):
    (ws / "broken.rag").write_text("graph broken {\n  start nowhere\n}\n")
    code, out, err = run_cli(capsys, "run", "broken.rag")
    assert code == 2 and "error[E" in err and "broken.rag" in err
    code, out, err = run_cli(capsys, "run", "broken.rag", "--json")
    assert code == 2 and last_json(out)["status"] == "invalid"


def test_usage_errors_exit_2(ws, capsys):
    code, out, err = run_cli(capsys, "run", "missing.rag")
    assert code == 2 and "no such file" in err
    code, out, err = run_cli(capsys, "run", "quorum_review.rag")
    assert code == 2 and "E0912" in err and "`diff`" in err
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--json")  # the documented last line, still
    last = last_json(out)
    assert code == 2 and last["status"] == "error" and last["error"]["code"] == "E0912"
    assert {"run_id", "output", "state", "usage"} <= set(last) and last["run_id"]
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--input", "nokey")
    assert code == 2 and "KEY=VALUE" in err
    code, out, err = run_cli(capsys, "resume", "no-such-run")
    assert code == 2 and "no run" in err
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--untrusted", "--input", "diff=x")
    assert code == 2 and "ragc approve" in err


def test_input_file_and_json_values(ws, capsys):
    from ragc.runtime.journal import SqliteStore

    (ws / "in.json").write_text(json.dumps({"diff": "from file"}))
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--input-file", "in.json", "--json")
    assert code == 0, err
    from_file = last_json(out)["run_id"]
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--input", "diff=5", "--json")
    assert code == 0, err  # a string field keeps "5" as text
    as_text = last_json(out)["run_id"]
    store = SqliteStore(ws / ".ragc" / "runs.sqlite")
    try:
        assert store.get_run(from_file).input == {"diff": "from file"}
        assert store.get_run(as_text).input == {"diff": "5"}
    finally:
        store.close()


def test_fork_from_a_step(ws, capsys):
    code, out, err = run_cli(capsys, "run", "triage.rag", "--input", "ticket=charged twice", "--json")
    run_id = last_json(out)["run_id"]
    code, out, err = run_cli(capsys, "runs", "show", run_id, "--json")
    steps = json.loads(out)["steps"]
    first = steps[0]["seq"]
    code, out, err = run_cli(capsys, "runs", "fork", run_id, "--step", str(first), "--json")
    assert code == 0, err
    final = last_json(out)
    assert final["status"] == "completed" and final["run_id"] != run_id
    assert final["state"]["replies"] == ["Your refund is on its way."]
    last = steps[-1]["seq"]
    code, out, err = run_cli(capsys, "runs", "fork", run_id, "--step", str(last + 100))
    assert code == 2 and f"has no step {last + 100} (its last step is {last})" in err


def test_resume_refuses_a_changed_file_then_force(ws, capsys):
    code, out, err = run_cli(capsys, "run", "approval_flow.rag", "--input", "topic=x", "--json")
    run_id = last_json(out)["run_id"]
    text = (ws / "approval_flow.rag").read_text().replace('"Publish this draft?"', '"Ship it?"')
    (ws / "approval_flow.rag").write_text(text)
    code, out, err = run_cli(capsys, "resume", run_id, "--answer", "publish")
    assert code == 2 and "E0913" in err and "node `approve` changed" in err
    code, out, err = run_cli(capsys, "resume", run_id, "--answer", "publish", "--force", "--json")
    assert code == 0, err
    assert last_json(out)["status"] == "completed"


def test_seed_research_review_runs_verbatim(ws, capsys):
    reg = (ws / "registry.toml").read_text() + """
[tools.search]
builtin = "search"

[tools.read_repo]
builtin = "read_file"

[agents.research_agent]
model = "default"
prompt = "Research: {{ input.question }}"
tools = ["search", "read_repo"]
output = "findings"

[agents.verifier_agent]
model = "default"
prompt = "Verify: {{ input.question }}"
tools = ["search", "read_repo"]
output = "critiques"

[agents.final_reviewer]
model = "default"
prompt = "Report on {{ input.question }} given {{ state.findings }} and {{ state.critiques }}"
"""
    (ws / "registry.toml").write_text(reg)
    (ws / "default.jsonl").write_text("".join(json.dumps(x) + "\n" for x in [
        {"when": "question: joins", "tool_calls": [{"name": "search", "arguments": {"query": "join"}}]},
        {"when": "question: joins", "text": "supervised"},
        {"when": "Research:", "text": "finding A"},
        {"when": "Verify:", "text": "critique B"},
        {"when": "Report on joins given finding A and critique B", "text": "the report"},
    ]))
    code, out, err = run_cli(capsys, "run", "research_review.rag", "--input", "question=joins", "--json")
    assert code == 0, err
    final = last_json(out)
    assert final["state"]["findings"] == ["finding A"] and final["state"]["critiques"] == ["critique B"]
    assert final["state"]["messages"][-1]["content"] == "the report"


def test_python_api_load_run_resume(ws):
    wf = ragc.load("approval_flow.rag", registry="registry.toml", journal="memory")
    r = wf.run_sync({"topic": "ragc"})
    assert r.status == "interrupted" and r.interrupt["options"] == ["publish", "revise"]
    r = wf.resume_sync(r.run_id, answer="publish")
    assert r.status == "completed" and r.state["drafts"] == ["Draft v1"]
    assert [x.id for x in wf.runs()] == [r.run_id]


def test_python_api_functions_and_errors(ws):
    (ws / "fn.rag").write_text(
        "graph fn {\n  input { n: int }\n  channel out last\n  start f\n"
        "  node f {\n    kind function\n    function \"double\"\n    input { n: input.n }\n    output out\n  }\n}\n")
    wf = ragc.load("fn.rag", registry="registry.toml", functions={"double": lambda inp: inp["n"] * 2}, journal=None)
    assert wf.run_sync({"n": 21}).state["out"] == 42
    (ws / "bad.rag").write_text("graph bad {\n  start nowhere\n}\n")
    with pytest.raises(ragc.RagcError) as e:
        ragc.load("bad.rag", registry="registry.toml")
    assert e.value.diagnostics and "bad.rag" in str(e.value)
    assert "error[" in e.value.render()


def test_from_program_and_node_result():
    from irb import fn, graph, program, routes

    g = graph("g", "a", [fn("a", "pick", output="v", routing=routes("outcome", ("ok", "END"), ("x", "b"))),
                         fn("b", "val", input="via x", output="v")], channels={"v": "last"})
    wf = ragc.Workflow.from_program(program(g), functions={"pick": lambda: ragc.NodeResult(1, route="x"),
                                                           "val": lambda v: v})
    assert wf.run_sync().state["v"] == "via x"


def test_ragc_console_script_is_installed(ws):
    exe = Path(sys.executable).with_name("ragc")
    res = subprocess.run([str(exe), "run", "triage.rag", "--input", "ticket=charged", "--json"], cwd=ws,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert last_json(res.stdout)["status"] == "completed"


def test_registry_graph_as_subgraph(ws, capsys):
    (ws / "lib").mkdir()
    (ws / "lib" / "summary.rag").write_text(
        "graph summary {\n  input { text: string }\n  output { short: string }\n  channel short last\n"
        "  start s\n  node s {\n    kind model\n    model \"fast\"\n    prompt \"Shorten: {{ input.text }}\"\n"
        "    output short\n  }\n}\n")
    (ws / "registry.toml").write_text((ws / "registry.toml").read_text()
                                      + '\n[graphs.summary]\npath = "lib/summary.rag"\n')
    (ws / "fast.jsonl").write_text(json.dumps({"when": "Shorten: a long text", "text": "short"}) + "\n")
    (ws / "main.rag").write_text(
        "graph main {\n  channel got last\n  start call\n  node call {\n    kind subgraph\n"
        "    graph \"summary\"\n    input { text: \"a long text\" }\n    output got\n  }\n}\n")
    code, out, err = run_cli(capsys, "run", "main.rag", "--json")
    assert code == 0, err
    assert last_json(out)["state"]["got"] == {"short": "short"}


def test_interrupt_is_asked_inline_on_a_terminal(ws, capsys, monkeypatch):
    import rich.prompt

    asked = []

    def fake_ask(question, **kw):
        asked.append(kw.get("choices"))
        return "publish"

    monkeypatch.setattr(rich.prompt.Prompt, "ask", staticmethod(fake_ask))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = run_cli(capsys, "run", "approval_flow.rag", "--input", "topic=ragc")
    assert code == 0, err
    assert asked == [["publish", "revise"]]
    assert (ws / "announcement.md").read_text() == "Draft v1"


def test_fork_of_a_changed_workflow_needs_force(ws, capsys):
    code, out, err = run_cli(capsys, "run", "triage.rag", "--input", "ticket=charged twice", "--json")
    run_id = last_json(out)["run_id"]
    code, out, err = run_cli(capsys, "runs", "show", run_id, "--json")
    first = json.loads(out)["steps"][0]["seq"]
    text = (ws / "triage.rag").read_text().replace("Write a polite reply", "Write a kind reply")
    (ws / "triage.rag").write_text(text)
    code, out, err = run_cli(capsys, "runs", "fork", run_id, "--step", str(first))
    assert code == 2 and "E0913" in err
    code, out, err = run_cli(capsys, "runs", "fork", run_id, "--step", str(first), "--force", "--json")
    assert code == 0, err
    assert last_json(out)["status"] == "completed"


def test_untrusted_run_needs_approval_unless_the_policy_turns_it_off(ws, capsys):
    base = (ws / "registry.toml").read_text()
    (ws / "registry.toml").write_text(base + "\n[policies.untrusted]\nmax_steps = 100\n")  # key unset: required
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--untrusted", "--input", "diff=x")
    assert code == 2 and "not approved" in err and "ragc approve quorum_review.rag" in err
    (ws / "registry.toml").write_text(base + "\n[policies.untrusted]\nmax_steps = 100\nrequire_approval = false\n")
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--untrusted", "--input", "diff=x", "--json")
    assert code == 0, err
    assert last_json(out)["status"] == "completed"
    (ws / "registry.toml").write_text(base + "\n[policies.untrusted]\nrequire_approval = true\n")
    code, out, err = run_cli(capsys, "approve", "quorum_review.rag")
    assert code == 0, err
    code, out, err = run_cli(capsys, "run", "quorum_review.rag", "--untrusted", "--input", "diff=x", "--json")
    assert code == 0, err
