"""A node's `retry` and the provider layer's retries compose by one rule: each
failure kind is retried by one layer only (issue 10 item 4; docs/runtime.md,
"How node and provider retries compose"). Counted on a real HTTP server on
127.0.0.1 speaking the OpenAI wire format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from irb import graph, node, nxt, program

sys.path.insert(0, str(Path(__file__).parents[1] / "harness"))

from servers import openai_wire as ow  # noqa: E402
from servers.http_server import Reply, ScriptedServer  # noqa: E402

from ragc.harness.facade import Harness  # noqa: E402
from ragc.harness.resilience import ResilienceSettings, node_retried_kinds  # noqa: E402
from ragc.kinds import TRANSIENT_KINDS  # noqa: E402
from ragc.registry.model import ModelEntry, Registry  # noqa: E402
from ragc.runtime.engine import Engine  # noqa: E402
from ragc.runtime.limits import kinds_owned_by_node_retry  # noqa: E402
from ragc.ir.model import RetryIR  # noqa: E402

pytestmark = pytest.mark.anyio

FAST = ResilienceSettings(base_delay_s=0.001, max_delay_s=0.01)


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def fail500() -> Reply:
    return Reply(500, json=ow.error("internal", "server_error"))


def ok(text: str = "ok") -> Reply:
    return Reply(json=ow.completion(text))


async def run(server, tmp_path, nodes, *, max_retries: int = 2):
    reg = Registry(models={"m": ModelEntry(provider="openai", model="gpt-test", base_url=server.url + "/v1",
                                           max_retries=max_retries)})
    reg.source = tmp_path / "registry.toml"
    harnesses: list[Harness] = []

    def make() -> Harness:
        harnesses.append(Harness(reg, workspace=tmp_path, settings=FAST))
        return harnesses[-1]

    events: list = []
    g = graph("g", nodes[0].name, nodes, channels={"out": "last", "out2": "last"})
    r = await Engine(program(g), registry=reg, harness_factory=make).start({}, listeners=[events.append])
    stats = harnesses[0].stats if harnesses else None
    for h in harnesses:
        await h.aclose()
    return r, events, stats


def of(events, name: str) -> list:
    return [e for e in events if type(e).__name__ == name]


def model_node(name: str = "a", routing=None, **retry) -> object:
    kw = {"retry": {"initial_s": 0.0, "jitter": False, **retry}} if retry else {}
    return node(name, "model", routing, model="m", prompt="x", output="out" if name == "a" else "out2", **kw)


async def test_node_retry_owning_a_kind_makes_the_only_retries(server, tmp_path):
    # without the rule: 3 node attempts x (1 call + 2 provider retries) = 9 requests
    server.script(*[fail500() for _ in range(9)])
    r, events, stats = await run(server, tmp_path, [model_node(max_attempts=3, on=["server"])])
    assert r.status == "failed" and r.error.kind == "server"
    assert len(server.requests) == 3
    assert [e.attempt for e in of(events, "NodeRetried")] == [2, 3]
    assert of(events, "ModelRetry") == [] and stats.retries == 0 and stats.left_to_node == 3


async def test_node_retry_without_on_owns_every_transient_kind(server, tmp_path):
    server.script(fail500(), fail500(), ok("third"))
    r, events, stats = await run(server, tmp_path, [model_node(max_attempts=3)])
    assert r.status == "completed" and r.state["out"] == "third"
    assert len(server.requests) == 3 and len(of(events, "NodeRetried")) == 2 and of(events, "ModelRetry") == []


async def test_a_kind_the_node_does_not_retry_keeps_its_provider_retries(server, tmp_path):
    server.script(fail500(), fail500(), ok("provider got it"))
    r, events, stats = await run(server, tmp_path, [model_node(max_attempts=3, on=["timeout"])])
    assert r.status == "completed" and r.state["out"] == "provider got it"
    assert len(server.requests) == 3
    assert of(events, "NodeRetried") == [] and len(of(events, "ModelRetry")) == 2 and stats.left_to_node == 0


async def test_without_node_retry_the_provider_retries_as_configured(server, tmp_path):
    server.script(*[fail500() for _ in range(5)])
    r, events, _ = await run(server, tmp_path, [model_node()], max_retries=2)
    assert r.status == "failed" and len(server.requests) == 3 and len(of(events, "ModelRetry")) == 2


async def test_max_attempts_1_leaves_the_provider_its_retries(server, tmp_path):
    server.script(fail500(), ok())
    r, events, _ = await run(server, tmp_path, [model_node(max_attempts=1, on=["server"])])
    assert r.status == "completed" and len(server.requests) == 2 and len(of(events, "ModelRetry")) == 1


async def test_the_rule_ends_with_the_node(server, tmp_path):
    # `a` owns `server`; `b`, after it, has no retry and gets the provider's retries back
    server.script(ok("a"), fail500(), ok("b"))
    nodes = [model_node("a", nxt("b"), max_attempts=3, on=["model"]), model_node("b")]
    r, events, _ = await run(server, tmp_path, nodes)
    assert r.status == "completed" and r.state["out2"] == "b"
    assert len(server.requests) == 3 and len(of(events, "ModelRetry")) == 1
    assert node_retried_kinds() == frozenset()


@pytest.mark.parametrize("retry, owned", [
    (None, set()),
    (RetryIR(max_attempts=1), set()),
    (RetryIR(max_attempts=3), set(TRANSIENT_KINDS)),
    (RetryIR(max_attempts=3, on=["model"]), set(TRANSIENT_KINDS)),
    (RetryIR(max_attempts=3, on=["network"]), {"connect", "stream_cut"}),
    (RetryIR(max_attempts=3, on=["timeout", "tool"]), {"timeout"}),
    (RetryIR(max_attempts=3, on=["any"]), set(TRANSIENT_KINDS)),
    (RetryIR(max_attempts=3, on=["function"]), set()),
])
def test_kinds_owned_by_node_retry(retry, owned):
    assert kinds_owned_by_node_retry(retry) == owned


def test_the_rule_is_stated_in_the_spec_and_the_docs():
    from ragc.syntax.spec import RUNTIME_RULES

    flat = " ".join(RUNTIME_RULES.split())
    assert "Node and provider retries do not multiply" in flat
    assert "`retry { max_attempts 3 on [server] }` on a failing server makes 3 calls" in flat
    docs = " ".join((Path(__file__).parents[2] / "docs" / "runtime.md").read_text().split())
    assert "**How node and provider retries compose.**" in docs
    assert "**each failure kind is retried by one layer only.**" in docs
    assert "makes 3 requests, not 9" in docs  # what test_node_retry_owning_a_kind_makes_the_only_retries counts
