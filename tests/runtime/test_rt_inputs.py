"""Run-input validation: defaults, problems, bounded messages, lazy paths."""

from __future__ import annotations

import pytest

from ragc.runtime.errors import RunError
from ragc.runtime.inputs import MAX_REPORTED_PROBLEMS, parse_cli_inputs, validate_input

SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "depth": {"type": "integer", "default": 2},
        "tags": {"type": "array", "items": {"type": "string"}},
        "big": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
    },
    "required": ["question"],
}


def test_defaults_and_optional_fields_are_filled():
    out = validate_input(SCHEMA, {"question": "q"})
    assert out == {"question": "q", "depth": 2, "tags": None, "big": None}


def test_each_problem_names_its_path():
    with pytest.raises(RunError) as e:
        validate_input(SCHEMA, {"question": 3, "tags": ["a", 4], "big": [{}, "x"], "typo": 1})
    msg = e.value.message
    assert e.value.code == "E0912"
    for part in ("`question` must be a string", "`tags[1]` must be a string", "`big[1]` must be an object",
                 "unknown field `typo`"):
        assert part in msg


def test_a_huge_invalid_input_gives_a_bounded_message():
    items = {"type": "object", "properties": {"id": {"type": "string"}}}
    schema = {"type": "object", "properties": {"big": {"type": "array", "items": items}}}
    with pytest.raises(RunError) as e:
        validate_input(schema, {"big": [{"id": i} for i in range(10_000)]})
    msg = e.value.message
    assert msg.count("must be a string") == MAX_REPORTED_PROBLEMS
    assert msg.endswith(f"and {10_000 - MAX_REPORTED_PROBLEMS} more")
    assert "`big[9].id`" in msg


def test_cli_values_parse_as_json_except_for_string_fields():
    assert parse_cli_inputs(["question=5", "depth=5", "tags=[\"a\"]"], SCHEMA) == {
        "question": "5", "depth": 5, "tags": ["a"]}


def test_output_problems_name_missing_and_mistyped_fields():
    from ragc.runtime.inputs import output_problems

    schema = {"type": "object", "properties": {"verdict": {"type": "string"}, "score": {"type": ["integer", "null"]},
                                               "notes": {"type": "array", "items": {"type": "string"}}}}
    assert output_problems(schema, {"verdict": "merge", "score": None, "notes": ["a"]}) == []
    assert output_problems(None, {"anything": 1}) == []
    problems = output_problems(schema, {"verdict": None, "score": 3, "notes": ["a", 2]})
    assert problems == ["`verdict` must be a string, got null", "`notes[1]` must be a string, got an integer"]
