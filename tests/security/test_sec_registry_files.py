"""Files the registry names are read like the file tools read (issue 16
point 3): a FIFO, /dev/zero and a NUL byte as a `[graphs.*] path` are
located diagnostics of `ragc check`, in a real subprocess with a time bound,
never a hang, an exhausted memory or an internal error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragc.registry.files import ReferencedFileError, read_referenced_text
from ragc.registry.loader import load_registry

WORKFLOW = 'graph main {\n  start a\n  node a { kind subgraph  graph "helper" }\n}\n'


def check(project: Path, path_toml: str) -> subprocess.CompletedProcess:
    (project / "main.rag").write_text(WORKFLOW)
    (project / "registry.toml").write_text(f'[models.default]\nprovider = "local"\n\n[graphs.helper]\npath = {path_toml}\n')
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "NO_COLOR": "1"}
    # the bound is a guard against the old hang, not a measurement
    return subprocess.run([sys.executable, "-m", "ragc", "check", "main.rag"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "nul", "directory", "huge", "binary"])
def test_unsafe_graph_paths_are_located_diagnostics(tmp_path: Path, kind: str):
    if kind == "fifo":
        os.mkfifo(tmp_path / "helper.rag")
        value, expect = '"helper.rag"', "is a FIFO (named pipe), not a regular file"
    elif kind == "dev_zero":
        value, expect = '"/dev/zero"', "is a character device, not a regular file"
    elif kind == "nul":
        value, expect = '"helper\\u0000.rag"', "has a NUL byte in its name"
    elif kind == "directory":
        (tmp_path / "sub").mkdir()
        value, expect = '"sub"', "is a directory, not a regular file"
    elif kind == "huge":
        with open(tmp_path / "helper.rag", "wb") as fh:
            fh.truncate(5 * 1024 * 1024)  # sparse: 5 MiB of size, no disk
        value, expect = '"helper.rag"', "more than the 4194304"
    else:
        (tmp_path / "helper.rag").write_bytes(b"graph helper {\x00}\n")
        value, expect = '"helper.rag"', "has a NUL byte at byte 14"
    r = check(tmp_path, value)
    assert r.returncode == 1, (r.stdout, r.stderr)  # errors found (2 would be a usage error)
    out = r.stdout + r.stderr
    assert "internal error" not in out and "Traceback" not in out, out
    assert expect in out, out
    if kind != "binary":  # judged by stat at load: E0890 at the registry's `path` value
        assert "E0890" in out and "registry.toml:5:8" in out, out


def test_reader_refuses_swapped_in_special_files(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe")
    for path, reason in ((tmp_path / "pipe", "FIFO"), (Path("/dev/zero"), "character device"),
                         (tmp_path / "none", "not found")):
        with pytest.raises(ReferencedFileError, match=reason):
            read_referenced_text(path)
    (tmp_path / "ok.rag").write_text("graph g {}\n")
    assert read_referenced_text(tmp_path / "ok.rag") == "graph g {}\n"


def test_agent_md_fifo_does_not_hang_discovery(tmp_path: Path):
    folder = tmp_path / ".agents" / "helper"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "AGENT.md")
    (tmp_path / "registry.toml").write_text('[models.default]\nprovider = "local"\n')
    load = load_registry(tmp_path / "registry.toml", cwd=tmp_path)
    assert [d.code for d in load.diagnostics if d.code.startswith("E")] == ["E0890"]
    assert "FIFO" in load.diagnostics[0].message
