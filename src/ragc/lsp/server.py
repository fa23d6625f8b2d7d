"""``ragc lsp``: a Language Server Protocol server for ``.rag`` files, on pygls.

Features (LSP 3.17, https://microsoft.github.io/language-server-protocol/specifications/lsp/3.17/specification/):

* ``textDocument/publishDiagnostics`` on open, change and save: the
  diagnostics of ``ragc check`` for that file (code, severity, message,
  primary span; secondary spans as ``relatedInformation``; ``help`` and
  notes appended to the message);
* ``textDocument/hover``: node kinds, nodes, fields and registry entries
  (with their ``description``);
* ``textDocument/completion``: keywords, kinds, fields, node names and
  registry names, narrowed by the setting being written;
* ``textDocument/definition``: a node name to its ``node`` block, a
  registry name to its ``[table.NAME]`` header in ``registry.toml``;
* ``textDocument/formatting``: ``ragc fmt`` (nothing for a file with
  syntax errors);
* ``textDocument/codeAction``: one quick fix per machine-applicable
  suggestion of a diagnostic in the requested range.

Documents are synced in full. Positions are converted between ragc's code
points and the client's negotiated encoding (UTF-16 by default) by pygls'
``PositionCodec``. The registry of a document is ``--registry`` if given,
else the nearest ``registry.toml`` at or above the document's folder.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ragc import __version__
from ragc.diagnostics.model import Diagnostic, Severity, Span
from ragc.lsp.analysis import Analysis, RegistryInfo, load_registry_for, registry_file_for

_SEVERITY = {Severity.ERROR: T.DiagnosticSeverity.Error, Severity.WARNING: T.DiagnosticSeverity.Warning,
             Severity.NOTE: T.DiagnosticSeverity.Information}
_COMPLETION_KIND = {"keyword": T.CompletionItemKind.Keyword, "kind": T.CompletionItemKind.EnumMember,
                    "field": T.CompletionItemKind.Property, "node": T.CompletionItemKind.Class,
                    "models": T.CompletionItemKind.Module, "tools": T.CompletionItemKind.Function,
                    "agents": T.CompletionItemKind.Interface, "functions": T.CompletionItemKind.Function,
                    "reducers": T.CompletionItemKind.Operator, "stores": T.CompletionItemKind.Folder,
                    "graphs": T.CompletionItemKind.Module}


class RagLanguageServer(LanguageServer):
    """The server. ``registry``: an explicit registry file (``--registry``)."""

    def __init__(self, registry: Path | None = None):
        super().__init__("ragc", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.registry_path = registry.resolve() if registry is not None else None
        self._registries: dict[Path, tuple[int, RegistryInfo]] = {}
        self._analyses: dict[str, Analysis] = {}

    def registry_for(self, path: Path) -> RegistryInfo:
        """The registry of the document at ``path``, loaded again only when
        its file's modification time changed."""
        file = registry_file_for(path, self.registry_path)
        key = file.resolve() if file is not None else path.parent
        try:
            mtime = file.stat().st_mtime_ns if file is not None else 0
        except OSError:
            mtime = -1
        cached = self._registries.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        info = load_registry_for(path, file)
        self._registries[key] = (mtime, info)
        return info

    def analyze(self, uri: str) -> tuple[Analysis, object]:
        """The :class:`Analysis` of the open document ``uri`` and the pygls
        document; kept while neither the text nor the registry changed (a
        hover after a change does not compile the file again)."""
        doc = self.workspace.get_text_document(uri)
        path = Path(to_fs_path(uri) or uri)
        registry = self.registry_for(path)
        cached = self._analyses.get(uri)
        if cached is not None and cached.text == doc.source and cached.registry_info is registry:
            return cached, doc
        analysis = self._analyses[uri] = Analysis(doc.source, str(path), registry)
        return analysis, doc


def to_range(doc, span: Span | None) -> T.Range:
    """An LSP range in the client's encoding from a ragc span of ``doc``'s text."""
    if span is None:
        return T.Range(T.Position(0, 0), T.Position(0, 0))
    return _range(doc.lines, doc.position_codec, span)


def _range(lines, codec, span: Span) -> T.Range:
    start = codec.position_to_client_units(lines, T.Position(span.line - 1, span.column - 1))
    end = codec.position_to_client_units(lines, T.Position(span.end_line - 1, span.end_column - 1))
    return T.Range(start, end)


