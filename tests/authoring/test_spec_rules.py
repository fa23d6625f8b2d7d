"""Every run-time rule ``ragc spec`` states is in the spec, and true: for
each, a workflow with scripted models behaves as the spec says."""

from __future__ import annotations

import pytest
from wfkit import repo_registry

from ragc.cli.fmt import spec_text
from ragc.compiler import compile_source

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def spec() -> str:
    return spec_text(repo_registry())


def error_code(result) -> str | None:
    return getattr(result.error, "code", None)


def said(spec: str, *phrases: str) -> None:
    flat = " ".join(spec.split())
    for p in phrases:
        assert " ".join(p.split()) in flat, f"ragc spec does not say: {p}"


# ----------------------------------------------------------------------------- limits


async def test_max_visits_exceeded_fails_the_run(spec, run_rag):
    said(spec, "Exceeding either fails the run (`E0901`/`E0902`)")
    src = """graph g {
  start a
  channel log append
  node a {
    kind model
    prompt "again"
    output log
    max_visits 2
    next again
  }
  node again {
    kind router
    routes {
      stop -> END when "stop" in state.log
      more -> a
    }
  }
}
"""
    result, _ = await run_rag(src, default=[{"text": "x", "repeat": True}])
    assert result.status == "failed" and error_code(result) == "E0902"
    assert result.state["log"] == ["x", "x"]


async def test_max_steps_exceeded_fails_the_run(spec, run_rag):
    said(spec, "`max_steps` (graph `defaults`, default 1000) counts node runs over the whole run")
    src = """graph g {
  defaults { max_steps 2 }
  start a
  channel log append
  node a {
    kind model
    prompt "one"
    output log
    next b
  }
  node b {
    kind model
    prompt "two"
    output log
    next c
  }
  node c {
    kind model
    prompt "three"
    output log
  }
}
"""
    result, _ = await run_rag(src, default=[{"text": "x", "repeat": True}])
    assert result.status == "failed" and error_code(result) == "E0901"
    assert result.state["log"] == ["x", "x"]


async def test_retry_max_attempts_counts_the_first_attempt(spec, run_rag):
    said(spec, "`retry { max_attempts N }` counts the first attempt: `max_attempts 3` = 1 try + 2 retries")
    src = """graph g {
  start a
  channel out last
  node a {
    kind model
    prompt "go"
    retry { max_attempts 2  initial 0ms  jitter false }
    output out
  }
}
"""
    err = {"error": {"kind": "server", "status": 500, "message": "boom"}}
    result, events = await run_rag(src, default=[err, err, {"text": "third"}])
    assert result.status == "failed"
    assert len(events.of("model_call_started")) == 2  # the first attempt and one retry; "third" is never asked


# ----------------------------------------------------------------------------- joins


FANOUT = """graph g {
  start split
  channel answers append
  node split {
    kind router
    send [
      slow { n: 1 },
      quick { n: 2 }
    ]
    join done { POLICY }
  }
  node slow {
    kind model
    prompt "slow {{ payload.n }}"
    output answers
  }
  node quick {
    kind model
    prompt "quick {{ payload.n }}"
    output answers
  }
  node done {
    kind model
    prompt "done"
    output answers
    next END
  }
}
"""


async def test_any_cancels_the_branches_still_running(spec, run_rag):
    said(spec, "`any`/`first`/`quorum` cancel the branches still running once met (their writes are dropped)")
    default = [{"when": "slow", "text": "late", "delay_ms": 5000}, {"when": "quick", "text": "early"},
               {"when": "done", "text": "end"}]
    result, events = await run_rag(FANOUT.replace("POLICY", "policy any"), default=default)
    assert result.status == "completed", result.error
    assert result.state["answers"] == ["early", "end"]
    assert [e.activation.split(":")[-1] for e in events.of("node_cancelled")] == ["slow#1"]


async def test_a_join_timeout_with_its_policy_unmet_fails_the_run(spec, run_rag):
    said(spec, "pending branches are cancelled and count as failed; if the policy is then not met, the run fails "
               "(`E0910`)")
    default = [{"when": "slow", "text": "late", "delay_ms": 5000}, {"when": "quick", "text": "early"},
               {"when": "done", "text": "end"}]
    result, _ = await run_rag(FANOUT.replace("POLICY", "policy all  timeout 200ms"), default=default)
    assert result.status == "failed" and error_code(result) == "E0910"


