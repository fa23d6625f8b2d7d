"""Agent turns of the real embedded model (Qwen2.5-Coder-0.5B via llama.cpp,
2 threads) under the tool-turn grammar. Marked ``llm``: they need
``ragc[local]`` and the installed model; each takes 10-40 s on 2 quiet
cores. Assertions are on the shape of the replies and on which tools ran,
never on the model's wording."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from ragc.harness import Harness, local_models
from ragc.harness.types import AgentSpec, Message, ModelRequest
from ragc.registry.loader import load_registry

pytestmark = [pytest.mark.llm, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[2]
DEMO_QUESTION = "How does the ragc runtime decide when a quorum join fires, and what happens to the branches that lose?"
LOCAL = {"provider": "local", "source": "qwen2.5-coder-0.5b", "threads": 2, "context": 4096, "max_retries": 0,
         "timeout": 240, "params": {"temperature": 0.2, "max_tokens": 96, "repeat_penalty": 1.1}}


@pytest.fixture(scope="module")
def model_ready():
    pytest.importorskip("llama_cpp")
    try:
        local_models.ensure_model("qwen2.5-coder-0.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


@pytest.mark.timeout(300)
async def test_every_turn_with_three_tools_is_a_valid_call_or_an_answer(model_ready, tmp_path):
    """Prompts on which the model, unconstrained, wrote calls as text, named
    tools that do not exist or answered with a JSON object (see
    fixtures/qwen05b_turns.json)."""
    (tmp_path / "notes.md").write_text("Joins fire at the Nth success.\n")
    h = make_harness({"default": LOCAL}, workspace=tmp_path,
                     tools={n: {"builtin": n} for n in ("search", "read_file", "list_files")})
    tools = h.tool_specs(["search", "read_file", "list_files"])
    registry = h.tools
    prompts = ["question: How does the ragc runtime decide when a quorum join fires?",
               "Task task-1: Create hello.txt\nCreate a file named hello.txt that contains the word hello.",
               "Find where the word 'quorum' appears and tell me the file.",
               "What is 2 + 2? Answer with the number."]
    kinds = []
    for i, prompt in enumerate(prompts):
        r = await h.complete("default", ModelRequest(messages=[
            Message(role="system", content="You complete the user's task with the tools when they help."),
            Message(role="user", content=prompt)], tools=tools), effects=MemoryEffectLog(), key=f"m{i}",
            budget=LimitBudget())
        if r.message.tool_calls:
            for call in r.message.tool_calls:
                assert call.name in {"search", "read_file", "list_files"} and call.raw_arguments is None, prompt
                registry.get(call.name).args_model.model_validate(call.arguments)  # raises if invalid
            kinds.append("call")
        else:
            text = r.message.content
            assert text.strip() and text.lstrip()[0] not in "{[<`" and '"name":' not in text, (prompt, text)
            kinds.append("answer")
    print("\nturn kinds:", kinds)
    await h.aclose()


@pytest.mark.timeout(600)
async def test_the_demo_question_is_answered_from_prefetched_passages(model_ready):
    """research_agent of the repository registry (its default model, prefetch
    of the best documentation passages, citation guard) on this repository:
    the prefetch returns real files and the answer cites none that it did
    not return."""
    from ragc.harness.citations import UNVERIFIED_MARK, SourceLedger, find_citations
    from ragc.harness.types import ToolCall
    from ragc.runtime.templates import compile_template

    local_models.ensure_model("qwen2.5-coder-1.5b")
    reg = load_registry(REPO / "registry.toml").registry
    h = Harness(reg, workspace=REPO)
    entry = reg.agents["research_agent"]
    ctx = {"input": {"question": DEMO_QUESTION}}
    prefetch = [ToolCall(name=p.tool, arguments={k: compile_template(v)(ctx) if isinstance(v, str) else v
                                                 for k, v in p.args.items()}) for p in entry.prefetch]
    spec = h.agent_spec("research_agent").model_copy(update={"prefetch": prefetch})
    events = Events()
    ledger = SourceLedger()
    started = time.monotonic()
    r = await h.run_agent(spec, [Message(role="user", content=compile_template(entry.prompt)(ctx))],
                          effects=MemoryEffectLog(), budget=LimitBudget(), emit=events, sources=ledger)
    done = events.of("ToolCallCompleted")
    print(f"\n{time.monotonic() - started:.0f}s, sources: {ledger.paths}, answer: {r.text!r}")
    assert [e.call for e in done] == ["p1"] and not done[0].is_error
    assert ledger.paths and all((REPO / p).is_file() for p in ledger.paths)
    assert r.stop_reason in ("final", "max_iterations") and r.text.strip()
    for c in find_citations(r.text):
        assert c.path in ledger or r.text[c.end:].lstrip().startswith(UNVERIFIED_MARK), c
    await h.aclose()


def _worker_system() -> str:
    """The system prompt of the `work` node of workflows/plan_and_execute.rag."""
    source = (REPO / "workflows" / "plan_and_execute.rag").read_text(encoding="utf-8")
    found = re.search(r'node work \{.*?system """(.*?)"""', source, re.S)
    assert found, "plan_and_execute.rag has a `work` node with a system prompt"
    return " ".join(found.group(1).split())


@pytest.mark.timeout(300)
async def test_a_worker_finishes_with_signal_completion(model_ready, tmp_path):
    """The plan_and_execute worker on its task: it writes the file and, at
    the latest when the tool-turn cap (3) is reached, calls
    signal_completion instead of answering in text."""
    tools = ["read_file", "write_file", "list_files", "run_command", "signal_completion"]
    h = make_harness({"default": {**LOCAL, "params": {**LOCAL["params"], "max_tokens": 128}}}, workspace=tmp_path,
                     tools={n: {"builtin": n} for n in tools})
    spec = AgentSpec(name="work", model="default", tools=tools, max_iterations=6, system=_worker_system())
    task = ("Task task-1: Create hello.txt\nCreate a file named hello.txt that contains the word hello.\n"
            "Acceptance criteria: ['hello.txt exists']\nLearnings so far: []")
    r = await h.run_agent(spec, [Message(role="user", content=task)], effects=MemoryEffectLog(), budget=LimitBudget())
    print(f"\n{r.iterations} model calls, stop {r.stop_reason}, signal {r.signal}, "
          f"files {sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*'))}")
    assert (tmp_path / "hello.txt").is_file() and "hello" in (tmp_path / "hello.txt").read_text().lower()
    assert r.stop_reason == "signal_completion" and r.signal and r.signal["signal"] in ("complete", "blocked")
    assert r.iterations <= 4, "the tool-turn cap (3) makes the fourth call at the latest the finish"
    await h.aclose()
