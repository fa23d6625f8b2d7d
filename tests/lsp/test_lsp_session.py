"""`ragc lsp` in a real subprocess, driven over stdio by pygls' LanguageClient
(JSON-RPC with LSP framing): diagnostics as you type (the same codes and
ranges as `ragc check --format json`), completion, hover, definition,
formatting and a code action."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as T
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

RAGC = Path(sys.executable).with_name("ragc")

REGISTRY = """\
[models.fake]
provider = "scripted"
script = "fake.jsonl"
description = "a scripted stand-in model for tests"

[tools.read_file]
builtin = "read_file"
description = "read a file of the workspace"

[agents.helper]
model = "fake"
description = "answers questions from the workspace"
tools = ["read_file"]
"""

FLOW = """\
graph flow {
  start ask
  channel errors append
  channel answer last

  node ask {
    kind model
    model "fake"
    prompt "Say hi"
    output answer
    next check
  }

  node check {
    kind subagent
    agent "helperr"
    next END
  }
}
"""

FIXED = FLOW.replace("  channel errors append\n", "").replace('"helperr"', '"helper"')


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "fake.jsonl").write_text('{"text": "ok", "repeat": true}\n', encoding="utf-8")
    (tmp_path / "flow.rag").write_text(FLOW, encoding="utf-8")
    return tmp_path


def position_of(text: str, needle: str, delta: int = 0) -> T.Position:
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    return T.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


class Session:
    """A started client plus the diagnostics the server published."""

    def __init__(self, client: LanguageClient):
        self.client = client
        self.published: asyncio.Queue = asyncio.Queue()

    async def next_diagnostics(self) -> T.PublishDiagnosticsParams:
        return await asyncio.wait_for(self.published.get(), timeout=60)

    async def document_diagnostics(self, uri: str) -> T.PublishDiagnosticsParams:
        """The next diagnostics published for ``uri`` (skipping the registry's)."""
        while True:
            p = await self.next_diagnostics()
            if p.uri == uri:
                return p


async def start(project: Path) -> Session:
    client = LanguageClient("ragc-tests", "1")
    session = Session(client)

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: T.PublishDiagnosticsParams) -> None:
        session.published.put_nowait(params)

    await client.start_io(str(RAGC), "lsp", cwd=str(project))
    result = await client.initialize_async(T.InitializeParams(
        capabilities=T.ClientCapabilities(), root_uri=from_fs_path(str(project)), process_id=None))
    caps = result.capabilities
    assert caps.hover_provider and caps.definition_provider and caps.document_formatting_provider
    assert caps.completion_provider is not None and caps.code_action_provider
    client.initialized(T.InitializedParams())
    return session


async def stop(session: Session) -> None:
    await session.client.shutdown_async(None)
    session.client.exit(None)
    await session.client.stop()


def check_json(project: Path) -> list[dict]:
    out = subprocess.run([str(RAGC), "check", "--format", "json", "flow.rag"], cwd=project, capture_output=True,
                         text=True, timeout=120)
    return json.loads(out.stdout)["diagnostics"]