async def test_a_join_timeout_with_its_policy_met_goes_on(spec, run_rag):
    default = [{"when": "slow", "text": "late", "delay_ms": 5000}, {"when": "quick", "text": "early"},
               {"when": "done", "text": "end"}]
    result, _ = await run_rag(FANOUT.replace("POLICY", "policy all  tolerate 1  timeout 200ms"), default=default)
    assert result.status == "completed", result.error
    assert result.state["answers"] == ["early", "end"]
    assert [e["node"] for e in result.state["errors"]] == ["slow"]


# ----------------------------------------------------------------------------- detached nodes


async def test_blocking_false_runs_in_the_background_and_the_run_waits(spec, run_rag):
    said(spec, "`blocking false`: the node runs in the background on a snapshot of the state; control goes on",
         "the run completes only after it ended")
    src = """graph g {
  start main
  channel answer last
  channel audit last
  channel seen last
  node main {
    kind model
    prompt "answer"
    output answer
    next audit_it
  }
  node audit_it {
    kind model
    prompt "audit {{ state.answer }}"
    output audit
    blocking false
    next after
  }
  node after {
    kind model
    prompt "after; audit so far: {{ state.audit }}"
    output seen
    next END
  }
}
"""
    default = [{"when": "answer", "text": "42"}, {"when": "audit 42", "text": "fine", "delay_ms": 300},
               {"when": "after", "text": "went on"}]
    result, events = await run_rag(src, default=default)
    assert result.status == "completed", result.error
    assert result.state["audit"] == "fine"          # the detached write landed before the run completed
    assert result.state["seen"] == "went on"
    (after,) = [e for e in events.of("model_call_started") if e.activation.endswith("after#1")]
    (audit,) = [e for e in events.of("model_call_completed") if e.activation.endswith("audit_it#1")]
    assert events.items.index(after) < events.items.index(audit)  # control went on before the audit ended


async def test_a_failed_detached_node_goes_to_errors_and_the_run_completes(spec, run_rag):
    said(spec, "If it fails, the failure goes to `errors` and the run does not fail")
    src = """graph g {
  start main
  channel audit last
  node main {
    kind model
    prompt "audit"
    output audit
    blocking false
  }
}
"""
    result, _ = await run_rag(src, default=[{"error": {"kind": "server", "status": 500, "message": "down"}}])
    assert result.status == "completed", result.error
    assert [e["node"] for e in result.state["errors"]] == ["main"]


# ----------------------------------------------------------------------------- interrupts


async def test_an_interrupt_default_applies_after_its_timeout(spec, run_rag):
    said(spec, "After its `timeout`, resuming without an answer uses its `default`")
    src = """graph g {
  start ask
  channel out last
  node ask {
    kind interrupt
    prompt "Ship it?"
    options ["yes", "no"]
    default "no"
    timeout 1ms
    routes {
      yes -> ship
      no -> hold
    }
  }
  node ship {
    kind model
    prompt "ship"
    output out
    next END
  }
  node hold {
    kind model
    prompt "hold"
    output out
    next END
  }
}
"""
    result, _ = await run_rag(src, default=[{"when": "ship", "text": "shipped"}, {"when": "hold", "text": "held"}])
    assert result.status == "interrupted"
    resumed = await run_rag.workflow.resume(result.run_id)
    assert resumed.status == "completed", resumed.error
    assert resumed.state["out"] == "held"


# ----------------------------------------------------------------------------- state and expressions


async def test_command_update_goes_through_the_reducer(spec, run_rag):
    said(spec, "`command { update { ch: v } }` writes go through the channel's reducer")
    src = """graph g {
  start a
  channel log append
  node a {
    kind model
    prompt "go"
    output log
    command { update { log: "noted {{ result }}" } }
  }
}
"""
    result, _ = await run_rag(src, default=[{"text": "r"}])
    assert result.status == "completed", result.error
    assert result.state["log"] == ["r", "noted r"]


async def test_in_is_substring_on_strings_and_membership_in_lists(spec, run_rag):
    said(spec, "`x in y`: substring when both are strings, membership in a list, key of an object")
    src = """graph g {
  input {
    title: string
    tags: list[string]
  }
  start pick
  channel out last
  node pick {
    kind router
    routes {
      both -> yes when "bug" in input.title and "urgent" in input.tags
      other -> no
    }
  }
  node yes {
    kind model
    prompt "yes"
    output out
    next END
  }
  node no {
    kind model
    prompt "no"
    output out
    next END
  }
}
"""
    script = [{"when": "yes", "text": "Y", "repeat": True}, {"when": "no", "text": "N", "repeat": True}]
    r1, _ = await run_rag(src, {"title": "a bug report", "tags": ["urgent"]}, default=script)
    r2, _ = await run_rag(src, {"title": "a bug report", "tags": ["urgent-ish"]}, default=script)
    assert (r1.state["out"], r2.state["out"]) == ("Y", "N")


