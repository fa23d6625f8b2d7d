"""A scripted HTTP server on 127.0.0.1 (ephemeral port) for provider tests.

Real sockets, stdlib only: a ``ThreadingHTTPServer`` in a daemon thread.
Each request is recorded (:class:`Recorded`) and answered by the next
scripted reply, or by a ``responder(recorded) -> reply`` callable. Replies:

* :class:`Reply`: status, JSON (or raw bytes) body, headers, optional delay;
* :class:`Stream`: a chunked body sent piece by piece (SSE or NDJSON), which
  may be ``cut`` (the connection is closed without the terminating chunk);
* :class:`Stall`: send nothing for ``seconds`` (the client times out).

Nothing here listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Stream:
    chunks: list[bytes]
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False
    gap: float = 0.0


@dataclass
class Stall:
    seconds: float


Responder = Callable[[Recorded], "Reply | Stream | Stall"]


class ScriptedServer:
    """Start with :meth:`start` (or as a context manager); ``url`` is
    ``http://127.0.0.1:PORT``. ``script(*replies)`` queues replies;
    ``responder`` answers when the queue is empty; ``requests`` lists what
    arrived; ``max_concurrent`` is the most requests handled at once."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.queue: deque = deque()
        self.responder: Responder | None = None
        self.lock = threading.Lock()
        self.active = 0
        self.max_concurrent = 0
        self.stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                outer._handle(self)

            def do_GET(self) -> None:
                outer._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Any) -> None:
        self.queue.extend(replies)

    def _next(self, rec: Recorded) -> Any:
        with self.lock:
            if self.queue:
                return self.queue.popleft()
        if self.responder is not None:
            return self.responder(rec)
        return Reply(500, json={"error": {"message": "no scripted reply left", "type": "test_error"}})

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        rec = Recorded(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, body)
        with self.lock:
            self.requests.append(rec)
            self.active += 1
            self.max_concurrent = max(self.max_concurrent, self.active)
        try:
            reply = self._next(rec)
            if callable(reply) and not isinstance(reply, (Reply, Stream, Stall)):
                reply = reply(rec)
            self._send(h, reply)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            h.close_connection = True
        finally:
            with self.lock:
                self.active -= 1

    def _send(self, h: BaseHTTPRequestHandler, reply: Any) -> None:
        if isinstance(reply, Stall):
            self.stopping.wait(reply.seconds)
            h.close_connection = True
            return
        if isinstance(reply, Reply):
            if reply.delay:
                time.sleep(reply.delay)
            data = reply.body if reply.body is not None else json.dumps(reply.json).encode()
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json")
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            return
        assert isinstance(reply, Stream), reply
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        for chunk in reply.chunks:
            if reply.gap:
                time.sleep(reply.gap)
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            h.wfile.flush()
        if reply.cut:
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (for connection-refused tests)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
