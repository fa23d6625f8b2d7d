"""Every workflow of ``workflows/`` runs on both engines with scripted
models and ends in the same final state and output: the local engine, and
Temporal (the session's dev server, an in-process worker). Each engine gets
its own scripted registry and its own copy of the workspace, built the same
way; the scripts are the ones of ``tests/workflows``. An interrupted flow is
answered the same way on both (``ragc resume`` locally, the ``answer``
update on Temporal).

``parity/*.rag`` are workflows of these tests only, for what ``workflows/``
does not exercise (subgraphs, which Temporal runs as child workflows)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("temporalio")

import tkit  # noqa: E402
from wfkit import CODE_BASE, REPO, WORKFLOWS, make_code_base, scripted_registry  # noqa: E402

import ragc  # noqa: E402

from ragc.temporal import client as tc  # noqa: E402

pytestmark = pytest.mark.anyio


def _notes(ws: Path) -> None:
    (ws / "notes").mkdir(parents=True)
    for name in ("alpha.md", "beta.md", "gamma.md"):
        (ws / "notes" / name).write_text(f"# {name}\n\nNotes about {name.split('.')[0]}.\n", encoding="utf-8")


def _research(ws: Path) -> None:
    from test_wf_research_review import DOC

    make_code_base(ws)
    (ws / "docs").mkdir()
    (ws / "docs" / "pricing.md").write_text(DOC, encoding="utf-8")
    (ws / "src").mkdir()
    (ws / "src" / "cart.py").write_text(CODE_BASE["shop/cart.py"], encoding="utf-8")


def _map_reduce() -> dict[str, Any]:
    fast = [{"when": "folder is for", "text": "Project notes."}]
    for name, delay in (("alpha.md", 120), ("beta.md", 0), ("gamma.md", 60)):
        p = f"notes/{name}"
        fast += [{"when": f"Summarise the file {p}.", "tool_calls": [{"name": "read_file", "arguments": {"path": p}}]},
                 {"when": f"Summarise the file {p}.", "text": f"summary of {p}", "delay_ms": delay}]
    return {"fast": fast, "default": [{"when": "Combine these file summaries", "text": "One page."}]}


def _quorum() -> dict[str, Any]:
    from test_wf_quorum_review import FOCUSES, VERDICT

    delays = {"security": 3000, "performance": 30, "style": 10, "tests": 20, "docs": 3000}
    fast = [{"when": "List the review focuses", "text": "\n".join(FOCUSES)}]
    fast += [{"when": f"Review this diff for {f}:", "text": f"review: {f}", "delay_ms": d} for f, d in delays.items()]
    return {"fast": fast, "default": [{"when": "Decide whether to merge", "text": VERDICT}]}


def _plan() -> dict[str, Any]:
    from test_wf_plan_and_execute import GOAL, GREET, PLAN, claim

    return {"default": [
        {"when": f"Goal: {GOAL}", "json": {"name": "greet", "tasks": [PLAN["tasks"][0]]}},
        {"when": "Task task-1: Write greet.py", **claim("greet.py written")},
        {"when": "The last check failed: greet.py exists: greet.py does not exist", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greet.py", "content": GREET}}]},
        {"when": "The last check failed", **claim("now it is really written")}]}


def _repl_notes(ws: Path) -> None:
    (ws / "notes").mkdir(parents=True)
    (ws / "notes" / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (ws / "notes" / "b.txt").write_text("four\n", encoding="utf-8")


def _repl() -> dict[str, Any]:
    from test_wf_repl_analyst import cell

    default = [
        cell('files = tool_call("list_files", {"path": "notes"})\nprint(files)', when="Answer from the files"),
        cell('counts = {}\nfor f in ["notes/a.txt", "notes/b.txt"]:\n'
             '    counts[f] = len(tool_call("read_file", {"path": f}).strip().split("\\n"))\nprint(counts)',
             when="a.txt"),
        cell('verdict = model_query("fast", "Say which file is longer: %s" % json.encode(counts))\n'
             'answer({"lines": counts, "verdict": verdict})', when='"notes/a.txt": 3'),
    ]
    return {"default": default, "fast": [{"when": "Say which file is longer", "text": "a.txt is longer"}]}


def _subgraphs() -> dict[str, Any]:
    fast = [{"when": "Draft a section on ragc", "text": "ragc section"},
            {"when": "Pick angles for ragc", "text": "quick, slow"},
            {"when": "Draft a section on quick", "text": "quick section"},
            {"when": "Draft a section on slow", "text": "slow section", "delay_ms": 4000}]
    fast += [{"when": f"One line about: {t}", "text": f"note on {t}"}
             for t in ("ragc section", "quick section", "slow section", "One page.")]
    fast.append({"when": "Tag this: One page.", "text": "tag: page", "delay_ms": 300})
    return {"fast": fast, "default": [{"when": "Wrap up", "text": "One page."}]}


def _scripts(module: str, **names: str) -> Callable[[], dict[str, Any]]:
    def get() -> dict[str, Any]:
        mod = __import__(module)
        return {model: getattr(mod, const) for model, const in names.items()}
    return get


def _mcp(reg: Any, scripts: Path) -> Any:
    units = reg.mcp_servers["units"]
    server = units.model_copy(update={"command": ("python", str(REPO / "workflows" / "servers" / "units_server.py"))})
    reg = reg.model_copy(update={"mcp_servers": {**reg.mcp_servers, "units": server}})
    reg.source = scripts / "registry.toml"
    return reg


CASES: dict[str, dict[str, Any]] = {
    "approval_flow": {"scripts": _scripts("test_wf_approval_flow", default="DRAFTS"),
                      "inputs": {"topic": "the ragc 0.1 release"}, "answers": ["revise", "publish"]},
    "map_reduce": {"scripts": _map_reduce, "inputs": {"folder": "notes"}, "ws": _notes},
    "mcp_units": {"scripts": _scripts("test_wf_mcp_units", fast="SCRIPT"),
                  "inputs": {"question": "How many miles is 42 km?"}, "registry": _mcp},
    "plan_and_execute": {"scripts": _plan, "inputs": {"goal": "Add a greeting module and publish it."}},
    "quorum_review": {"scripts": _quorum, "cancels": True, "inputs": {"diff": "-    return a+b\n+    return a + b"}},
    "react_agent": {"scripts": _scripts("test_wf_react_agent", react="SCRIPT"),
                    "inputs": {"question": "Which discount codes does the shop accept?"}, "ws": make_code_base},
    "remember": {"scripts": _scripts("test_wf_remember", default="SCRIPT"),
                 "inputs": {"message": "My favourite colour is teal"}},
    "repl_analyst": {"scripts": _repl, "inputs": {"question": "How many lines does each note have?"},
                     "ws": _repl_notes},
    "research_review": {"scripts": _scripts("test_wf_research_review", default="SCRIPT"),
                        "inputs": {"question": "How are discount codes applied to a cart total?"}, "ws": _research},
    "triage": {"scripts": _scripts("test_wf_triage", fast="SCRIPT_FAST", default="SCRIPT_DEFAULT"),
               "inputs": {"ticket": "I was charged twice for my March invoice."}},
    # the losing branch's activations inside its (cancelled) child workflow are not counted on Temporal
    "subgraphs": {"scripts": _subgraphs, "inputs": {"topic": "ragc"}, "usage": ("tool_calls",)},
}

PARITY = Path(__file__).resolve().parent / "parity"
FILES = {p.stem: p for p in [*WORKFLOWS.glob("*.rag"), *PARITY.glob("*.rag")]}


def load(name: str, reg: Any, ws: Path) -> ragc.Workflow:
    return ragc.load(FILES[name], registry=reg, journal="memory", workspace=ws)

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")


def normal(value: Any, ws: Path) -> Any:
    """``value`` as comparable JSON: the workspace path and ISO times replaced."""
    text = json.dumps(value, sort_keys=True, default=str).replace(str(ws), "<ws>")
    return json.loads(ISO.sub("<time>", text))


def setup(case: dict[str, Any], base: Path) -> tuple[Any, Path]:
    ws = base / "ws"
    ws.mkdir(parents=True)
    if case.get("ws"):
        case["ws"](ws)
    scripts = base / "scripts"
    reg = scripted_registry(scripts, **case["scripts"]())
    if case.get("registry"):
        reg = case["registry"](reg, scripts)
    return reg, ws


@pytest.fixture(autouse=True)
def python_on_path(monkeypatch):
    # run_command (plan_and_execute's checks) finds `python3` on PATH: this interpreter's
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def test_every_workflow_has_a_case():
    assert sorted(CASES) == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
async def test_same_final_state_and_output_on_both_engines(name, tmp_path, dev_server):
    case = CASES[name]
    reg, ws = setup(case, tmp_path / "local")
    wf = load(name, reg, ws)
    local = await wf.run(case["inputs"])
    for answer in case.get("answers", ()):
        assert local.status == "interrupted", local.error
        local = await wf.resume(local.run_id, answer=answer)
    assert local.status == "completed", local.error

    reg2, ws2 = setup(case, tmp_path / "temporal")
    wf2 = load(name, reg2, ws2)
    q = tkit.queue()
    async with tkit.worker(dev_server.address, q, reg2, workspace=ws2) as client:
        res = await tkit.run_temporal(wf2, client, q, case["inputs"])
        for answer in case.get("answers", ()):
            assert res["status"] == "interrupted", res.get("error")
            await tc.answer(client, res["run_id"], answer)
            res = await tc.wait(client, res["run_id"])
    assert res["status"] == "completed", res.get("error")
    assert normal(res["output"], ws2) == normal(local.output, ws)
    assert local.state and normal(res["state"], ws2) == normal(local.state, ws)
    # a cancelled branch's started calls count locally; on Temporal a cancelled activity reports none
    keys = case.get("usage") or (("steps",) if case.get("cancels") else
                                 ("model_calls", "tool_calls", "input_tokens", "output_tokens", "steps"))
    for k in keys:
        assert res["usage"][k] == local.usage[k], k
