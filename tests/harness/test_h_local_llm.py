"""End-to-end tests with the real embedded model (Qwen2.5-Coder-0.5B via
llama.cpp, 2 threads). Marked ``llm``: they need ``ragc[local]`` and the
installed model (``python -m ragc.harness.local_models install``), and take
tens of seconds each on 2 cores. Assertions are on shape and loose content,
never on exact text."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from hkit import Events, LimitBudget, MemoryEffectLog, make_harness
from ragc.harness import local_models
from ragc.harness.types import AgentSpec, Message, ModelRequest

pytestmark = [pytest.mark.llm, pytest.mark.anyio]


@pytest.fixture(scope="module")
def model_ready():
    pytest.importorskip("llama_cpp")
    try:
        local_models.ensure_model("qwen2.5-coder-0.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


LOCAL = {"provider": "local", "source": "qwen2.5-coder-0.5b", "threads": 2, "context": 2048, "max_retries": 0,
         "timeout": 240, "params": {"temperature": 0.0, "max_tokens": 48}}


async def test_model_answers_a_question(model_ready, tmp_path: Path):
    h = make_harness({"default": LOCAL}, workspace=tmp_path)
    events = Events()
    r = await h.complete("default", ModelRequest(messages=[
        Message(role="user", content="What is the capital of France? Answer with one word.")]),
        effects=MemoryEffectLog(), key="m1", budget=LimitBudget(), emit=events)
    assert "paris" in r.message.content.lower()
    assert r.usage.input_tokens > 5 and r.usage.output_tokens >= 1 and r.model == "default"
    assert events.of("ModelDelta"), "tokens were streamed to the event sink"
    await h.aclose()


async def test_agent_reads_a_file_and_uses_it(model_ready, tmp_path: Path):
    (tmp_path / "facts.txt").write_text("The secret code is 4711.\n")
    h = make_harness({"default": LOCAL}, workspace=tmp_path)
    log = MemoryEffectLog()
    r = await h.run_agent(AgentSpec(name="reader", model="default", tools=["read_file"], max_iterations=3),
                          [Message(role="user", content="Read the file facts.txt and tell me the secret code.")],
                          effects=log, budget=LimitBudget())
    read = [m for m in r.messages if m.role == "tool" and not m.is_error and "4711" in m.content]
    assert read, "the agent read the file through read_file"
    assert "t1.1" in log.puts
    assert "4711" in r.text
    await h.aclose()


async def test_route_label_through_structured_output(model_ready, tmp_path: Path):
    h = make_harness({"default": LOCAL}, workspace=tmp_path)
    labels = ["billing", "technical"]
    r = await h.run_agent(AgentSpec(name="triage", model="default", max_iterations=1, route_labels=labels,
                                    system="You sort support tickets. Reply in one short sentence."),
                          [Message(role="user", content="Ticket: I was charged twice for my subscription this month.")],
                          effects=MemoryEffectLog(), budget=LimitBudget())
    assert r.route in labels and r.structured == {"route": r.route}
    assert r.text.strip() and r.iterations == 2
    await h.aclose()


async def test_cancelled_generation_stops_and_frees_the_model(model_ready, tmp_path: Path):
    h = make_harness({"default": {**LOCAL, "params": {"temperature": 0.7, "max_tokens": 400}}}, workspace=tmp_path)
    long_request = ModelRequest(messages=[Message(role="user", content="Write a very long story about a lighthouse.")])
    events = Events()

    async def generate() -> None:
        await h.complete("default", long_request, effects=MemoryEffectLog(), key="m1", budget=LimitBudget(),
                         emit=events)
        pytest.fail("the long generation finished instead of being cancelled")

    async with anyio.create_task_group() as tg:
        tg.start_soon(generate)
        with anyio.fail_after(180):
            while len(events.of("ModelDelta")) < 3:
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    streamed = len(events.of("ModelDelta"))
    assert 3 <= streamed < 400, "the generation was interrupted part-way"
    started = time.monotonic()
    r = await h.complete("default", ModelRequest(messages=[Message(role="user", content="Say OK.")], max_tokens=3),
                         effects=MemoryEffectLog(), key="m2", budget=LimitBudget())
    assert r.message.content.strip() and time.monotonic() - started < 60
    await anyio.sleep(0.5)
    assert len(events.of("ModelDelta")) <= streamed + 2, "the cancelled generation kept producing tokens"
    await h.aclose()


async def test_generation_timeout_stops_the_model(model_ready, tmp_path: Path):
    h = make_harness({"default": {**LOCAL, "timeout": 1.0, "params": {"temperature": 0.7, "max_tokens": 400}}},
                     workspace=tmp_path)
    from ragc.harness.errors import ProviderError

    events = Events()
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await h.complete("default", ModelRequest(messages=[Message(role="user", content="Write a long poem.")]),
                         effects=MemoryEffectLog(), key="m1", budget=LimitBudget(), emit=events)
    assert info.value.kind == "timeout" and "max_tokens" in info.value.hint
    assert len(events.of("ModelDelta")) < 400 and time.monotonic() - started < 120
    await h.aclose()
