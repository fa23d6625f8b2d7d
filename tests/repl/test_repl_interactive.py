"""`ragc repl` as an interactive session in a real subprocess: cells typed on
stdin one at a time, answers read from stdout, errors on stderr, the
namespace kept across cells, and `answer(...)` ending the session."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

RAGC = Path(sys.executable).with_name("ragc")
PROMPT = b">>> "


class Terminal:
    """Reads a child's stdout up to its next prompt (bounded wait, no timing asserted)."""

    def __init__(self, cwd: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(cwd)}
        self.proc = subprocess.Popen([str(RAGC), "repl"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.buffer = b""

    def until(self, marker: bytes, limit_s: float = 60) -> str:
        end = time.monotonic() + limit_s
        fd = self.proc.stdout.fileno()
        while marker not in self.buffer:
            left = end - time.monotonic()
            assert left > 0, f"no {marker!r} in {self.buffer!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                assert chunk, f"the session ended early: {self.buffer!r}"
                self.buffer += chunk
        text, _, self.buffer = self.buffer.partition(marker)
        return text.decode("utf-8")

    def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()


def test_interactive_session(project: Path) -> None:
    t = Terminal(project)
    try:
        t.until(PROMPT)
        t.send('city = model_query("fake", "What is the capital of France?")\n')
        assert t.until(PROMPT) == ""
        t.send("city\n")
        assert t.until(PROMPT).strip() == '"Paris"'  # the namespace persists
        t.send("def shout(s):\n")
        t.until(b"... ")
        t.send("    return s.upper() + '!'\n")
        t.until(b"... ")
        t.send("\n")  # a blank line ends the block
        assert t.until(PROMPT) == ""
        t.send('items = [\n  "a",\n  "b",\n]\n')
        t.until(PROMPT)
        t.send("[shout(city)] + items\n")
        assert t.until(PROMPT).strip() == '["PARIS!", "a", "b"]'
        t.send('open("secret.txt")\n')  # an error does not end the session
        t.until(PROMPT)
        t.send('print("still here", len(items))\n')
        assert t.until(PROMPT).strip() == "still here 2"
        t.send('answer({"city": city})\n')
        assert t.until(b"\n").strip() == 'answer: {"city": "Paris"}'
        assert t.proc.wait(timeout=60) == 0
        stderr = t.proc.stderr.read().decode("utf-8")
        assert "error: variable `open` not found" in stderr and "<cell 6>:1:1" in stderr
        assert "Traceback" not in stderr
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def test_end_of_input_ends_the_session(project: Path) -> None:
    out = subprocess.run([str(RAGC), "repl"], cwd=project, input="x = 2\nx * 21\n", capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "42" in out.stdout


def test_failed_script_exits_1_with_a_located_error(project: Path) -> None:
    (project / "bad.ragsh").write_text('x = 1\ny = model_query("fakee", "hi")\n', encoding="utf-8")
    out = subprocess.run([str(RAGC), "repl", "bad.ragsh"], cwd=project, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "error: unknown model `fakee`" in out.stderr and "bad.ragsh:2:5" in out.stderr
    assert "did you mean `fake`?" in out.stderr and "Traceback" not in out.stderr


def test_limits_from_the_command_line(project: Path) -> None:
    (project / "loop.ragsh").write_text("s = 0\nfor i in range(100000000):\n    s += i\n", encoding="utf-8")
    out = subprocess.run([str(RAGC), "repl", "loop.ragsh", "--max-operations", "50"], cwd=project,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "max_operations (50)" in out.stderr
    out = subprocess.run([str(RAGC), "repl", "loop.ragsh", "--max-calls", "0"], cwd=project, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "must be a positive number" in out.stderr


def test_ctrl_c_stops_the_cell_not_the_session(project: Path) -> None:
    import signal

    t = Terminal(project)
    try:
        t.until(PROMPT)
        t.send("x = 21\n")
        t.until(PROMPT)
        t.send('for i in range(1000000000):\n    if i == 0:\n        print("started")\n\n')
        t.until(b"started\n")
        t.proc.send_signal(signal.SIGINT)
        t.until(PROMPT)
        t.send("x * 2\n")
        assert t.until(PROMPT).strip() == "42"
        t.proc.stdin.close()
        assert t.proc.wait(timeout=60) == 1  # a cancelled cell counts as a failed one
        assert "cancelled" in t.proc.stderr.read().decode("utf-8")
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()
