"""Rendering: the JSON document's exact shape, and the text layout (snippets,
labels in several files, suggestions, summary lines, colour)."""

from __future__ import annotations

import json
from pathlib import Path

from ragc.compiler import compile_source
from ragc.diagnostics.model import Applicability, Diagnostic, Label, Severity, Span, Suggestion
from ragc.diagnostics.render import render_json, render_text, summary_line

HERE = Path(__file__).resolve().parent

POS = {"line": int, "column": int}


def _check_range(r: dict) -> None:
    assert set(r) == {"start", "end"}
    for end in ("start", "end"):
        assert set(r[end]) == {"line", "column"}
        assert all(isinstance(r[end][k], int) and r[end][k] >= 1 for k in POS)
    assert (r["start"]["line"], r["start"]["column"]) <= (r["end"]["line"], r["end"]["column"])


def validate_document(doc: dict) -> None:
    """The `ragc check --format json` schema, format_version 1."""
    assert set(doc) == {"format_version", "diagnostics", "summary"}
    assert doc["format_version"] == 1
    assert set(doc["summary"]) == {"errors", "warnings"}
    for d in doc["diagnostics"]:
        assert set(d) == {"code", "severity", "message", "file", "range", "labels", "help", "notes", "suggestions"}
        assert d["severity"] in ("error", "warning", "note")
        assert isinstance(d["message"], str) and d["message"]
        assert d["help"] is None or isinstance(d["help"], str)
        assert all(isinstance(n, str) for n in d["notes"])
        if d["file"] is not None:
            _check_range(d["range"])
            primary = [lab for lab in d["labels"] if lab["primary"]]
            assert len(primary) == 1 and primary[0]["range"] == d["range"] and primary[0]["file"] == d["file"]
        for lab in d["labels"]:
            assert set(lab) == {"file", "range", "message", "primary"}
            _check_range(lab["range"])
        for s in d["suggestions"]:
            assert set(s) == {"message", "file", "range", "replacement", "applicability"}
            assert s["applicability"] in ("machine-applicable", "maybe-incorrect")
            _check_range(s["range"])
    errors = sum(d["severity"] == "error" for d in doc["diagnostics"])
    warnings = sum(d["severity"] == "warning" for d in doc["diagnostics"])
    assert doc["summary"] == {"errors": errors, "warnings": warnings}


def _corpus(name: str, registry):
    text = (HERE / "corpus" / f"{name}.rag").read_text(encoding="utf-8")
    return compile_source(text, f"corpus/{name}.rag", registry, lower=False)


def test_json_document_schema(test_registry):
    expected = {  # so the schema is checked on real diagnostics: codes, secondary labels, suggestions, notes
        "write_conflict_static": ([("E0501", 4, 1)], {"errors": 1, "warnings": 0}),
        "skippable_source": ([("E0407", 3, 1)], {"errors": 1, "warnings": 0}),
        "several_mistakes": ([("E0106", 1, 0), ("E0101", 1, 0), ("W0303", 1, 1)], {"errors": 2, "warnings": 1}),
        "timeout_number": ([("E0205", 1, 1)], {"errors": 1, "warnings": 0}),
    }
    for name, (diags, summary) in expected.items():
        doc = render_json(_corpus(name, test_registry).diagnostics)
        validate_document(json.loads(json.dumps(doc)))
        assert [(d["code"], len(d["labels"]), len(d["suggestions"])) for d in doc["diagnostics"]] == diags, name
        assert doc["summary"] == summary, name


def test_json_positions_are_one_based_and_exact(test_registry):
    doc = render_json(_corpus("timeout_number", test_registry).diagnostics)
    (d,) = doc["diagnostics"]
    assert d["code"] == "E0205" and d["file"] == "corpus/timeout_number.rag"
    assert d["range"] == {"start": {"line": 7, "column": 13}, "end": {"line": 7, "column": 15}}
    (s,) = d["suggestions"]
    assert s["replacement"] == "30s" and s["applicability"] == "machine-applicable"


def test_json_of_a_diagnostic_without_location():
    d = Diagnostic("W0801", Severity.WARNING, "no registry found", None, notes=("looked here",))
    doc = render_json([d])
    validate_document(doc)
    assert doc["diagnostics"][0]["file"] is None and doc["diagnostics"][0]["range"] is None