def to_lsp(doc, d: Diagnostic) -> T.Diagnostic:
    """An LSP diagnostic from a ragc one (same code, message and range)."""
    message = d.message
    if d.help:
        message += f"\nhelp: {d.help}"
    for n in d.notes:
        message += f"\nnote: {n}"
    related = []
    for label in d.secondary:
        if d.span is not None and label.span.file == d.span.file:
            related.append(T.DiagnosticRelatedInformation(
                T.Location(doc.uri, to_range(doc, label.span)), label.message or "see here"))
    return T.Diagnostic(range=to_range(doc, d.span), message=message, severity=_SEVERITY[d.severity], code=d.code,
                        source="ragc", related_information=related or None)


def build_server(registry: Path | None = None) -> RagLanguageServer:
    """A :class:`RagLanguageServer` with every feature registered."""
    server = RagLanguageServer(registry)

    def publish(uri: str) -> None:
        analysis, doc = server.analyze(uri)
        diags = [to_lsp(doc, d) for d in analysis.diagnostics()]
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags,
                                                                            version=doc.version))
        publish_registry(analysis.registry_info, doc.position_codec.encoding)

    def publish_registry(info: RegistryInfo, encoding) -> None:
        """The registry's own diagnostics (those `ragc check` prints before the
        file's), on the registry file's URI, so a broken entry is not silent."""
        if info.path is None or info.text is None:
            return
        from pygls.workspace.position_codec import PositionCodec

        codec = PositionCodec(encoding)
        lines = tuple(info.text.splitlines(True))
        out = []
        for d in info.diagnostics:
            if d.span is None or Path(d.span.file).name != info.path.name:
                continue
            out.append(T.Diagnostic(range=_range(lines, codec, d.span), message=d.message + (
                f"\nhelp: {d.help}" if d.help else ""), severity=_SEVERITY[d.severity], code=d.code, source="ragc"))
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=from_fs_path(str(info.path)),
                                                                            diagnostics=out))

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RagLanguageServer, params: T.DidOpenTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RagLanguageServer, params: T.DidChangeTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RagLanguageServer, params: T.DidSaveTextDocumentParams) -> None:
        publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RagLanguageServer, params: T.DidCloseTextDocumentParams) -> None:
        ls._analyses.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def hover(ls: RagLanguageServer, params: T.HoverParams) -> T.Hover | None:
        analysis, doc = ls.analyze(params.text_document.uri)
        found = analysis.hover(doc.offset_at_position(params.position))
        if found is None:
            return None
        text, span = found
        return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, text), to_range(doc, span))

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[" ", '"']))
    def completion(ls: RagLanguageServer, params: T.CompletionParams) -> T.CompletionList:
        analysis, doc = ls.analyze(params.text_document.uri)
        items = [T.CompletionItem(label, kind=_COMPLETION_KIND.get(cat, T.CompletionItemKind.Text), detail=detail)
                 for label, cat, detail in analysis.completions(doc.offset_at_position(params.position))]
        return T.CompletionList(is_incomplete=False, items=items)

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RagLanguageServer, params: T.DefinitionParams) -> T.Location | None:
        analysis, doc = ls.analyze(params.text_document.uri)
        span = analysis.definition(doc.offset_at_position(params.position))
        if span is None:
            return None
        if span.file == analysis.file:
            return T.Location(doc.uri, to_range(doc, span))
        info = analysis.registry_info
        if info.path is None or info.text is None:
            return None
        from pygls.workspace.position_codec import PositionCodec

        lines = tuple(info.text.splitlines(True))
        return T.Location(from_fs_path(str(info.path)), _range(lines, PositionCodec(doc.position_codec.encoding), span))

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: RagLanguageServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
        from ragc.syntax.formatter import format_source

        doc = ls.workspace.get_text_document(params.text_document.uri)
        result = format_source(doc.source, to_fs_path(doc.uri) or doc.uri)
        if result.text is None or result.text == doc.source:
            return [] if result.text is not None else None
        lines = doc.lines
        end = T.Position(len(lines), 0)
        return [T.TextEdit(T.Range(T.Position(0, 0), end), result.text)]

    @server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                    T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
    def code_action(ls: RagLanguageServer, params: T.CodeActionParams) -> list[T.CodeAction]:
        analysis, doc = ls.analyze(params.text_document.uri)
        start = doc.offset_at_position(params.range.start)
        end = doc.offset_at_position(params.range.end)
        actions = []
        for d, s in analysis.fixes(start, end):
            edit = T.TextEdit(to_range(doc, s.span), s.replacement)
            actions.append(T.CodeAction(title=f"{s.message} ({d.code})", kind=T.CodeActionKind.QuickFix,
                                        diagnostics=[to_lsp(doc, d)], is_preferred=True,
                                        edit=T.WorkspaceEdit(changes={doc.uri: [edit]})))
        return actions

    return server
