"""Object types lower to closed JSON-schema objects (structured output and inputs)."""

from ragc.compiler import compile_source
from ragc.registry.model import ModelEntry, Registry

SRC = """graph g {
  input {
    job: { name: string, tags: list[string]? }
  }

  start a

  channel plan last

  node a {
    kind model
    schema {
      tasks: list[{ title: string, criteria: list[string] }]
      meta: { x: int }?
    }
    output plan
  }
}
"""


def test_object_types_lower_to_closed_objects():
    reg = Registry(models={"default": ModelEntry(provider="local")})
    r = compile_source(SRC, "o.rag", reg)
    assert r.ok, r.diagnostics
    g = r.program.graphs["g"]
    job = g.input_schema["properties"]["job"]
    assert job == {"type": "object", "properties": {"name": {"type": "string"},
                                                    "tags": {"type": ["array", "null"], "items": {"type": "string"}}},
                   "required": ["name"], "additionalProperties": False}
    out = g.nodes["a"].output_schema["properties"]
    assert out["tasks"]["items"] == {"type": "object",
                                     "properties": {"title": {"type": "string"},
                                                    "criteria": {"type": "array", "items": {"type": "string"}}},
                                     "required": ["title", "criteria"], "additionalProperties": False}
    assert out["meta"]["anyOf"][1] == {"type": "null"}
