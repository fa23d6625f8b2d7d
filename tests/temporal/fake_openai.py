"""A fake OpenAI Chat Completions server on 127.0.0.1 (real sockets, stdlib).

Every request's last user message is its *key*. The reply is
``"done: KEY"`` after ``delay NNN`` milliseconds when the message contains
``delay NNN`` (else at once). The server counts, per key, the requests
that *started*, those whose reply was *completed* (fully written), and
those the client *abandoned* (closed the connection while the reply was
being delayed: the caller was cancelled). A thread per request.

Agent loops: a last user message containing ``loop N`` (and ``delay``) is
answered with a ``read_file`` tool call of ``notesK.txt`` until the
conversation holds ``N`` tool results, then with the text ``final``; the
key of each such request is ``"MESSAGE #k"``, k the tool results so far.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    """``url`` is ``http://127.0.0.1:PORT/v1``; see module docs."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.completed: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                outer._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, what: str, prefix: str = "") -> int:
        """Requests ``started``/``completed``/``abandoned`` whose key starts with ``prefix``."""
        with self.lock:
            c = getattr(self, what)
            return sum(n for k, n in c.items() if k.startswith(prefix))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)) or b"{}")
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        key = str(users[-1].get("content") if users else "")
        loop = re.search(r"loop (\d+)", key)
        tools_seen = sum(1 for m in body.get("messages", []) if m.get("role") == "tool")
        if loop:
            key = f"{key} #{tools_seen}"
        with self.lock:
            self.started[key] += 1
        m = re.search(r"delay (\d+)", key)
        end = time.monotonic() + (int(m.group(1)) / 1000 if m else 0)
        conn = h.connection
        while time.monotonic() < end:
            r, _, _ = select.select([conn], [], [], min(0.02, max(0.0, end - time.monotonic())))
            if r:
                try:
                    gone = conn.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    with self.lock:
                        self.abandoned[key] += 1
                    h.close_connection = True
                    return
                time.sleep(0.02)
        message: dict[str, Any] = {"role": "assistant", "content": f"done: {key}"}
        if loop and tools_seen < int(loop.group(1)):
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{tools_seen}", "type": "function",
                 "function": {"name": "read_file", "arguments": json.dumps({"path": f"notes{tools_seen}.txt"})}}]}
        elif loop:
            message = {"role": "assistant", "content": "final"}
        data = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "fake",
                           "choices": [{"index": 0, "message": message,
                                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}).encode()
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            with self.lock:
                self.abandoned[key] += 1
            return
        with self.lock:
            self.completed[key] += 1


def registry_toml(url: str) -> str:
    """A registry whose ``default`` model is this server, with ``read_file``."""
    return (f'[models.default]\nprovider = "openai"\nmodel = "fake"\nbase_url = "{url}"\n'
            f'api_key = "test-key"\nmax_retries = 0\n\n'
            '[tools.read_file]\nbuiltin = "read_file"\ndescription = "Read a text file of the workspace."\n')
