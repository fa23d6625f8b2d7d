"""The corpus of broken programs: each file states the diagnostics it must
produce (``// expect: CODE @ LINE:COLUMN``, 1-based, the primary span's
start) and, optionally, checker options (``// args: --untrusted``). The
rendered text is pinned by a snapshot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragc.compiler import compile_source
from ragc.diagnostics.codes import catalogue
from ragc.diagnostics.render import render_text

HERE = Path(__file__).resolve().parent
CORPUS = sorted((HERE / "corpus").glob("*.rag"))
EXPECT = re.compile(r"^// expect: ([EW][0-9]{4}) @ (\d+):(\d+)\s*$", re.M)
ARGS = re.compile(r"^// args: (.*)$", re.M)

# codes that need more than one .rag file to trigger: tested in test_ck_codes.py
NOT_IN_CORPUS = {"E0117", "E0118"}


def header(text: str) -> tuple[list[tuple[str, int, int]], str]:
    expects = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in EXPECT.finditer(text)]
    args = ARGS.search(text)
    return expects, args.group(1) if args else ""


def check(path: Path, registry):
    text = path.read_text(encoding="utf-8")
    expects, args = header(text)
    result = compile_source(text, f"corpus/{path.name}", registry, untrusted="--untrusted" in args, lower=False)
    return result, expects


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_file(path, test_registry, snapshot):
    result, expects = check(path, test_registry)
    assert expects, f"{path.name} has no `// expect:` line"
    got = sorted((d.code, d.span.line, d.span.column) for d in result.diagnostics if d.span)
    assert got == sorted(expects)
    assert all(d.span is not None for d in result.diagnostics)
    assert render_text(result.diagnostics, result.sources) == snapshot


def test_corpus_covers_every_checker_code(test_registry):
    seen: set[str] = set()
    for path in CORPUS:
        seen.update(code for code, _, _ in header(path.read_text(encoding="utf-8"))[0])
    wanted = {c for c in catalogue() if c[1:3] in ("01", "02", "03", "04", "05", "06", "07")} - NOT_IN_CORPUS
    assert wanted - seen == set()


def test_messages_follow_rustc_style(test_registry):
    """Lowercase first letter, no final period, every primary label non-empty."""
    for path in CORPUS:
        result, _ = check(path, test_registry)
        for d in result.diagnostics:
            assert d.message[0] == d.message[0].lower() or d.message[0] in "`", d.message
            assert not d.message.endswith("."), d.message
            assert d.primary is not None and d.primary.message, (path.name, d.code)
