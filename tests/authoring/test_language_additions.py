"""The language additions of issue 12, each through every stage: parse,
``ragc fmt`` round trip, check, IR and a scripted run.

* a routing-only node: ``kind router`` (lenient ``kind fork``) with
  ``next [a, b]`` or ``send [...]`` and no ``routes`` forks without a call;
* a ``subagent`` node's own ``model`` (replacing the registry agent's,
  narrowed by policy) and ``schema`` (structured final answer).
"""

from __future__ import annotations

import pytest
from wfkit import repo_registry

from ragc.compiler import compile_source
from ragc.syntax.formatter import format_source

FORK = """\
graph fork_demo {
  input {
    topic: string
  }

  start split

  channel notes append

  node split {
    kind fork
    send [
      pro { side: "pro" },
      con { side: "con" }
    ]
    join done {
      policy all
    }
  }

  node pro {
    kind model
    prompt "Argue {{ payload.side }} {{ input.topic }}"
    output notes
  }

  node con {
    kind model
    prompt "Argue {{ payload.side }} {{ input.topic }}"
    output notes
  }

  node done {
    kind model
    prompt "Weigh {{ state.notes }}"
    output notes
    next END
  }
}
"""

STATIC = """\
graph static_fork {
  start split

  channel notes append

  node split {
    kind router
    next [a, b]
  }

  node a {
    kind model
    prompt "first"
    output notes
  }

  node b {
    kind model
    prompt "second"
    output notes
  }
}
"""

SUBAGENT = """\
graph triage_once {
  input {
    ticket: string
  }

  start classify

  channel verdict last

  node classify {
    kind subagent
    agent "billing_agent"
    model "fast"
    input { ticket: input.ticket }
    schema {
      refund: bool
      reason: string
    }
    output verdict
    next decide
  }

  node decide {
    kind router
    routes {
      refund -> END when state.verdict.refund == true
      other -> END
    }
  }
}
"""


def compiled(src: str, untrusted: bool = False):
    res = compile_source(src, "t.rag", repo_registry(), untrusted=untrusted)
    assert res.ok, [str(d) for d in res.diagnostics]
    return res.program


def test_fork_alias_formats_to_router_and_is_idempotent():
    out = format_source(FORK, "t.rag").text
    assert out is not None and "kind router" in out and "kind fork" not in out
    assert format_source(out, "t.rag").text == out
    assert format_source(STATIC, "t.rag").text == STATIC


def test_a_router_without_routes_is_refused_unless_it_forks():
    no_routing = STATIC.replace("    next [a, b]\n", "")
    res = compile_source(no_routing, "t.rag", repo_registry())
    codes = [d.code for d in res.diagnostics if d.is_error]
    assert codes == ["E0204"], codes
    assert "next [a, b]" in (res.diagnostics[0].help or "")


def test_routing_only_nodes_lower_without_a_call():
    prog = compiled(FORK)
    split = prog.graphs[prog.entry].nodes["split"]
    assert split.kind == "router" and split.model is None
    assert split.routing.kind == "fanout" and [b.target for b in split.routing.branches] == ["pro", "con"]
    static = compiled(STATIC).graphs["static_fork"].nodes["split"]
    assert static.routing.kind == "next" and static.routing.targets == ["a", "b"]


@pytest.mark.anyio
async def test_a_fork_runs_both_branches_and_calls_no_model_itself(run_rag):
    default = [{"when": "Argue pro", "text": "for it"}, {"when": "Argue con", "text": "against it"},
               {"when": "Weigh", "text": "balanced"}]
    result, events = await run_rag(FORK, {"topic": "tabs"}, default=default)
    assert result.status == "completed", result.error
    assert result.state["notes"] == ["for it", "against it", "balanced"]
    started = events.of("model_call_started")
    assert len(started) == 3
    assert {e.activation.split(":")[-1].split("#")[0] for e in started} == {"pro", "con", "done"}


@pytest.mark.anyio
async def test_a_static_fork_runs_both_targets(run_rag):
    result, _ = await run_rag(STATIC, {}, default=[{"when": "first", "text": "1"}, {"when": "second", "text": "2"}])
    assert result.status == "completed", result.error
    assert sorted(result.state["notes"]) == ["1", "2"]


def test_subagent_model_and_schema_parse_format_and_lower():
    assert format_source(SUBAGENT, "t.rag").text == SUBAGENT
    node = compiled(SUBAGENT).graphs["triage_once"].nodes["classify"]
    assert node.model == "fast" and node.agent == "billing_agent"
    assert node.output_schema["properties"] == {"refund": {"type": "boolean"}, "reason": {"type": "string"}}


def test_subagent_model_must_be_a_registry_model():
    res = compile_source(SUBAGENT.replace('model "fast"', 'model "fastest"'), "t.rag", repo_registry())
    assert [d.code for d in res.diagnostics if d.is_error] == ["E0106"]


def test_subagent_model_override_is_narrowed_by_policy():
    reg = repo_registry()
    pol = reg.policies.get("untrusted")
    assert pol is not None
    allowed = pol.allow_models
    banned = next(m for m in reg.models if allowed is not None and m not in allowed) if allowed else None
    if banned is None:
        pytest.skip("the untrusted policy grants every model")
    res = compile_source(SUBAGENT.replace('model "fast"', f'model "{banned}"'), "t.rag", reg, untrusted=True)
    errors = [d for d in res.diagnostics if d.is_error]
    assert errors and all(banned in d.message for d in errors), [str(d) for d in errors]


@pytest.mark.anyio
async def test_subagent_runs_on_its_node_model_with_structured_output(run_rag):
    fast = [{"json": {"refund": True, "reason": "charged twice"}, "repeat": True}]
    result, _ = await run_rag(SUBAGENT, {"ticket": "I was charged twice"}, fast=fast, default=[])
    assert result.status == "completed", result.error
    assert result.state["verdict"] == {"refund": True, "reason": "charged twice"}