async def test_send_for_sees_the_sending_nodes_own_output(spec, run_rag):
    said(spec, "is expanded after the sending node wrote its own output, so `state.X` includes it")
    src = """graph g {
  start plan
  channel topics append
  channel notes append
  node plan {
    kind model
    prompt "plan"
    output topics
    send [
      work { } for item in state.topics
    ]
    join done
  }
  node work {
    kind model
    prompt "work on {{ item }}"
    output notes
  }
  node done {
    kind model
    prompt "done"
    output notes
    next END
  }
}
"""
    default = [{"when": "plan", "text": "alpha"}, {"when": "work on alpha", "text": "did alpha"},
               {"when": "done", "text": "end"}]
    result, _ = await run_rag(src, default=default)
    assert result.status == "completed", result.error
    assert result.state["notes"] == ["did alpha", "end"]


async def test_an_error_route_catches_a_failed_tool(spec, run_rag):
    said(spec, "takes its `error` route if it has one")
    src = """graph g {
  start read
  channel out last
  node read {
    kind tool
    tool "read_file"
    args { path: "missing.txt" }
    output out
    routes {
      ok -> END
      error -> fallback
    }
  }
  node fallback {
    kind model
    prompt "fallback: {{ error.message }}"
    output out
    next END
  }
}
"""
    result, _ = await run_rag(src, default=[{"when": "fallback:", "text": "recovered"}])
    assert result.status == "completed", result.error
    assert result.state["out"] == "recovered"


# ----------------------------------------------------------------------------- registry facts


async def test_agents_write_to_their_listed_output_channel(spec, run_rag):
    reg = repo_registry()
    for name, entry in reg.agents.items():
        keys = "input { " if entry.prompt and "input." in entry.prompt else "input { any"
        said(spec, f'- "{name}": {keys}')
        if entry.output:
            assert f'"{name}": ' in spec and f"output `{entry.output}`" in spec
    src = """graph g {
  input {
    ticket: string
  }
  start answer
  channel replies append
  node answer {
    kind subagent
    agent "billing_agent"
    input { ticket: input.ticket }
    next END
  }
}
"""
    result, _ = await run_rag(src, {"ticket": "refund?"}, default=[{"text": "Refund on its way."}])
    assert result.status == "completed", result.error
    assert result.state["replies"] == ["Refund on its way."]


def test_tools_are_listed_with_their_argument_schema(spec):
    said(spec, '- "read_file" {path: string}', '- "write_file" {path: string, content: string}',
         '- "search" {query: string, path?: string, max_results?: integer}')


@pytest.mark.parametrize("setting,good,bad", [
    ("backoff", "linear", "random"),
    ("on", "[timeout, rate_limit]", "[sometimes]"),
    ("jitter", "false", "\"maybe\""),
])
def test_enumerated_retry_settings_are_as_the_spec_lists(spec, setting, good, bad):
    said(spec, "`backoff exponential|linear|fixed`, `jitter true|false`", "`on [any, model, tool,")
    src = """graph g {
  start a
  node a {
    kind model
    prompt "x"
    retry { max_attempts 2  SETTING VALUE }
  }
}
"""
    ok = compile_source(src.replace("SETTING", setting).replace("VALUE", good), "t.rag", repo_registry())
    assert ok.ok, [str(d) for d in ok.diagnostics]
    ko = compile_source(src.replace("SETTING", setting).replace("VALUE", bad), "t.rag", repo_registry())
    assert not ko.ok


@pytest.mark.parametrize("policy,good", [("all", True), ("any", True), ("first", True), ("quorum 1", True),
                                         ("some", False)])
def test_join_policies_are_as_the_spec_lists(spec, policy, good):
    said(spec, "Join policies: `all` (default), `any` or `first` (the first success), `quorum N`")
    res = compile_source(FANOUT.replace("POLICY", f"policy {policy}"), "t.rag", repo_registry())
    assert res.ok is good, [str(d) for d in res.diagnostics]
