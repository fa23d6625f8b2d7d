"""``ragc new`` through the real CLI with a scripted registry model standing
in for a hosted author (no grammar: plain text, fences stripped): the first
reply has an error, the diagnostics go back, the second reply passes; the
file is written with its untrusted header, the graph and capability summary
are printed, and ``ragc run --untrusted`` refuses it until ``ragc approve``."""

from __future__ import annotations

from wfkit import ragc_cli, write_scripted_registry_toml

from ragc.author.prompt import strip_fences

GOOD = """graph summarise {
  input {
    path: string
  }

  start read

  channel text last
  channel summary last

  node read {
    kind tool
    tool "read_file"
    args { path: input.path }
    output text
    next sum
  }

  node sum {
    kind model
    model "fast"
    prompt "Summarise in three bullets: {{ state.text }}"
    output summary
    next END
  }
}
"""
BAD = GOOD.replace('tool "read_file"', 'tool "read_fil"')


def test_new_repairs_writes_and_marks_the_file_untrusted(tmp_path):
    write_scripted_registry_toml(tmp_path, fast=[
        {"when": "Write a .rag workflow", "text": "Here it is:\n```rag\n" + BAD + "```\n"},
        {"when": "`ragc check` reports these errors", "text": GOOD},
    ])
    (tmp_path / "README.md").write_text("# demo\n", encoding="utf-8")
    out = tmp_path / "flow.rag"
    p = ragc_cli("new", "Summarise the file at the input path", "-o", str(out), "--model", "fast", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "writing" in p.stderr and "1 error" in p.stderr and "repair round 1" in p.stderr and " ok" in p.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("// Written by `ragc new`") and text.endswith(GOOD)
    assert "flowchart" in p.stdout or "graph" in p.stdout
    assert "tool read_file" in p.stdout and "model fast" in p.stdout
    refused = ragc_cli("run", "--untrusted", "--no-ask", str(out), "--input", "path=README.md", cwd=tmp_path)
    assert refused.returncode == 2 and "not approved" in refused.stderr
    assert ragc_cli("approve", str(out), cwd=tmp_path).returncode == 0


def test_new_reports_what_remains_after_the_rounds_and_exits_1(tmp_path):
    write_scripted_registry_toml(tmp_path, fast=[{"text": BAD, "repeat": True}])
    out = tmp_path / "flow.rag"
    p = ragc_cli("new", "Summarise a file", "-o", str(out), "--model", "fast", "--rounds", "1", cwd=tmp_path)
    assert p.returncode == 1
    assert "E0108" in p.stdout or "unknown tool" in p.stdout
    assert out.is_file()  # kept for a human to finish
    again = ragc_cli("new", "Summarise a file", "-o", str(out), "--model", "fast", cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_strip_fences():
    assert strip_fences("Sure:\n```rag\ngraph g {}\n```\nDone.") == "graph g {}\n"
    assert strip_fences("graph g {}") == "graph g {}\n"
