"""The HTTP part of the gateway against a real ``ragc serve`` subprocess, with
a real httpx client: a run started, streamed over SSE, answered and
completed; its detail (state, model and tool calls with input and output);
refusals (bad token, malformed and invalid bodies, unknown files, wrong
answers) as JSON errors with a hint; ``/metrics`` parsed by
``prometheus_client``; ``/openapi.json`` matching the routes."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

APPROVAL = "workflows/approval_flow.rag"


def sse_events(client: httpx.Client, run_id: str, until: str) -> list[dict]:
    """Read ``/stream`` until an event of type ``until`` arrives."""
    got = []
    with client.stream("GET", f"/api/runs/{run_id}/stream", timeout=20) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        for line in resp.iter_lines():
            if line == "":
                if "data" in frame:
                    ev = json.loads(frame["data"])
                    assert frame["event"] == ev["type"] and int(frame["id"]) == len(got)
                    got.append(ev)
                    if ev["type"] == until:
                        return got
                frame = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                frame[key] = value
    raise AssertionError(f"the stream ended before {until}: {[e['type'] for e in got]}")


def test_start_stream_answer_and_inspect_a_run(make_server):
    server = make_server()
    with server.client() as c:
        assert APPROVAL in c.get("/api/workflows").json()["workflows"]
        r = c.post("/api/runs", json={"file": APPROVAL, "input": {"topic": "the release"}})
        assert r.status_code == 202, r.text
        rid = r.json()["run_id"]
        events = sse_events(c, rid, "interrupt_raised")
        types = [e["type"] for e in events]
        assert types[0] == "run_started" and "node_completed" in types
        assert events[-1]["question"] == "Publish this draft?"
        waiting = server.wait_status(rid, "interrupted")
        assert waiting["interrupt"]["options"] == ["publish", "revise"] and waiting["resumable"]

        wrong = c.post(f"/api/runs/{rid}/answer", json={"answer": "maybe"})
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "E0911"
        assert c.post(f"/api/runs/{rid}/answer", json={"answer": "publish"}).status_code == 202
        done = server.wait_status(rid, "completed")
        assert done["state"]["drafts"] == ["Draft one"]
        assert (server.root / "ws" / "announcement.md").read_text() == "Draft one"
        model = [x for x in done["calls"] if x["kind"] == "model"]
        tool = [x for x in done["calls"] if x["kind"] == "tool"]
        assert len(model) == 1 and model[0]["node"] == "draft"
        assert "Write a short announcement about the release" in json.dumps(model[0]["input"])
        assert model[0]["output"]["message"]["content"] == "Draft one"
        assert tool[0]["name"] == "write_file"
        assert tool[0]["input"] == {"path": "announcement.md", "content": "Draft one"}
        assert done["graph"] == "approval_flow"
        assert {n["id"] for n in done["layout"]["nodes"]} >= {"START", "draft", "gate", "approve", "publish", "END"}
        history = c.get(f"/api/runs/{rid}/events").json()["events"]
        assert [e["type"] for e in history].count("run_started") == 2
        assert history[-1]["type"] == "run_finished" and history[-1]["status"] == "completed"
        listed = {x["id"]: x for x in c.get("/api/runs").json()["runs"]}
        assert listed[rid]["status"] == "completed" and not listed[rid]["resumable"]
        assert server.calls() and len([x for x in server.calls() if "announcement" in x["last_user"]]) == 1


def test_the_journal_is_the_one_ragc_runs_reads(make_server):
    import subprocess

    from wfkit import RAGC

    server = make_server()
    with server.client() as c:
        rid = c.post("/api/runs", json={"file": APPROVAL, "input": {"topic": "t"}}).json()["run_id"]
        server.wait_status(rid, "interrupted")
    out = subprocess.run([str(RAGC), "runs", "list", "--journal", str(server.journal)], capture_output=True,
                         text=True, env=server.env, timeout=60)
    assert out.returncode == 0, out.stderr
    # `runs list` shows the operator's word for a run at an interrupt (issue 13: `waiting`, not
    # `interrupted`, which read like a crash); the journal and the API's `status` keep `interrupted`
    line = next(ln for ln in out.stdout.splitlines() if rid in ln)
    assert line.split()[2] == "waiting", out.stdout
    # the inspector's list shows the same word; the API keeps the journal's in `status`
    with server.client() as c:
        row = next(r for r in c.get("/api/runs").json()["runs"] if r["id"] == rid)
    assert row["status"] == "interrupted" and row["display_status"] == "waiting", row


def test_refusals_are_json_errors_with_hints(make_server):
    server = make_server(token="s3cret")
    with httpx.Client(base_url=server.url, timeout=10) as anon:
        for path in ("/api/runs", "/api/workflows", "/metrics"):
            r = anon.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
            assert "token" in r.json()["error"]["message"]
        assert anon.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anon.get("/api/runs?token=s3cret").status_code == 200
        assert anon.get("/healthz").status_code == 200 and anon.get("/").status_code == 200
        assert anon.get("/static/app.js").status_code == 200
    with server.client() as c:
        bad = c.post("/api/runs", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]["message"]
        invalid = c.post("/api/runs", json={"file": APPROVAL, "inputs": {}})
        assert invalid.status_code == 422 and "inputs" in invalid.json()["error"]["message"]
        missing = c.post("/api/runs", json={"file": "../etc/passwd.rag"})
        assert missing.status_code == 404 and "hint" in missing.json()["error"]
        no_input = c.post("/api/runs", json={"file": APPROVAL, "input": {}})
        assert no_input.status_code == 422 and no_input.json()["error"]["code"] == "E0912"
        assert c.get("/api/runs/nope").status_code == 404
        assert c.post("/api/runs/nope/cancel").status_code == 404
        (server.root / "broken.rag").write_text("graph broken { start nowhere }\n")
        broken = c.post("/api/runs", json={"file": "broken.rag"})
        assert broken.status_code == 422 and broken.json()["error"]["code"].startswith("E")


def test_metrics_are_prometheus_text(make_server):
    server = make_server()
    with server.client() as c:
        rid = c.post("/api/runs", json={"file": APPROVAL, "input": {"topic": "m"}}).json()["run_id"]
        server.wait_status(rid, "interrupted")
        c.post(f"/api/runs/{rid}/answer", json={"answer": "publish"})
        server.wait_status(rid, "completed")
        resp = c.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert values[("ragc_runs_started_total", (("graph", "approval_flow"),))] == 2
    assert values[("ragc_runs_finished_total", (("graph", "approval_flow"), ("status", "completed")))] == 1
    assert values[("ragc_model_calls_total", (("model", "default"),))] == 1
    assert values[("ragc_tool_calls_total", (("outcome", "ok"), ("tool", "write_file")))] == 1
    assert values[("ragc_runs_active", (("graph", "approval_flow"),))] == 0


def test_openapi_documents_every_route(make_server):
    from ragc.serve.app import ServeSettings, create_app
    from ragc.runtime.journal import MemoryStore
    from ragc.registry.model import Registry

    server = make_server()
    doc = httpx.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    app = create_app(ServeSettings(store=MemoryStore(), registry=Registry(), registry_path=None, root=server.root))
    routed = {r.path for r in app.routes if r.path not in ("/", "/ws", "/static")}
    assert routed == set(doc["paths"]), routed ^ set(doc["paths"])
    assert set(doc["components"]["schemas"]["StartRun"]["properties"]) == {"file", "input", "graph", "run_id"}


def test_diff_of_two_workflows_side_by_side(make_server):
    server = make_server()
    old = (server.root / "workflows" / "approval_flow.rag").read_text()
    new = old.replace('options ["publish", "revise"]', 'options ["publish", "revise", "drop"]')
    new = new.replace("      revise -> draft\n", "      revise -> draft\n      drop -> END\n")
    (server.root / "approval_v2.rag").write_text(new)
    with server.client() as c:
        r = c.get("/api/diff", params={"old": APPROVAL, "new": "approval_v2.rag"})
        assert r.status_code == 200, r.text
        d = r.json()
    assert d["diff"]["changed"] and any("drop" in e["edge"] for e in d["diff"]["edges"]["added"])
    assert any(row["tag"] != "equal" and row["new"] and "drop" in row["new"] for row in d["rows"])
    assert sum(1 for row in d["rows"] if row["tag"] == "equal") > 30


def test_a_run_of_ragc_run_in_another_process_is_followed_live(make_server):
    import subprocess
    import time

    from wfkit import RAGC

    server = make_server()
    rid = "cli-run-followed"
    cli = subprocess.Popen([str(RAGC), "run", "two_steps.rag", "--registry", "registry.toml", "--journal",
                            "runs.sqlite", "--workspace", "ws", "--input", "topic=cli", "--run-id", rid, "--json"],
                           cwd=server.root, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with server.client() as c:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = c.get(f"/api/runs/{rid}/events")
                # events reach the journal with the next record: `first`'s completion brings its model call
                if r.status_code == 200 and any(e["type"] == "model_call_completed" and e["node"] == "first"
                                                for e in r.json()["events"]):
                    break
                time.sleep(0.05)
            row = c.get(f"/api/runs/{rid}").json()
            assert row["status"] == "running" and not row["live"] and not row["resumable"], row
            events = sse_events(c, rid, "run_finished")  # the stream goes on past the history it started with
        assert events[-1]["status"] == "completed"
        assert [e["node"] for e in events if e["type"] == "node_completed"] == ["first", "second"]
    finally:
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert server.wait_status(rid, "completed")["state"]["notes"] == ["first note", "second note"]
