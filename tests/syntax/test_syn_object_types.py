"""Object types in schemas: `{ name: T, ... }`, nested in lists and optional."""

from ragc.syntax import ast as A
from ragc.syntax.formatter import format_source, type_text
from ragc.syntax.parser import parse

SRC = """graph g {
  start a

  node a {
    kind model
    schema {
      tasks list[{title string  // what to do
        criteria: list[string],}]
      meta: {}?
    }
  }
}
"""


def test_object_types_parse_into_fields():
    r = parse(SRC, "o.rag")
    assert r.ok, r.diagnostics
    schema = r.module.graphs[0].nodes[0].items[-1]
    tasks, meta = schema.fields
    assert isinstance(tasks.type, A.TypeRef) and tasks.type.name.name == "list"
    item = tasks.type.args[0]
    assert isinstance(item, A.ObjectType) and not item.optional
    assert [f.name.name for f in item.fields] == ["title", "criteria"]
    assert isinstance(meta.type, A.ObjectType) and meta.type.optional and meta.type.fields == ()


def test_object_types_format_inline_and_keep_comments():
    out = format_source(SRC, "o.rag").text
    assert "      // what to do\n      tasks: list[{ title: string, criteria: list[string] }]\n" in out
    assert "      meta: {}?\n" in out
    assert format_source(out, "o.rag").text == out


def test_type_text_round_trips_through_the_parser():
    for text in ("{ a: int }", "list[{ a: int, b: list[{ c: string? }] }]?", "dict[{ x: any }]", "{}"):
        r = parse(f"graph g {{ input {{ f: {text} }} start a node a {{ kind model }} }}")
        assert r.ok, (text, r.diagnostics)
        assert type_text(r.module.graphs[0].items[0].fields[0].type) == text


def test_fmt_keeps_defaults_inside_object_types():
    # The grammar accepts them (the checker rejects them with E0709); fmt must not drop them.
    from ragc.syntax.ast import strip_spans
    from ragc.syntax.canon import canonicalize

    src = ('graph g {\n  start a\n  node a { kind model  schema { task: { title: string = "untitled", // c\n'
           '    n: list[{ z: int = 3 }] = [1, 2], t: string = """\n      hi "" there\n    """ } } }\n}\n')
    out = format_source(src, "o.rag").text
    assert 'task: { title: string = "untitled", n: list[{ z: int = 3 }] = [1, 2], t: string = ' in out
    assert "// c" in out and format_source(out, "o.rag").text == out
    assert strip_spans(canonicalize(parse(out).module)) == strip_spans(canonicalize(parse(src).module))
