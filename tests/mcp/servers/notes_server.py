"""A real MCP server for the tests, written with the SDK's server API (FastMCP).

Run as ``python notes_server.py`` (stdio) or ``python notes_server.py http PORT``
(streamable HTTP on 127.0.0.1). Tools:

* ``add(a, b)``: the sum;
* ``shout(text)``: ``text`` upper-cased;
* ``crash()``: the process exits mid-call (``os._exit``), as a crashing server does;
* ``malformed()``: writes a JSON-RPC response whose result is not a
  ``CallToolResult`` (``content`` is a string) straight to stdout, before the
  SDK's own reply: the client sees a malformed result;
* ``big(n)``: a text of ``n`` characters (results are bounded by the client);
* ``pid()``: the server's process id (a restarted server has another one).
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.fastmcp import Context, FastMCP

server = FastMCP("notes", host="127.0.0.1", port=int(sys.argv[2]) if len(sys.argv) > 2 else 8000,
                 log_level="ERROR")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Return the text in upper case."""
    return text.upper()


@server.tool()
def crash() -> str:
    """Exit the server process in the middle of the call."""
    sys.stdout.flush()
    os._exit(3)


@server.tool()
async def malformed(ctx: Context) -> str:
    """Answer with a result that is not a CallToolResult."""
    bad = {"jsonrpc": "2.0", "id": ctx.request_id, "result": {"content": "not a list", "isError": "maybe"}}
    os.write(1, (json.dumps(bad) + "\n").encode())
    return "the real answer (too late)"


@server.tool()
def big(n: int) -> str:
    """A text of n characters."""
    return "x" * n


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run(transport="streamable-http")
    else:
        server.run()
