"""``ragc fmt`` and ``ragc spec`` end to end (in process, through ``main``)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from synkit import GOLDEN, REPO
from ragc.cli.main import main
from ragc.syntax.grammar import grammar_text

LENIENT = "graph g {\n  a -> b\n  node a { kind: sub_agent // who\n agent helper }\n}\n"
CANONICAL = 'graph g {\n  edge a -> b\n\n  node a {\n    kind subagent // who\n    agent "helper"\n  }\n}\n'
BROKEN = "graph g {\n  channel x\n}\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fmt_rewrites_in_place_and_keeps_the_mode(tmp_path, capsys):
    f = tmp_path / "w.rag"
    f.write_text(LENIENT, encoding="utf-8")
    os.chmod(f, 0o640)
    code, out, err = run(capsys, "fmt", str(f))
    assert (code, err) == (0, "")
    assert out == f"formatted {f}\n"
    assert f.read_text(encoding="utf-8") == CANONICAL
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["w.rag"]  # no temporary file left behind
    code, out, _ = run(capsys, "fmt", str(f))
    assert (code, out) == (0, "")


def test_fmt_writes_through_a_symlink(tmp_path, capsys):
    target = tmp_path / "real.rag"
    target.write_text(LENIENT, encoding="utf-8")
    link = tmp_path / "link.rag"
    link.symlink_to(target)
    code, out, err = run(capsys, "fmt", str(link))
    assert (code, err) == (0, "")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == CANONICAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.rag", "real.rag"]


def test_graph_and_compile_name_a_directory_as_such(tmp_path, capsys):
    for cmd in ("graph", "compile"):
        code, out, err = run(capsys, cmd, "--registry", str(REPO / "registry.toml"), str(tmp_path))
        assert code == 2 and out == "" and f"`{tmp_path}` is a directory" in err


def test_fmt_check_lists_files_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "a.rag", tmp_path / "sub" / "b.rag"
    a.write_text(LENIENT, encoding="utf-8")
    b.write_text(CANONICAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a workflow", encoding="utf-8")
    code, out, err = run(capsys, "fmt", "--check", str(tmp_path))
    assert (code, out, err) == (1, f"{a}\n", "")
    assert a.read_text(encoding="utf-8") == LENIENT
    code, out, _ = run(capsys, "fmt", "--check", str(b))
    assert (code, out) == (0, "")


def test_fmt_diff_prints_a_unified_diff(tmp_path, capsys):
    f = tmp_path / "w.rag"
    f.write_text(LENIENT, encoding="utf-8")
    code, out, _ = run(capsys, "fmt", "--diff", str(f))
    assert code == 0
    assert out.startswith(f"--- {f} (original)\n+++ {f} (formatted)\n")
    assert "-  a -> b\n" in out and "+  edge a -> b\n" in out
    assert f.read_text(encoding="utf-8") == LENIENT
    code, out, _ = run(capsys, "fmt", "--diff", "--check", str(f))
    assert code == 1 and "+  edge a -> b" in out


def test_fmt_refuses_files_with_syntax_errors_but_formats_the_others(tmp_path, capsys):
    bad, good = tmp_path / "bad.rag", tmp_path / "good.rag"
    bad.write_text(BROKEN, encoding="utf-8")
    good.write_text(LENIENT, encoding="utf-8")
    code, out, err = run(capsys, "fmt", str(bad), str(good))
    assert code == 1
    assert "error[E0008]: channel `x` needs a reducer" in err and f"{bad}:2:3" in err
    assert f"`{bad}` has syntax errors; not formatted" in err
    assert bad.read_text(encoding="utf-8") == BROKEN
    assert good.read_text(encoding="utf-8") == CANONICAL


def test_fmt_io_errors_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, "fmt", str(tmp_path / "missing.rag"))
    assert code == 2 and err.startswith("error: no such file or directory")
    latin = tmp_path / "latin.rag"
    latin.write_bytes(b"graph g { node a { prompt \"caf\xe9\" } }\n")
    code, _, err = run(capsys, "fmt", str(latin))
    assert code == 2 and "not valid UTF-8" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "fmt", str(empty))
    assert code == 2 and "no .rag files under" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_fmt_unwritable_directory_exits_2(tmp_path, capsys):
    d = tmp_path / "ro"
    d.mkdir()
    f = d / "w.rag"
    f.write_text(LENIENT, encoding="utf-8")
    os.chmod(d, 0o500)
    try:
        code, _, err = run(capsys, "fmt", str(f))
    finally:
        os.chmod(d, 0o700)
    assert code == 2 and f"error: cannot write `{f}`" in err
    assert f.read_text(encoding="utf-8") == LENIENT


def test_fmt_failed_write_exits_2_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    # runs as root too (the test above is skipped there): the rename into place fails
    f = tmp_path / "w.rag"
    f.write_text(LENIENT, encoding="utf-8")
    other = tmp_path / "z.rag"
    other.write_text(LENIENT, encoding="utf-8")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    code, out, err = run(capsys, "fmt", str(f), str(other))
    assert code == 2
    assert f"error: cannot write `{f}`: permission denied" in err and f"error: cannot write `{other}`" in err
    assert out == ""  # nothing claims to be formatted
    assert f.read_text(encoding="utf-8") == LENIENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.rag", "z.rag"]  # the temporary files were removed


def test_fmt_strips_bom_and_crlf(tmp_path, capsys):
    f = tmp_path / "w.rag"
    f.write_bytes(b"\xef\xbb\xbf" + CANONICAL.replace("\n", "\r\n").encode())
    code, out, _ = run(capsys, "fmt", "--check", str(f))
    assert code == 1
    run(capsys, "fmt", str(f))
    assert f.read_bytes() == CANONICAL.encode()


def test_spec_prints_grammar_rules_kinds_example_and_registry_names(capsys):
    code, out, err = run(capsys, "spec", "--registry", str(REPO / "registry.toml"))
    assert code == 0 and err == ""
    assert out.startswith("# The .rag workflow language")
    for part in ["## Grammar", 'graph: "graph" NAME "{" graph_item* "}"', "## Rules", "## Node kinds",
                 "| `subagent` | `agent` |", "## Example", "graph research {", "## Registry names",
                 '"final_reviewer"', '"read_repo"', '- models: "claude", "default"']:
        assert part in out, part
    assert "__ANON" not in out


def test_spec_lark_prints_the_grammar_file(capsys):
    code, out, _ = run(capsys, "spec", "--lark")
    assert code == 0 and out == grammar_text() == (REPO / "grammar/rag.lark").read_text(encoding="utf-8")


def test_spec_with_a_missing_registry_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "spec", "--registry", str(tmp_path / "nope.toml"))
    assert code == 2 and err.startswith("error:")


def test_console_script_formats_the_examples_unchanged(tmp_path):
    for p in GOLDEN.glob("*.rag"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "ragc", "fmt", "--check", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