def test_lsp_session_over_stdio(project: Path) -> None:
    uri = from_fs_path(str(project / "flow.rag"))
    expected = check_json(project)
    assert {d["code"] for d in expected} == {"E0504", "E0108"}

    async def scenario() -> None:
        s = await start(project)
        c = s.client
        try:
            # diagnostics on open: the codes and ranges of `ragc check`
            c.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "rag", 1, FLOW)))
            published = await s.next_diagnostics()
            assert published.uri == uri
            registry_diags = await s.next_diagnostics()  # the registry's own (none here)
            assert registry_diags.uri.endswith("/registry.toml") and list(registry_diags.diagnostics) == []
            got = sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.line,
                          d.range.end.character) for d in published.diagnostics)
            want = sorted((d["code"], d["range"]["start"]["line"] - 1, d["range"]["start"]["column"] - 1,
                           d["range"]["end"]["line"] - 1, d["range"]["end"]["column"] - 1) for d in expected)
            assert got == want
            unknown = next(d for d in published.diagnostics if d.code == "E0108")
            assert "unknown agent `helperr`" in unknown.message and "helper" in unknown.message
            assert all(d.source == "ragc" and d.severity == T.DiagnosticSeverity.Error for d in published.diagnostics)

            # a code action from the machine-applicable fix of E0504
            reserved = next(d for d in published.diagnostics if d.code == "E0504")
            actions = await c.text_document_code_action_async(T.CodeActionParams(
                T.TextDocumentIdentifier(uri), reserved.range, T.CodeActionContext(diagnostics=[reserved])))
            assert actions and actions[0].kind == T.CodeActionKind.QuickFix
            edit = actions[0].edit.changes[uri][0]
            assert edit.new_text == "" and edit.range.start == T.Position(2, 2) and edit.range.end == T.Position(2, 23)

            # as you type: the fixed text has no diagnostics
            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=2), [T.TextDocumentContentChangeWholeDocument(FIXED)]))
            published = await s.document_diagnostics(uri)
            assert list(published.diagnostics) == []

            # hover: a node kind, a registry entry with its description, a node
            hover = await c.text_document_hover_async(T.HoverParams(
                T.TextDocumentIdentifier(uri), position_of(FIXED, "kind subagent", 6)))
            assert "node kind `subagent`" in hover.contents.value and "`agent`" in hover.contents.value
            hover = await c.text_document_hover_async(T.HoverParams(
                T.TextDocumentIdentifier(uri), position_of(FIXED, '"helper"', 2)))
            assert "answers questions from the workspace" in hover.contents.value
            hover = await c.text_document_hover_async(T.HoverParams(
                T.TextDocumentIdentifier(uri), position_of(FIXED, "next check", 6)))
            assert "node `check`" in hover.contents.value and "subagent" in hover.contents.value

            # completion: kinds after `kind`, registry models after `model`, everything elsewhere
            edited = FIXED.replace("    kind model\n", "    kind \n", 1)
            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=3), [T.TextDocumentContentChangeWholeDocument(edited)]))
            await s.document_diagnostics(uri)
            items = await c.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), position_of(edited, "kind \n", 5)))
            labels = {i.label for i in items.items}
            assert {"model", "agent", "subagent", "interrupt", "join"} <= labels and "graph" not in labels
            items = await c.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), position_of(edited, 'model "fake"', 7)))
            assert [i.label for i in items.items] == ["fake"]
            assert items.items[0].detail == "a scripted stand-in model for tests"
            items = await c.text_document_completion_async(T.CompletionParams(
                T.TextDocumentIdentifier(uri), T.Position(1, 0)))
            labels = {i.label for i in items.items}
            assert {"graph", "node", "channel", "ask", "check", "fake", "helper", "read_file"} <= labels

            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=4), [T.TextDocumentContentChangeWholeDocument(FIXED)]))
            await s.document_diagnostics(uri)

            # definition: a node name to its block, a registry name to its TOML header
            loc = await c.text_document_definition_async(T.DefinitionParams(
                T.TextDocumentIdentifier(uri), position_of(FIXED, "next check", 6)))
            assert loc.uri == uri and loc.range.start == position_of(FIXED, "node check")
            loc = await c.text_document_definition_async(T.DefinitionParams(
                T.TextDocumentIdentifier(uri), position_of(FIXED, '"helper"', 3)))
            assert loc.uri == from_fs_path(str((project / "registry.toml").resolve()))
            assert loc.range.start == position_of(REGISTRY, "[agents.helper]")

            # formatting: the `ragc fmt` text
            messy = FIXED.replace("  start ask\n", "start:   ask\n")
            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(uri=uri, version=5), [T.TextDocumentContentChangeWholeDocument(messy)]))
            await s.document_diagnostics(uri)
            edits = await c.text_document_formatting_async(T.DocumentFormattingParams(
                T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=2, insert_spaces=True)))
            assert len(edits) == 1
            (project / "messy.rag").write_text(messy, encoding="utf-8")
            fmt = subprocess.run([str(RAGC), "fmt", "--check", "messy.rag"], cwd=project, capture_output=True,
                                 text=True, timeout=120)
            assert fmt.returncode != 0  # the messy text is not canonical
            subprocess.run([str(RAGC), "fmt", "messy.rag"], cwd=project, check=True, capture_output=True, timeout=120)
            assert edits[0].new_text == (project / "messy.rag").read_text(encoding="utf-8")
            assert "start ask" in edits[0].new_text
        finally:
            await stop(s)

    asyncio.run(scenario())


