"""Pure units: backoff, Retry-After, the circuit breaker, request
fingerprints, error classification, the ReAct parser, history compaction,
docstring parsing, and the local provider's prompt and tool-call parsing."""

from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from ragc.harness.history import compact, estimate_tokens
from ragc.harness.providers._http import classify_status, parse_retry_after
from ragc.harness.providers.local import compile_template, forced_call_schema, parse_tool_calls, template_messages
from ragc.harness.providers.react import parse_react_step, render_messages
from ragc.harness.resilience import CircuitBreaker, ResilienceSettings, backoff_delay, request_fingerprint
from ragc.harness.tools.python_tools import parse_docstring
from ragc.harness.types import Message, ModelRequest, ToolCall, ToolSpec

TOOLS = [ToolSpec(name="read_file", description="Read.", parameters={
             "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
         ToolSpec(name="search", description="Search.", parameters={
             "type": "object", "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}},
             "required": ["query"]}),
         ToolSpec(name="write_file", description="Write.", parameters={
             "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
             "required": ["path", "content"]})]


def test_backoff_is_jittered_exponential_and_capped():
    s = ResilienceSettings(base_delay_s=1.0, max_delay_s=60.0)
    rng = random.Random(7)

    def delay(retry, **kw):
        return backoff_delay(retry, initial_s=s.base_delay_s, max_s=s.max_delay_s, **kw)

    for retry in range(1, 12):
        for _ in range(20):
            d = delay(retry, rng=rng)
            assert 0 <= d <= min(60.0, 2 ** (retry - 1))
    assert max(delay(10, rng=rng) for _ in range(200)) > 30  # full jitter reaches high values
    assert delay(1, retry_after_s=7.5) == 7.5
    assert delay(1, retry_after_s=600) == 60.0


@pytest.mark.parametrize("schedule, expected", [
    ("exponential", [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]),
    ("linear", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
    ("fixed", [0.5] * 6),
])
def test_backoff_schedules_without_jitter(schedule, expected):
    # The node-level `retry { backoff .. initial 500ms max 5s jitter false }` and the
    # provider layer share this one function (issue 10 item 4).
    got = [backoff_delay(k, initial_s=0.5, max_s=5.0, schedule=schedule, jitter=False) for k in range(1, 7)]
    assert got == expected


def test_retry_after_is_a_floor_capped_at_max():
    # The server's Retry-After raises a short backoff, never shortens a long one, and is capped.
    assert backoff_delay(1, initial_s=0.01, max_s=5.0, jitter=False, retry_after_s=2.0) == 2.0
    assert backoff_delay(4, initial_s=1.0, max_s=30.0, jitter=False, retry_after_s=2.0) == 8.0
    assert backoff_delay(1, initial_s=0.01, max_s=5.0, jitter=False, retry_after_s=90.0) == 5.0
    assert backoff_delay(1, initial_s=0.25, max_s=5.0, jitter=False, retry_after_s=-1.0) == 0.25


def test_backoff_refuses_an_unknown_schedule():
    with pytest.raises(ValueError, match="unknown backoff schedule 'cubic'"):
        backoff_delay(1, initial_s=1.0, max_s=5.0, schedule="cubic")


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    when = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(when, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now.timestamp()) == 0.0


def test_circuit_breaker_state_machine():
    clock = [0.0]
    b = CircuitBreaker(threshold=2, recovery_s=10, clock=lambda: clock[0])
    assert b.allow() and b.state == "closed"
    b.record_failure()
    assert b.state == "closed"
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "open" and not b.allow() and b.retry_in() == 10
    clock[0] = 10.0
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # one probe at a time
    b.record_failure()
    assert b.state == "open" and b.opened_count == 2
    clock[0] = 25.0
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow()


def test_fingerprint_ignores_message_ids_only():
    a = ModelRequest(messages=[Message(role="user", content="x")])
    b = ModelRequest(messages=[Message(role="user", content="x")])
    c = ModelRequest(messages=[Message(role="user", content="y")])
    assert a.messages[0].id != b.messages[0].id
    assert request_fingerprint("m", a) == request_fingerprint("m", b)
    assert request_fingerprint("m", a) != request_fingerprint("m", c)
    assert request_fingerprint("m", a) != request_fingerprint("other", a)


@pytest.mark.parametrize("status,message,kind", [
    (429, "Rate limit reached", "rate_limit"),
    (429, "You exceeded your current quota (insufficient_quota)", "billing"),
    (401, "bad key", "auth"), (403, "forbidden", "auth"), (402, "pay", "billing"),
    (400, "This model's maximum context length is 4096 tokens", "context_overflow"),
    (500, "the request exceeds the available context size, try increasing it", "context_overflow"),
    (400, "unknown parameter", "bad_request"), (404, "no such model", "not_found"),
    (500, "oops", "server"), (503, "Overloaded", "overloaded"), (529, "Overloaded", "overloaded"),
    (408, "timeout", "timeout"), (413, "request too large", "context_overflow"),
])
def test_status_classification(status, message, kind):
    assert classify_status(status, message) == kind


# --------------------------------------------------------------------------- ReAct


@pytest.mark.parametrize("text,action,args", [
    ('Thought: look\nAction: read_file\nAction Input: {"path": "a.py"}', "read_file", {"path": "a.py"}),
    ('**Action:** `Read_File`\n**Action Input:** ```json\n{"path": "b"}\n```', "read_file", {"path": "b"}),
    ('Action: search {"query": "join"}', "search", {"query": "join"}),
    ('Action: read_file\nAction Input: README.md', "read_file", {"path": "README.md"}),
    ('Thought: x\nAction: search\nAction Input: {"query": "a"} then more text {"ignored": 1}', "search", {"query": "a"}),
    ('Action: read_file\nAction Input: {"path": "a"}\nObservation: made up result\nFinal Answer: no', "read_file",
     {"path": "a"}),
])
def test_react_actions(text, action, args):
    step = parse_react_step(text, TOOLS)
    assert (step.action, step.arguments, step.final) == (action, args, None)


def test_react_final_answers_and_bad_input():
    assert parse_react_step("Thought: done\nFinal Answer: 42", TOOLS).final == "42"
    assert parse_react_step("just an answer", TOOLS).final == "just an answer"
    assert parse_react_step("Final Answer: A\nAction: search", TOOLS).final == "A\nAction: search"
    bare = parse_react_step("Action: search\nAction Input: query=join", TOOLS)  # one required string argument
    assert bare.action == "search" and bare.arguments == {"query": "query=join"}
    bad = parse_react_step("Action: write_file\nAction Input: path=a content=b", TOOLS)
    assert bad.action == "write_file" and bad.raw_arguments == "path=a content=b" and bad.arguments == {}


def test_react_rendering_of_history():
    req = ModelRequest(tools=TOOLS, messages=[
        Message(role="system", content="Be useful."), Message(role="user", content="q"),
        Message(role="assistant", content="", tool_calls=[ToolCall(id="1", name="search", arguments={"query": "x"})]),
        Message(role="tool", tool_call_id="1", name="search", content="a.py:1: x"),
        Message(role="tool", tool_call_id="2", name="search", content="nothing", is_error=True)])
    out = render_messages(req)
    assert out[0].content.startswith("Be useful.\n\nYou can use these tools:")
    assert "- search(query: string, max_results?: integer): Search." in out[0].content
    assert "one of: read_file, search, write_file" in out[0].content
    assert out[2].content == 'Thought: I will use a tool.\nAction: search\nAction Input: {"query": "x"}'
    assert out[3].role == "user" and out[3].content == "Observation: a.py:1: x\nObservation (error): nothing"
    assert len(out) == 4
    closing = render_messages(req.model_copy(update={"tool_choice": "none"}))  # history kept, no instructions
    assert closing[0].content == "Be useful." and closing[2].content == out[2].content


# --------------------------------------------------------------------------- history


def _turns(n: int) -> list[Message]:
    msgs = [Message(role="system", content="sys"), Message(role="user", content="task")]
    for i in range(n):
        msgs.append(Message(role="assistant", tool_calls=[ToolCall(id=f"c{i}", name="search", arguments={"query": f"q{i}"})]))
        msgs.append(Message(role="tool", tool_call_id=f"c{i}", name="search", content=f"result {i} " * 50))
    return msgs


def test_compact_keeps_system_first_user_and_recent_pairs():
    msgs = _turns(5)
    out = compact(msgs, keep_recent=3)
    assert out is not None and estimate_tokens(out) < estimate_tokens(msgs)
    assert [m.content for m in out[:2]] == ["sys", "task"]
    assert out[2].role == "user" and out[2].content.startswith("[Summary of")
    assert "assistant called search" in out[2].content and "search result: result 0" in out[2].content
    tail = out[3:]
    assert tail[0].role == "assistant"  # the tail starts at a call, never at an orphan result
    assert [m.tool_call_id for m in tail if m.role == "tool"] == ["c3", "c4"]


def test_compact_shortens_long_contents_when_nothing_to_fold():
    msgs = [Message(role="system", content="sys"), Message(role="user", content="x" * 10_000)]
    out = compact(msgs)
    assert out is not None and len(out[1].content) < 2200
    again = compact(out)
    assert again is not None and len(again[1].content) < 600
    assert compact(again) is None


# --------------------------------------------------------------------------- docstrings


def test_google_and_numpy_docstrings():
    summary, args = parse_docstring("""Fetch a page
    of results.

    Args:
        url (str): where to go.
        retries: how often to try,
            at most.

    Returns:
        The page.
    """)
    assert summary == "Fetch a page of results."
    assert args == {"url": "where to go.", "retries": "how often to try, at most."}
    summary, args = parse_docstring("""Sum.

    Parameters
    ----------
    a : int
        First.
    b : int
        Second,
        continued.

    Returns
    -------
    int
    """)
    assert summary == "Sum." and args == {"a": "First.", "b": "Second, continued."}


# --------------------------------------------------------------------------- local provider helpers

QWEN_LIKE = """{%- if tools %}<|im_start|>system
{{ messages[0]['content'] }}
<tools>{% for tool in tools %}
{{ tool | tojson }}{% endfor %}
</tools><|im_end|>
{% endif %}{%- for message in messages %}{%- if message.role == "assistant" and message.tool_calls %}<|im_start|>assistant{% for tc in message.tool_calls %}
<tool_call>
{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif message.role == "tool" %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% elif not (tools and loop.first) %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


def test_chat_template_rendering_without_html_escaping():
    tpl = compile_template(QWEN_LIKE)
    msgs = [Message(role="system", content="S"), Message(role="user", content="a < b & c"),
            Message(role="assistant", tool_calls=[ToolCall(id="1", name="read_file", arguments={"path": "x<y>.py"})]),
            Message(role="tool", tool_call_id="1", name="read_file", content="data")]
    tools = [{"type": "function", "function": {"name": "read_file", "description": "R <b>",
                                               "parameters": {"type": "object"}}}]
    out = tpl.render(messages=template_messages(msgs), tools=tools, add_generation_prompt=True)
    assert '"description": "R <b>"' in out and '{"path": "x<y>.py"}' in out and "a < b & c" in out
    assert "<tool_response>\ndata\n</tool_response>" in out and out.endswith("<|im_start|>assistant\n")


def test_template_sandbox_blocks_unsafe_access():
    from jinja2.exceptions import SecurityError

    tpl = compile_template("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        tpl.render(messages=[], tools=None, add_generation_prompt=True)


def test_parse_tool_calls_blocks_and_bare_json():
    content, calls = parse_tool_calls('Let me check.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a"}}\n'
                                      '</tool_call>\n<tool_call>\n{"name": "search", "arguments": "{\\"query\\": \\"q\\"}"}'
                                      '\n</tool_call>', {"read_file", "search"})
    assert content == "Let me check."
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "a"}), ("search", {"query": "q"})]
    content, calls = parse_tool_calls('{"name": "read_file", "arguments": {"path": "b"}}', {"read_file"})
    assert content == "" and calls[0].arguments == {"path": "b"}
    content, calls = parse_tool_calls('I will read it.\n```json\n{\n  "name": "read_file",\n  "arguments": {"path": "c"}\n}\n```\n'
                                      '{"name": "read_file", "arguments": {"path": "d"}}', {"read_file"})
    assert content == "I will read it." and [c.arguments["path"] for c in calls] == ["c", "d"]
    content, calls = parse_tool_calls('{"name": "ragc"}', {"read_file"})
    assert content == '{"name": "ragc"}' and calls == []
    content, calls = parse_tool_calls('<tool_call>\n{"name": "read_file", "arguments": {"path": }\n</tool_call>',
                                      {"read_file"})
    assert calls[0].name == "read_file" and calls[0].raw_arguments is not None


def test_tool_call_arguments_with_raw_newlines_in_strings_are_read():
    # a real reply of Qwen2.5-Coder-1.5B (plan_and_execute, fib.py): the code it writes has a
    # raw newline inside the JSON string, which strict JSON refuses; the call was lost before
    from ragc.harness.providers.openai import parse_arguments

    reply = ('```json\n{\n  "name": "write_file",\n  "arguments": {\n    "path": "fib.py",\n'
             '    "content": "def f():\\n    return 1\\n\n    print(f())"\n  }\n}\n```')
    assert '1\\n\n    print' in reply  # an escaped newline, then a raw one inside the string
    _, calls = parse_tool_calls(reply, {"write_file"})
    assert [(c.name, c.raw_arguments) for c in calls] == [("write_file", None)]
    assert calls[0].arguments["path"] == "fib.py"
    assert calls[0].arguments["content"] == "def f():\n    return 1\n\n    print(f())"
    args, raw = parse_arguments('{"content": "a\nb"}')
    assert (args, raw) == ({"content": "a\nb"}, None)
    step = parse_react_step('Action: write_file\nAction Input: {"path": "x.py", "content": "a\nb"}', TOOLS)
    assert step.arguments == {"path": "x.py", "content": "a\nb"}


def test_forced_call_schema():
    one = forced_call_schema(TOOLS[:1])
    assert one["properties"]["name"] == {"const": "read_file"} and one["required"] == ["name", "arguments"]
    assert len(forced_call_schema(TOOLS)["anyOf"]) == 3


def test_retry_after_asctime_date_is_gmt_and_non_finite_is_ignored(monkeypatch):
    import time as _time

    # the asctime form of an HTTP-date has no zone and means GMT, whatever the local zone
    monkeypatch.setenv("TZ", "America/New_York")
    _time.tzset()
    try:
        now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
        assert parse_retry_after("Mon Jan  1 12:00:30 2024", now=now.timestamp()) == pytest.approx(30.0)
        assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 -0000", now=now.timestamp()) == pytest.approx(30.0)
    finally:
        monkeypatch.undo()
        _time.tzset()
    assert parse_retry_after("inf") is None and parse_retry_after("nan") is None
    assert parse_retry_after("1e400") is None and parse_retry_after("-3") == 0.0
