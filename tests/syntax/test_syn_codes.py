"""The syntax area of the diagnostic catalogue (``E00xx``): every literal
example reports its code, and the parser emits no code the catalogue lacks."""

from __future__ import annotations

import pytest

from ragc.diagnostics.codes import catalogue
from ragc.diagnostics.codes_syntax import CODES, GENERATED_EXAMPLES
from ragc.syntax.parser import parse


@pytest.mark.parametrize("info", [c for c in CODES if c.code not in GENERATED_EXAMPLES], ids=lambda c: c.code)
def test_example_reports_its_code(info):
    codes = [d.code for d in parse(info.example, "example.rag").diagnostics]
    assert info.code in codes


def test_syntax_codes_are_in_the_catalogue():
    table = catalogue()
    for info in CODES:
        assert table[info.code] is info
        assert info.code.startswith("E00")


def test_every_code_the_syntax_layer_emits_is_catalogued():
    import re
    from pathlib import Path

    import ragc.syntax as pkg

    emitted = set()
    for path in Path(pkg.__file__).parent.glob("*.py"):
        emitted |= set(re.findall(r'"(E00\d\d)"', path.read_text(encoding="utf-8")))
    assert emitted and emitted <= {c.code for c in CODES}
