"""Extract upstream's ``.rag`` programs into ``tests/upstream/corpus/``.

Not a test: a maintenance script, run by hand when the corpus is rebuilt::

    python tests/upstream/extract_corpus.py MIRROR [--verdicts VERDICTS.tsv]

``MIRROR`` is a git directory of upstream (``tinyhumansai/tinyagents``, the
language lived in ``src/language/`` up to commit ``bbcd0a6``). The script walks
every commit reachable from ``bbcd0a6`` and collects

* **docs fences**: fenced blocks (any info string: upstream used
  ``tinyagents``, ``rustagents`` and ``text``) in every ``*.md`` file whose
  text contains a whole program (a line starting ``graph NAME {``);
* **Rust tests**: string literals (``"..."`` with escapes, ``r"..."``,
  ``r#"..."#``) in ``src/language/**.rs`` that contain a whole program.

Programs are deduplicated by their text with trailing whitespace and the
common indentation removed; the first occurrence in history (oldest commit
first) names the program and every occurrence is listed as provenance.

``--verdicts`` takes a TSV written by upstream's own parser and semantic
compiler (``tests/upstream/upstream_verdicts.sh`` builds that harness from the
mirror, outside this repository): ``path<TAB>ok|parse_error|compile_error<TAB>
message``. Without it, the verdicts already in the manifest are kept.

The manifest (``corpus/manifest.json``) is the contract the corpus test reads;
see ``docs/upstream.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
LAST_LANGUAGE_COMMIT = "bbcd0a6"
PROGRAM = re.compile(r"^\s*graph(\s+[A-Za-z_][A-Za-z0-9_]*)?\s*\{", re.M)
FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```", re.M | re.S)
# Rust string literals: raw strings with any number of '#', or plain strings with escapes.
RUST_STRING = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)


def git(mirror: str, *args: str) -> str:
    return subprocess.run(["git", "-C", mirror, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def unescape_rust(s: str) -> str:
    """Rust's escapes in a plain string literal, including the line continuation."""
    s = re.sub(r"\\\n\s*", "", s)
    table = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), m.group(0)), s)


def normalise(text: str) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return textwrap.dedent("\n".join(lines)) + "\n"


def programs_in(path: str, text: str):
    """``(line, kind, program)`` for every whole program in one file's text."""
    if path.endswith(".md"):
        for m in FENCE.finditer(text):
            body, first = m.group(3), text.count("\n", 0, m.start()) + 2
            if m.group(2).strip().startswith("rust"):
                # a Rust example: its string literals may hold programs
                for line, program in rust_strings(body):
                    yield first + line - 1, "docs", program
            elif PROGRAM.search(body):
                yield first, "docs", normalise(body)
    elif path.endswith(".rs"):
        for line, program in rust_strings(text):
            yield line, "rust_test", program


def rust_strings(text: str):
    """``(line, program)`` for each Rust string literal in ``text`` that holds a program."""
    for m in RUST_STRING.finditer(text):
        body = m.group(2) if m.group(2) is not None else unescape_rust(m.group(3))
        if PROGRAM.search(body):
            yield text.count("\n", 0, m.start()) + 1, normalise(body)


def walk(mirror: str):
    commits = git(mirror, "rev-list", "--reverse", "--topo-order", LAST_LANGUAGE_COMMIT).split()
    seen_blobs: set[str] = set()
    for commit in commits:
        tree = git(mirror, "ls-tree", "-r", commit)
        for line in tree.splitlines():
            meta, path = line.split("\t", 1)
            blob = meta.split()[2]
            if not path.endswith((".md", ".rs")):
                continue
            if blob in seen_blobs:
                continue
            seen_blobs.add(blob)
            text = git(mirror, "cat-file", "blob", blob)
            for lineno, kind, program in programs_in(path, text):
                yield commit, path, lineno, kind, program


def slug(program: str) -> str:
    m = PROGRAM.search(program)
    return re.sub(r"\W+", "", m.group(0).split()[1].rstrip("{")) if m else "program"


def classify(entry: dict, text: str) -> str:
    """``accepted`` (upstream's parser and compiler accept it), ``rejected``
    (a test program upstream rejects: a negative test), ``documented`` (a
    docs example upstream's parser never implemented) or ``not_a_program``
    (a prompt or a REPL script that merely contains a program)."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("//")), "")
    if not first.startswith("graph"):
        return "not_a_program"
    if entry.get("upstream") == "ok":
        return "accepted"
    return "documented" if entry["source"] == "docs" else "rejected"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mirror")
    ap.add_argument("--verdicts", help="TSV from upstream's parser (see the module docstring)")
    args = ap.parse_args()
    old = {}
    manifest_path = CORPUS / "manifest.json"
    if manifest_path.exists():
        old = {e["sha256"]: e for e in json.loads(manifest_path.read_text())["programs"]}
    found: dict[str, dict] = {}
    for commit, path, lineno, kind, program in walk(args.mirror):
        digest = hashlib.sha256(program.encode()).hexdigest()
        entry = found.setdefault(digest, {"sha256": digest, "text": program, "origins": []})
        entry["origins"].append({"commit": git(args.mirror, "rev-parse", "--short=7", commit).strip(),
                                 "path": path, "line": lineno, "kind": kind})
    CORPUS.mkdir(exist_ok=True)
    for f in CORPUS.glob("*.rag"):
        f.unlink()
    entries = []
    for i, entry in enumerate(found.values(), 1):
        name = f"{i:03d}_{slug(entry['text'])}.rag"
        (CORPUS / name).write_text(entry.pop("text"), encoding="utf-8")
        entry = {"file": name, **entry}
        entry["source"] = "rust_test" if any(o["kind"] == "rust_test" for o in entry["origins"]) else "docs"
        if entry["sha256"] in old:
            for k in ("upstream", "upstream_message"):
                if k in old[entry["sha256"]]:
                    entry[k] = old[entry["sha256"]][k]
        entries.append(entry)
    if args.verdicts:
        verdicts = {}
        for line in Path(args.verdicts).read_text().splitlines():
            path, verdict, message = (line.split("\t") + ["", ""])[:3]
            verdicts[Path(path).name] = (verdict, message)
        for e in entries:
            verdict, message = verdicts[e["file"]]
            message = re.sub(r'^Parse \{ message: "(error: )?', "", message).split("\\n")[0]
            message = re.sub(r'^Compile\("(.*)"\)$', r"\1", message).replace('\\"', '"')
            e["upstream"], e["upstream_message"] = verdict, message[:200]
    for e in entries:
        e["class"] = classify(e, (CORPUS / e["file"]).read_text(encoding="utf-8"))
    manifest = {
        "upstream": "tinyhumansai/tinyagents",
        "last_language_commit": LAST_LANGUAGE_COMMIT,
        "verdicts_from": f"upstream's lexer, parser, semantic compile() and node-kind allowlist at "
                         f"{LAST_LANGUAGE_COMMIT} (tests/upstream/upstream_verdicts.sh)",
        "programs": entries,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(entries)} programs")


if __name__ == "__main__":
    main()