def _span(text: str, file: str, line: int, col: int, length: int) -> Span:
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
    return Span(file, offset, offset + length, line, col, line, col + length)


def test_text_labels_in_two_files():
    a = "graph a {\n  node x { kind model }\n}\n"
    b = "graph b {\n  start y\n}\n"
    d = Diagnostic("E0101", Severity.ERROR, "unknown node `y`", Label(_span(b, "b.rag", 2, 9, 1), "here"),
                   (Label(_span(a, "a.rag", 2, 8, 1), "a similar node"),), help="did you mean `x`?")
    text = render_text([d], {"a.rag": a, "b.rag": b})
    assert text == (
        "error[E0101]: unknown node `y`\n"
        " --> b.rag:2:9\n"
        "  |\n"
        "2 |   start y\n"
        "  |         ^ here\n"
        " ::: a.rag:2:8\n"
        "  |\n"
        "2 |   node x { kind model }\n"
        "  |        - a similar node\n"
        "  |\n"
        "  = help: did you mean `x`?\n"
        "\n"
        "error: aborting due to 1 error\n"
    )


def test_text_without_source_and_without_span():
    d = Diagnostic("E0806", Severity.ERROR, "cannot read registry `x.toml`: no such file", None)
    w = Diagnostic("W0303", Severity.WARNING, "node `a` is unreachable",
                   Label(Span("gone.rag", 0, 1, 1, 1, 1, 2), "never runs"))
    text = render_text([d, w], {})
    assert "error[E0806]: cannot read registry `x.toml`: no such file\n" in text
    assert " --> gone.rag:1:1\n" in text
    assert text.endswith("error: aborting due to 1 error; 1 warning emitted\n")


def test_insertion_and_deletion_suggestions():
    src = "graph g {\n  channel errors append\n}\n"
    span = _span(src, "f.rag", 2, 3, 21)
    d = Diagnostic("E0504", Severity.ERROR, "reserved", Label(span, "x"),
                   suggestions=(Suggestion("remove it", span, "", Applicability.MACHINE_APPLICABLE),
                                Suggestion("start", Span.point("f.rag", 9, 1, 10), "\n  start a")))
    text = render_text([d], {"f.rag": src})
    assert "suggestion: remove it (machine-applicable)\n  |\n2 |   channel errors append\n  |   ---------------------\n" in text
    assert "suggestion: start (maybe-incorrect)\n  |\n1 | graph g {\n+ |   start a\n" in text


def test_tabs_are_expanded_and_underlines_follow():
    src = "graph g {\n\tnode\tx { kind model }\n}\n"
    d = Diagnostic("W0303", Severity.WARNING, "unreachable", Label(_span(src, "t.rag", 2, 7, 1), "never runs"))
    text = render_text([d], {"t.rag": src}, summary=False)
    assert "2 |     node    x { kind model }\n  |             ^ never runs\n" in text


def test_summary_lines():
    assert summary_line(0, 0) == ""
    assert summary_line(1, 0) == "error: aborting due to 1 error"
    assert summary_line(2, 1) == "error: aborting due to 2 errors; 1 warning emitted"
    assert summary_line(0, 3) == "warning: 3 warnings emitted"
    assert render_text([], {}) == ""


def test_colour_uses_ansi_and_the_same_text(test_registry):
    r = _corpus("write_conflict_static", test_registry)
    plain = render_text(r.diagnostics, r.sources)
    coloured = render_text(r.diagnostics, r.sources, color=True)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_a_very_long_source_line_is_shown_as_a_window_around_the_mark():
    from ragc.diagnostics.render import MAX_SNIPPET_WIDTH

    filler = "x" * 5000
    src = f'graph g {{\n  start a\n  node a {{ kind model model "defualt" prompt "{filler}" next END oops }}\n}}\n'
    result = compile_source(src, "long.rag", None)
    text = render_text(result.diagnostics, {"long.rag": src}, color=False)
    lines = text.splitlines()
    assert max(len(line) for line in lines) < MAX_SNIPPET_WIDTH + 60  # a window and its label, not 5000 columns
    # the underline still sits under `oops`, near the end of the 5000-column line
    shown = next(i for i, line in enumerate(lines) if line.startswith("3 | ...") and "oops" in line)
    under = lines[shown + 1]
    col = under.index("^")
    assert lines[shown][col:col + 4] == "oops" and under[col:].startswith("^^^^")
