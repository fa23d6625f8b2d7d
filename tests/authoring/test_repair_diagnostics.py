"""Diagnostics made for repair (issue 12, point 3) and ``ragc check --fix`` /
``ragc check -`` / ``ragc fmt -`` (point 4), through the real CLI."""

from __future__ import annotations

import json

from wfkit import REGISTRY_TOML, ragc_cli, repo_registry

from ragc.check.fixes import apply_fixes
from ragc.compiler import compile_source

AGENT_TOOLS = """graph g {
  input {
    question: string
  }

  start look

  channel answer last

  allow tools ["read_file"]

  node look {
    kind agent
    prompt "{{ input.question }}"
    tools ["search", "list_files"]
    output answer
    next END
  }
}
"""


def errors(src: str, **kw):
    res = compile_source(src, "t.rag", repo_registry(), **kw)
    return res, [d for d in res.diagnostics if d.is_error]


def test_e0603_lists_every_missing_tool_once_and_its_fix_edits_allow():
    res, errs = errors(AGENT_TOOLS)
    assert [d.code for d in errs] == ["E0603"]
    (d,) = errs
    assert "`search`" in d.message and "`list_files`" in d.message
    fixed, applied = apply_fixes(AGENT_TOOLS, res.diagnostics)
    assert len(applied) == 1
    assert 'allow tools ["read_file", "search", "list_files"]' in fixed
    assert errors(fixed)[1] == []


def test_a_tool_node_without_tool_is_told_to_name_the_tool():
    src = """graph g {
  start read

  channel out last

  node read {
    kind tool
    output out
    next END
  }
}
"""
    _, errs = errors(src)
    assert [d.code for d in errs] == ["E0204"]
    assert "needs `tool`" in errs[0].message and "messages" not in errs[0].message


def test_a_bare_channel_or_input_name_gets_a_sure_fix_to_its_full_path():
    # the embedded model's `ragc new` file failed its repair rounds on `{{ findings }}` alone
    src = """graph g {
  input {
    path: string
  }

  start read

  channel findings append

  node read {
    kind tool
    tool "read_file"
    args { path: path }
    output findings
    next summarize
  }

  node summarize {
    kind model
    prompt "Summarise: {{ findings }}"
    output findings
  }
}
"""
    res, errs = errors(src)
    assert [(d.code, d.help) for d in errs] == [
        ("E0114", "`path` is a run input: write `input.path`"),
        ("E0114", "`findings` is a channel: write `state.findings`")]
    fixed, applied = apply_fixes(src, res.diagnostics)
    assert len(applied) == 2
    assert "args { path: input.path }" in fixed and "{{ state.findings }}" in fixed
    assert errors(fixed)[1] == []
    # a name that is neither keeps its did-you-mean, which is not applied on its own
    res, errs = errors(src.replace("{{ findings }}", "{{ finding }}"))
    assert [d.code for d in errs] == ["E0114", "E0114"]
    assert len(apply_fixes(src.replace("{{ findings }}", "{{ finding }}"), res.diagnostics)[1]) == 1


def test_check_fix_rewrites_the_file_and_lists_the_changes(tmp_path):
    f = tmp_path / "a.rag"
    f.write_text(AGENT_TOOLS.replace('prompt "{{ input.question }}"', "prompt hello"), encoding="utf-8")
    p = ragc_cli("check", "--fix", "--registry", str(REGISTRY_TOML), str(f), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "E0205 quote the text" in p.stderr and "E0603" in p.stderr
    text = f.read_text(encoding="utf-8")
    assert 'prompt "hello"' in text and '["read_file", "search", "list_files"]' in text
    again = ragc_cli("check", "--registry", str(REGISTRY_TOML), str(f), cwd=tmp_path)
    assert again.returncode == 0 and "no problems" in again.stdout


def test_check_reads_standard_input(tmp_path):
    import subprocess

    from wfkit import RAGC

    p = subprocess.run([str(RAGC), "check", "--format", "json", "--registry", str(REGISTRY_TOML), "-"],
                       input=AGENT_TOOLS, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert [d["code"] for d in doc["diagnostics"]] == ["E0603"]
    assert doc["diagnostics"][0]["file"] == "<stdin>"
    fixed = subprocess.run([str(RAGC), "check", "--fix", "--registry", str(REGISTRY_TOML), "-"],
                           input=AGENT_TOOLS, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert fixed.returncode == 0, fixed.stderr
    assert '["read_file", "search", "list_files"]' in fixed.stdout and "fixed <stdin>:" in fixed.stderr


def test_fmt_reads_standard_input(tmp_path):
    import subprocess

    from wfkit import RAGC

    messy = 'graph g {\nstart a\n node a { kind fork\n next [b, c] }\n node b { kind model\n prompt "b" }\n' \
            ' node c { kind model\n prompt "c" }\n}\n'
    p = subprocess.run([str(RAGC), "fmt", "-"], input=messy, capture_output=True, text=True, cwd=tmp_path,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "kind router" in p.stdout and "  node a {\n" in p.stdout
    check = subprocess.run([str(RAGC), "fmt", "--check", "-"], input=p.stdout, capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)
    assert check.returncode == 0 and check.stdout == ""
    broken = subprocess.run([str(RAGC), "fmt", "-"], input="graph {", capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert broken.returncode == 1 and broken.stdout == "" and "syntax errors" in broken.stderr


def test_an_invalid_model_entry_still_defines_its_name(tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text('[models.writer]\nprovider = "local"\ncontext = "big"\n\n'
                   '[agents.helper]\nmodel = "writer"\n', encoding="utf-8")
    f = tmp_path / "a.rag"
    f.write_text('graph g {\n  start a\n  channel out last\n  node a {\n    kind model\n    model "writer"\n'
                 '    prompt "x"\n    output out\n  }\n  node b {\n    kind model\n    model "writer"\n'
                 '    prompt "y"\n    output out\n  }\n}\n', encoding="utf-8")
    p = ragc_cli("check", "--format", "json", "--registry", str(reg), str(f), cwd=tmp_path)
    codes = [d["code"] for d in json.loads(p.stdout)["diagnostics"] if d["severity"] == "error"]
    assert codes.count("E0803") == 1, codes            # the bad entry, once
    assert "E0106" not in codes and "E0807" not in codes, codes  # no "unknown model" per use


TOOL_NODE = """graph g {
  start read

  channel out last

  node read {
    kind tool
    tool "search"
    args ARGS
    output out
    next END
  }
}
"""


def test_tool_args_are_checked_against_the_tool_schema():
    def codes(args: str) -> list[tuple[str, str]]:
        res, _ = errors(TOOL_NODE.replace("ARGS", args))
        return [(d.code, d.message) for d in res.diagnostics if d.code.startswith("W029")]

    assert codes('{ query: "x", max_results: 3 }') == []
    assert codes('{ query: "{{ input.q }}" }') == []
    (unknown,) = codes('{ query: "x", max_result: 3 }')
    assert unknown[0] == "W0290" and "max_result" in unknown[1]
    (missing,) = codes('{ path: "src" }')
    assert missing[0] == "W0291" and "`query`" in missing[1]
    (wrong,) = codes('{ query: "x", max_results: "3" }')
    assert wrong[0] == "W0292" and "integer" in wrong[1]
    res, _ = errors(TOOL_NODE.replace("ARGS", '{ query: "x", max_result: 3 }'))
    assert "did you mean `max_results`?" in (res.diagnostics[0].help or "")
