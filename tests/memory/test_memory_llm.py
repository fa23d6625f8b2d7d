"""A workflow's own ``kind agent`` node with ``memory "memory"`` on the
embedded local model (Qwen2.5-Coder-1.5B via llama.cpp, 2 threads): run 1
tells the workflow a fact, which is saved; run 2, a new ``ragc run``
process, asks for it, and the node's answer contains it. Scored on the
outcome (the row in the store's SQLite file, the word in the answer), never
on what the model says it did. Marked ``llm``: it needs ``ragc[local]`` and
the installed model.

The save is deterministic, made by the workflow: in two tries with the
model left to call ``memory_save`` itself, the 1.5B model replied "Saved."
without calling it (the claim this test refuses to score). So graph
``tell`` saves its input through a function node (``facts.py``, the
``ragc.memory`` store API, under the node name ``chat`` that the agent
node's entries are kept under), and the model's part is the recall and its
use: graph ``ask`` is the agent node with ``memory "memory"``, whose task
gets the recalled ``# Memory`` section."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.llm

RAGC = str(Path(sys.executable).with_name("ragc"))

REGISTRY = """
[models.default]
provider = "local"
source = "qwen2.5-coder-1.5b"
threads = 2
context = 2048
timeout = "240s"
max_retries = 0
params = { temperature = 0.0, max_tokens = 64, repeat_penalty = 1.1 }

[stores.memory]
kind = "episodic"
path = ".ragc/memory.sqlite"
recall_tokens = 200

[functions.save_fact]
python = "facts:save_fact"   # a module next to registry.toml
"""

FACTS = '''
from ragc.memory.stores import open_memory
from ragc.registry.loader import load_registry


def save_fact(input):
    """Save ``input["text"]`` in store `memory` under the agent name `chat` (once: origin `tell`)."""
    reg = load_registry("registry.toml").registry
    store = open_memory("memory", reg.stores["memory"], reg.base_dir)
    store.save("chat", input["text"], importance=0.9, origin="tell")
    return "saved"
'''

FLOW = '''
graph tell {
  input {
    message: string
  }

  start save

  node save {
    kind function
    function "save_fact"
    input { text: input.message }
  }
}

graph ask {
  input {
    message: string
  }

  start chat

  channel reply last

  node chat {
    kind agent
    system """
      You are an assistant with a memory. Answer the question from the facts under # Memory.
      """
    prompt "{{ input.message }}"
    memory "memory"
    max_iterations 3
    output reply
  }
}
'''


@pytest.fixture(scope="module")
def model_ready():
    pytest.importorskip("llama_cpp")
    from ragc.harness import local_models

    try:
        local_models.ensure_model("qwen2.5-coder-1.5b")
    except local_models.ConfigError as exc:
        pytest.skip(f"local model not installed: {exc}")


def _run(ws: Path, graph: str, message: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAGC_DEBUG"}
    done = subprocess.run([RAGC, "run", "flow.rag", "--graph", graph, "--input", f"message={message}", "--json"],
                          cwd=ws,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(600)
def test_a_node_remembers_a_code_word_across_two_processes(model_ready, tmp_path):
    (tmp_path / "registry.toml").write_text(REGISTRY)
    (tmp_path / "flow.rag").write_text(FLOW)
    (tmp_path / "facts.py").write_text(FACTS)
    started = time.monotonic()
    first = _run(tmp_path, "tell", "Remember this: the deploy code word is 'heliotrope'.")
    assert first["status"] == "completed"
    with sqlite3.connect(tmp_path / ".ragc" / "memory.sqlite") as conn:
        rows = conn.execute("SELECT agent, text FROM memories").fetchall()
    assert any(agent == "chat" and "heliotrope" in text.lower() for agent, text in rows), (rows, first["state"])

    second = _run(tmp_path, "ask", "What is the deploy code word? Answer with the word only.")
    assert second["status"] == "completed"
    assert "heliotrope" in str(second["state"]["reply"]).lower(), second["state"]["reply"]
    print(f"\ntwo runs in {time.monotonic() - started:.1f}s; saved {rows}; answer {second['state']['reply']!r}")
