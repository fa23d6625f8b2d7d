"""The diagnostic catalogue: every checker and registry entry's example
triggers its code, the catalogue is well formed, ``docs/diagnostics.md`` is
generated from it, and ``ragc explain`` text is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragc.compiler import compile_file, compile_source
from ragc.diagnostics.codes import AREAS, catalogue, lookup, render_entry, render_markdown
from ragc.registry.loader import load_registry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MINE = [c for c in catalogue() if c[1:3] in ("01", "02", "03", "04", "05", "06", "07", "08")]


def test_catalogue_is_well_formed():
    for code, info in catalogue().items():
        assert re.fullmatch(r"[EW]\d{4}", code)
        assert info.severity == ("error" if code[0] == "E" else "warning")
        assert info.title and info.title == info.title.strip() and not info.title.endswith(".")
        assert len(info.explanation) > 20, code
        assert info.example.strip(), code
        assert code[1:3] in AREAS


def test_every_checker_area_has_codes():
    for digits in ("01", "02", "03", "04", "05", "06", "07", "08"):
        assert any(c[1:3] == digits for c in MINE), digits


def test_lookup_is_case_insensitive():
    assert lookup("e0101") is lookup("E0101") is not None
    assert lookup("E9999") is None


def test_explain_text_has_title_explanation_and_example():
    text = render_entry(catalogue()["E0501"])
    assert text.startswith("E0501: write conflict\n")
    assert "Example (.rag):" in text and "    graph g {" in text


def test_docs_diagnostics_md_is_generated_from_the_catalogue():
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "regenerate: python -m ragc.diagnostics.codes > docs/diagnostics.md"


def _rag_codes(example: str, registry) -> set[str]:
    untrusted = "--untrusted" in example
    graph = re.search(r"--graph (\w+)", example)
    r = compile_source(example, "example.rag", registry, untrusted=untrusted,
                       graph=graph.group(1) if graph else None)
    return {d.code for d in r.diagnostics}


@pytest.mark.parametrize("code", [c for c in MINE if catalogue()[c].example_lang == "rag"])
def test_rag_example_triggers_its_code(code, repo_registry, tmp_path):
    info = catalogue()[code]
    if code == "E0118":
        r = compile_file(tmp_path / "missing.rag", repo_registry)
        assert [d.code for d in r.diagnostics] == ["E0118"]
        return
    assert code in _rag_codes(info.example, repo_registry)


def _toml_codes(code: str, example: str, tmp_path: Path, monkeypatch) -> set[str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    if code == "W0801":
        return {d.code for d in load_registry(None, cwd=tmp_path).diagnostics}
    if code == "E0806":
        return {d.code for d in load_registry(tmp_path / "missing.toml", cwd=tmp_path).diagnostics}
    if code == "E0809":
        agent = tmp_path / ".agents" / "helper"
        agent.mkdir(parents=True)
        lines = [ln[2:] if ln.startswith("# ") else ln[1:] for ln in example.strip().splitlines()[1:]]
        (agent / "AGENT.md").write_text("\n".join(lines) + "\n")
        (tmp_path / "registry.toml").write_text('[models.default]\nprovider = "local"\n')
        return {d.code for d in load_registry(None, cwd=tmp_path).diagnostics}
    if code == "E0870":
        skill = tmp_path / "skills" / "summarize"
        skill.mkdir(parents=True)
        lines = [ln[2:] if ln.startswith("# ") else ln[1:] for ln in example.strip().splitlines()[1:]]
        (skill / "SKILL.md").write_text("\n".join(lines) + "\n")
        return {d.code for d in load_registry(None, cwd=tmp_path).diagnostics}
    if code in ("E0871", "E0872", "E0873"):
        # the MCP examples: a real server (tests/mcp/servers) and the workflow in the comment line
        import sys

        server = HERE.parent / "mcp" / "servers" / "notes_server.py"
        text = example.replace('["python", "notes_server.py"]', f'["{sys.executable}", "{server}"]')
        graph = next(ln[2:] for ln in example.splitlines() if ln.startswith("# graph"))
        (tmp_path / "registry.toml").write_text(text)
        load = load_registry(tmp_path / "registry.toml", cwd=tmp_path)
        r = compile_source(graph, "g.rag", load.registry)
        return {d.code for d in load.diagnostics} | {d.code for d in r.diagnostics}
    (tmp_path / "registry.toml").write_text(example)
    load = load_registry(tmp_path / "registry.toml", cwd=tmp_path)
    codes = {d.code for d in load.diagnostics}
    if code == "E0810":
        (tmp_path / "helper.rag").write_text("graph helper { start a  node a { kind model } }\n")
        (tmp_path / "registry.toml").write_text(example + '\n[models.default]\nprovider = "local"\n')
        load = load_registry(tmp_path / "registry.toml", cwd=tmp_path)
        r = compile_source('graph g { start a  node a { kind subgraph  graph "helper" } }', "g.rag", load.registry)
        codes |= {d.code for d in r.diagnostics}
    return codes


@pytest.mark.parametrize("code", [c for c in MINE if catalogue()[c].example_lang == "toml"])
def test_toml_example_triggers_its_code(code, tmp_path, monkeypatch):
    assert code in _toml_codes(code, catalogue()[code].example, tmp_path, monkeypatch)


def test_examples_trigger_only_their_own_area(repo_registry):
    """An example shows one mistake: its other diagnostics (if any) are warnings
    or cascades of the same area, never an unrelated error elsewhere."""
    for code in MINE:
        info = catalogue()[code]
        if info.example_lang != "rag" or code in ("E0117", "E0118"):
            continue
        errors = {c for c in _rag_codes(info.example, repo_registry) if c.startswith("E")}
        assert errors <= {code} | {c for c in errors if c[:3] == code[:3]}, (code, errors)
