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


def _new_file(tmp_path, *extra_args: str):
    write_scripted_registry_toml(tmp_path, fast=[{"text": GOOD, "repeat": True}])
    (tmp_path / "README.md").write_text("# demo\n", encoding="utf-8")
    out = tmp_path / "flow.rag"
    p = ragc_cli("new", "Summarise the file at the input path", "-o", str(out), *extra_args, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def test_a_generated_file_is_refused_by_plain_run_until_approved(tmp_path):
    out = _new_file(tmp_path, "--model", "fast")
    run = ("run", "--no-ask", str(out), "--input", "path=README.md")
    refused = ragc_cli(*run, cwd=tmp_path)  # no --untrusted: the file says what it is
    assert refused.returncode == 2 and "written by `ragc new`" in refused.stderr and "ragc approve" in refused.stderr
    # deleting the comment does not make it trusted: ragc new recorded the path
    out.write_text(GOOD, encoding="utf-8")
    assert ragc_cli(*run, cwd=tmp_path).returncode == 2
    # a copy elsewhere (no record there) is still marked by its first line
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "copy.rag").write_text("// Written by `ragc new` from the goal below\n" + GOOD, encoding="utf-8")
    copy = ragc_cli("check", str(other / "copy.rag"), "--registry", str(tmp_path / "registry.toml"), cwd=other)
    assert copy.returncode == 0
    assert ragc_cli("run", "--no-ask", str(other / "copy.rag"), "--registry", str(tmp_path / "registry.toml"),
                    cwd=other).returncode == 2
    # approved: it runs (under the untrusted policy, as `--untrusted` would)
    assert ragc_cli("approve", str(out), cwd=tmp_path).returncode == 0
    ran = ragc_cli(*run, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_generated_file_is_checked_under_the_untrusted_policy(tmp_path):
    out = _new_file(tmp_path, "--model", "fast")
    reg = tmp_path / "registry.toml"
    reg.write_text(reg.read_text(encoding="utf-8").replace(
        "[policies.untrusted]", '[policies.untrusted]\ndeny_tools = ["read_file"]', 1), encoding="utf-8")
    assert "deny_tools" in reg.read_text(encoding="utf-8")
    p = ragc_cli("check", str(out), cwd=tmp_path)  # no --untrusted given
    assert p.returncode == 1 and "read_file" in p.stdout + p.stderr


def test_the_registry_names_the_authoring_model(tmp_path):
    write_scripted_registry_toml(tmp_path, fast=[{"text": GOOD, "repeat": True}])
    reg = tmp_path / "registry.toml"
    reg.write_text(reg.read_text(encoding="utf-8") + '\n[authoring]\nmodel = "fast"\nrounds = 0\n', encoding="utf-8")
    out = tmp_path / "flow.rag"
    p = ragc_cli("new", "Summarise a file", "-o", str(out), cwd=tmp_path)  # no --model: [authoring] model
    assert p.returncode == 0, p.stdout + p.stderr
    assert out.read_text(encoding="utf-8").endswith(GOOD)
    reg.write_text(reg.read_text(encoding="utf-8").replace('model = "fast"\nrounds', 'model = "fats"\nrounds'),
                   encoding="utf-8")
    bad = ragc_cli("check", str(out), cwd=tmp_path)
    assert bad.returncode == 1 and "E0807" in bad.stdout + bad.stderr and "fast" in bad.stdout + bad.stderr


NO_TOOL = """graph summarise {
  input {
    path: string
  }

  start sum

  channel summary last

  node sum {
    kind model
    model "fast"
    prompt "Summarise in three bullets the file {{ input.path }}"
    output summary
    next END
  }
}
"""


def test_a_file_that_ignores_a_tool_the_goal_names_gets_a_repair_round(tmp_path):
    # passes check, but the goal says "with the read_file tool": the gap goes back to the model
    write_scripted_registry_toml(tmp_path, fast=[
        {"when": "Write a .rag workflow", "text": NO_TOOL},
        {"when": "does not do what the goal asks", "text": GOOD},
    ])
    out = tmp_path / "flow.rag"
    goal = "Read the file named by the input `path` with the read_file tool, then summarise it."
    p = ragc_cli("new", goal, "-o", str(out), "--model", "fast", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 goal gap" in p.stderr and "repair round 1" in p.stderr
    assert out.read_text(encoding="utf-8").endswith(GOOD) and "warning" not in p.stdout


def test_a_gap_that_remains_is_reported_not_hidden(tmp_path):
    write_scripted_registry_toml(tmp_path, fast=[{"text": NO_TOOL, "repeat": True}])
    out = tmp_path / "flow.rag"
    goal = "Read the file named by the input `path` with the read_file tool, then summarise it."
    p = ragc_cli("new", goal, "-o", str(out), "--model", "fast", "--rounds", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr  # the file is valid; the gap is a warning
    assert "warning: the goal names the tool `read_file`, which the file does not use" in p.stdout
