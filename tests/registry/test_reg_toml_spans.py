"""``ragc.registry.toml_spans``: locations of keys and values."""

from __future__ import annotations

from ragc.registry.toml_spans import locate, nearest

TEXT = '''# comment
[models.default]   # trailing comment
provider = "local"
params = { temperature = 0.2, nested = { a = [1, 2] } }
"quoted key" = 'lit'
s = """multi
line = not a key
"""
a.b . c = 1

[[runs]]
x = 1

[[runs]]
x = 2
arr = [
  "a",  # comment
  "b",
]
'''


def at(found, path):
    loc = found[path]
    return (loc.key.line, loc.key.column), (loc.value.line, loc.value.column) if loc.value else None


def test_headers_keys_values():
    f = locate(TEXT, "r.toml")
    assert f[("models", "default")].header and at(f, ("models", "default"))[0] == (2, 1)
    assert at(f, ("models", "default", "provider")) == ((3, 1), (3, 12))
    assert at(f, ("models", "default", "params", "temperature")) == ((4, 12), (4, 26))
    assert at(f, ("models", "default", "params", "nested", "a", 1)) == ((4, 50), (4, 50))
    assert at(f, ("models", "default", "quoted key")) == ((5, 1), (5, 16))
    assert ("models", "default", "line") not in f  # inside a multi-line string
    assert at(f, ("models", "default", "a", "b", "c")) == ((9, 1), (9, 11))


def test_arrays_of_tables_and_multiline_arrays():
    f = locate(TEXT, "r.toml")
    assert at(f, ("runs", 0, "x")) == ((12, 1), (12, 5))
    assert at(f, ("runs", 1, "x")) == ((15, 1), (15, 5))
    assert at(f, ("runs", 1, "arr", 1)) == ((18, 3), (18, 3))


def test_value_span_covers_the_value_only():
    text = 'x = "abc"   # c\ny = 12\n'
    f = locate(text, "t.toml")
    v = f[("x",)].value
    assert text[v.offset:v.end_offset] == '"abc"'
    v = f[("y",)].value
    assert text[v.offset:v.end_offset] == "12"


def test_nearest_prefix():
    f = locate(TEXT, "r.toml")
    assert nearest(f, ("models", "default", "nope")) is f[("models", "default")]
    assert nearest(f, ("nothing",)) is None


def test_never_raises_on_odd_input():
    for text in ("[", "a =", '"unterminated', "[[x]", "a = {", "= 1", "\x00"):
        found = locate(text, "t.toml")
        assert isinstance(found, dict), text
        for loc in found.values():  # whatever is located lies inside the text
            assert 0 <= loc.key.offset <= loc.key.end_offset <= len(text), text
    # what comes before the broken part is still located
    assert at(locate("ok = 1\n[", "t.toml"), ("ok",)) == ((1, 1), (1, 6))
    f = locate("ok = 1\nx = [1,", "t.toml")
    assert at(f, ("ok",)) == ((1, 1), (1, 6)) and at(f, ("x", 0)) == ((2, 6), (2, 6))