def test_lsp_positions_use_utf16_for_non_bmp_text(project: Path) -> None:
    """A diagnostic after an emoji on its line is placed in UTF-16 code units
    (the LSP default encoding): `ragc check` counts the emoji as one column,
    the client must see two."""
    text = 'graph u {\n  start check\n  node check { kind subagent\n    input { q: "😋" } agent "helperr"\n' \
           '    next END }\n}\n'
    (project / "u.rag").write_text(text, encoding="utf-8")
    uri = from_fs_path(str(project / "u.rag"))
    out = subprocess.run([str(RAGC), "check", "--format", "json", "u.rag"], cwd=project, capture_output=True,
                         text=True, timeout=120)
    (want,) = json.loads(out.stdout)["diagnostics"]
    assert want["code"] == "E0108" and want["range"]["start"] == {"line": 4, "column": 28}

    async def scenario() -> None:
        s = await start(project)
        try:
            s.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "rag", 1, text)))
            published = await s.document_diagnostics(uri)
            (got,) = published.diagnostics
            assert got.code == "E0108"
            assert got.range.start == T.Position(3, 28) and got.range.end == T.Position(3, 37)  # 27 + 1 surrogate
        finally:
            await stop(s)

    asyncio.run(scenario())


def test_registry_diagnostics_are_published_on_the_registry(project: Path) -> None:
    """A broken registry entry shows in registry.toml with the code and range of `ragc check`."""
    (project / "registry.toml").write_text(REGISTRY.replace('script = "fake.jsonl"\n', 'script = "fake.jsonl"\nbogus = 1\n'),
                                           encoding="utf-8")
    uri = from_fs_path(str(project / "flow.rag"))
    registry_uri = from_fs_path(str((project / "registry.toml").resolve()))
    expected = [d for d in check_json(project) if d["file"] == "registry.toml"]
    assert [d["code"] for d in expected] == ["E0802"]

    async def scenario() -> None:
        s = await start(project)
        try:
            s.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "rag", 1, FIXED)))
            published = await s.document_diagnostics(registry_uri)
            (got,) = published.diagnostics
            start_ = expected[0]["range"]["start"]
            assert got.code == "E0802" and "unknown key `bogus`" in got.message
            assert got.range.start == T.Position(start_["line"] - 1, start_["column"] - 1)
        finally:
            await stop(s)

    asyncio.run(scenario())


def test_syntax_errors_are_diagnosed_and_never_formatted(project: Path) -> None:
    """A document that does not parse gets the parser's diagnostics, and
    formatting leaves it alone (as `ragc fmt` does)."""
    text = "graph broken {\n  node a {\n    kind model\n  \n}\n"
    (project / "broken.rag").write_text(text, encoding="utf-8")
    expected = json.loads(subprocess.run([str(RAGC), "check", "--format", "json", "broken.rag"], cwd=project,
                                         capture_output=True, text=True, timeout=120).stdout)["diagnostics"]
    assert any(d["code"] == "E0006" for d in expected)  # unclosed `{` (the parser recovers and checks on)
    uri = from_fs_path(str(project / "broken.rag"))

    async def scenario() -> None:
        s = await start(project)
        try:
            s.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "rag", 1, text)))
            published = await s.document_diagnostics(uri)
            assert sorted(d.code for d in published.diagnostics) == sorted(d["code"] for d in expected)
            edits = await s.client.text_document_formatting_async(T.DocumentFormattingParams(
                T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=2, insert_spaces=True)))
            assert not edits
            hover = await s.client.text_document_hover_async(T.HoverParams(
                T.TextDocumentIdentifier(uri), T.Position(2, 10)))
            assert hover is not None and "node kind `model`" in hover.contents.value  # hover works on broken text
            hover = await s.client.text_document_hover_async(T.HoverParams(
                T.TextDocumentIdentifier(uri), T.Position(2, 6)))
            assert "field `kind`" in hover.contents.value
        finally:
            await stop(s)

    asyncio.run(scenario())
