"""The WebSocket JSON-RPC gateway against a real ``ragc serve`` subprocess
with a real ``websockets`` client: a bad token, malformed and invalid
messages, a run started, streamed, answered and finished over JSON-RPC, a
client that disconnects mid-stream (the run and the server go on), and
concurrent runs sharing one journal."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
import websockets
from websockets.asyncio.client import connect

pytestmark = pytest.mark.anyio

APPROVAL = "workflows/approval_flow.rag"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Rpc:
    """A JSON-RPC client over one socket: ``call`` waits for its response;
    notifications are queued in ``events``."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    async def recv(self) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), 20))

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        while True:
            msg = await self.recv()
            if msg.get("id") == self.next_id:
                return msg
            self.events.append(msg)

    async def event(self, type_: str) -> dict:
        for msg in self.events:
            if msg["params"]["event"]["type"] == type_:
                self.events.remove(msg)
                return msg["params"]["event"]
        while True:
            msg = await self.recv()
            assert msg.get("method") == "run.event", msg
            if msg["params"]["event"]["type"] == type_:
                return msg["params"]["event"]


async def test_bad_token_is_refused_before_the_socket_opens(make_server):
    server = make_server(token="s3cret")
    for url in (server.ws_url, server.ws_url + "?token=wrong"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with connect(url):
                pass
        assert info.value.response.status_code == 403
    async with connect(server.ws_url, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        assert (await Rpc(ws).call("workflows.list"))["result"]["workflows"]
    async with connect(server.ws_url + "?token=s3cret") as ws:
        assert "result" in await Rpc(ws).call("runs.list")


async def test_malformed_and_invalid_messages_get_json_rpc_errors(make_server):
    server = make_server()
    async with connect(server.ws_url) as ws:
        rpc = Rpc(ws)
        await ws.send("{this is not json")
        assert (await rpc.recv())["error"]["code"] == -32700
        await ws.send(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "runs.list"}]))
        assert (await rpc.recv())["error"]["code"] == -32600
        await ws.send(json.dumps({"id": 2, "method": "runs.list"}))
        assert (await rpc.recv())["error"]["code"] == -32600
        await ws.send(b"\xff\xfe binary")
        assert (await rpc.recv())["error"]["code"] == -32700
        unknown = await rpc.call("runs.explode")
        assert unknown["error"]["code"] == -32601 and "runs.start" in unknown["error"]["data"]["methods"]
        bad = await rpc.call("runs.start", file=APPROVAL, inptu={})
        assert bad["error"]["code"] == -32602 and bad["error"]["data"]["errors"][0]["loc"] == ["inptu"]
        refused = await rpc.call("runs.get", run_id="nope")
        assert refused["error"]["code"] == -32000 and refused["error"]["data"]["status"] == 404
        # a notification (no id) gets no answer; the socket still works afterwards
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "runs.list"}))
        assert "result" in await rpc.call("runs.list", limit=5)


async def test_start_subscribe_answer_and_finish_over_json_rpc(make_server):
    server = make_server()
    async with connect(server.ws_url) as ws:
        rpc = Rpc(ws)
        started = await rpc.call("runs.start", file=APPROVAL, input={"topic": "rpc"})
        rid = started["result"]["run_id"]
        sub = await rpc.call("runs.subscribe", run_id=rid)
        assert sub["result"]["run_id"] == rid
        asked = await rpc.event("interrupt_raised")
        assert asked["options"] == ["publish", "revise"]
        await rpc.event("run_finished")
        server.wait_status(rid, "interrupted")
        wrong = await rpc.call("runs.answer", run_id=rid, answer="nah")
        assert wrong["error"]["data"]["code"] == "E0911"
        assert (await rpc.call("runs.answer", run_id=rid, answer="publish"))["result"] == {"run_id": rid}
        finished = await rpc.event("run_finished")
        while finished["status"] != "completed":
            finished = await rpc.event("run_finished")
        seqs = [m["params"]["seq"] for m in rpc.events]
        assert seqs == sorted(seqs)
        server.wait_status(rid, "completed")  # the row is updated just after `run_finished` is emitted
        detail = (await rpc.call("runs.get", run_id=rid))["result"]
        assert detail["status"] == "completed" and detail["state"]["drafts"] == ["Draft one"]
        assert (await rpc.call("runs.unsubscribe", run_id=rid))["result"] == {"run_id": rid}


async def test_a_client_that_disconnects_mid_stream_harms_nothing(make_server):
    server = make_server()
    ws = await connect(server.ws_url)
    rpc = Rpc(ws)
    rid = (await rpc.call("runs.start", file="two_steps.rag", input={"topic": "gone"}))["result"]["run_id"]
    await rpc.call("runs.subscribe", run_id=rid)
    await rpc.event("node_completed")  # `first` is done, `second` is in flight
    ws.transport.abort()  # drop the TCP connection without a closing handshake
    done = server.wait_status(rid, "completed")
    assert done["state"]["notes"] == ["first note", "second note"]
    async with connect(server.ws_url) as again:  # the server is fine, and replays the history to a new subscriber
        rpc2 = Rpc(again)
        await rpc2.call("runs.subscribe", run_id=rid)
        finished = await rpc2.event("run_finished")
        assert finished["status"] == "completed"


async def test_concurrent_runs_share_one_journal(make_server):
    server = make_server()
    async with connect(server.ws_url) as ws:
        rpc = Rpc(ws)
        ids = [(await rpc.call("runs.start", file="two_steps.rag", input={"topic": f"t{i}"}))["result"]["run_id"]
               for i in range(6)]
        listed = (await rpc.call("runs.list"))["result"]["runs"]
        assert sum(1 for r in listed if r["id"] in ids and r["live"]) >= 2, "the runs overlap"
    for rid in ids:
        done = server.wait_status(rid, "completed", timeout=40)
        assert done["state"]["notes"] == ["first note", "second note"]
    with sqlite3.connect(server.journal) as db:
        rows = dict(db.execute("select id, status from runs"))
        assert all(rows[r] == "completed" for r in ids)
        per_run = dict(db.execute("select run_id, count(*) from records where kind = 'node_completed' group by run_id"))
        assert all(per_run[r] == 2 for r in ids)
