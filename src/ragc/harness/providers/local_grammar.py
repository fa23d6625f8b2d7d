"""GBNF grammars that make every agent turn of the embedded local model
either a well-formed tool call or a plain-text answer.

A small model (Qwen2.5-Coder-0.5B) asked to use tools often writes the call
as text (a fenced JSON block, a JSON object naming the task instead of a
tool, arguments that do not match the tool), so no tool runs. llama.cpp can
constrain decoding with a GBNF grammar: at each step only tokens that keep
the output inside the grammar may be sampled, and the end-of-generation
token only once the output is complete. :func:`tool_turn_grammar` builds
one grammar per set of tools::

    root        ::= tool-calls | answer
    tool-calls  ::= tool-call ("\\n" tool-call){0,N-1}
    tool-call   ::= "<tool_call>\\n" call "\\n</tool_call>"
    call        ::= call-0 | call-1 | ...
    call-0      ::= "{\\"name\\": \\"search\\", \\"arguments\\": " search-args "}"
    search-args ::= (the tool's JSON schema as GBNF)
    answer      ::= answer-start answer-char*

* The call format is Qwen2.5's own (``<tool_call>`` blocks, as its chat
  template describes them), so the model's most likely tokens stay allowed;
  the ``name`` can only be one of the request's tools and ``arguments`` only
  an object matching that tool's ``parameters`` schema (converted by
  llama-cpp-python's ``SchemaConverter``, the code behind
  ``LlamaGrammar.from_json_schema``).
* An answer may not start with ``{``, ``[``, ``<``, a backtick or
  whitespace, and may not contain ``<t`` (so no ``<tool_call>`` inside it)
  or a code fence: the ways a small model writes a call as text are closed,
  and the model has to choose between a real call and prose at its first
  token.

References: llama.cpp GBNF guide,
https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md ;
llama-cpp-python ``LlamaGrammar.from_string`` / ``from_json_schema``,
https://llama-cpp-python.readthedocs.io/en/latest/api-reference/#llama_cpp.LlamaGrammar ;
Qwen2.5 function calling format,
https://qwen.readthedocs.io/en/latest/framework/function_call.html .
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from ragc.harness.types import ToolSpec

ANSWER_START = r"[^\x00-\x20{\[<`]"
"""First character of a plain-text answer: not whitespace, ``{``, ``[``,
``<`` or a backtick (JSON, tool-call tags and code fences are the shapes a
small model uses to write a call as text)."""

ANSWER_CHAR = r'[^<`\x00] | "<" [^t`\x00] | "`" [^`\x00] | "``" [^`\x00]'
"""Any later character of an answer, except ``<`` followed by ``t`` (so the
``<tool_call>`` token, or the tag spelled out, cannot appear in an answer)
and three backticks (a code fence: a small model that fences code in an
answer dumps the file it read, or writes a call as text). Inline code in
single or double backticks stays possible."""

_RULE_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
_RULE_DEF = re.compile(r"^([a-zA-Z0-9-]+) ::= ", re.M)


class GrammarError(ValueError):
    """A tool's parameters schema cannot be turned into a grammar."""


def _literal(text: str) -> str:
    """A GBNF string literal for ``text`` (``"`` and ``\\`` escaped, control
    characters as ``\\n``/``\\t``/``\\xNN``)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def arguments_rules(tools: Sequence[ToolSpec]) -> tuple[list[str], dict[str, str]]:
    """GBNF rules for the arguments of each tool.

    Returns:
        (the rule name of each tool's arguments, in order; every rule by
        name). The rules come from llama-cpp-python's JSON-schema converter,
        one converter for all tools so the shared primitives (``string``,
        ``char``, ``space``...) are defined once.

    Raises:
        GrammarError: llama-cpp-python is missing, or a schema uses something
            the converter does not support (remote ``$ref``...).
    """
    try:
        from llama_cpp.llama_grammar import SchemaConverter
    except ImportError as exc:  # pragma: no cover - the local provider checks this first
        raise GrammarError("llama-cpp-python is not installed") from exc
    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    names: list[str] = []
    for i, tool in enumerate(tools):
        schema = tool.parameters or {"type": "object"}
        if not isinstance(schema, dict):
            raise GrammarError(f"tool `{tool.name}`: parameters must be a JSON schema object")
        if not schema.get("properties") and schema.get("type", "object") == "object" \
                and "additionalProperties" not in schema:
            schema = {**schema, "type": "object"}
        try:
            resolved = converter.resolve_refs(json.loads(json.dumps(schema)), f"tool-{i}")
            names.append(converter.visit(resolved, f"args{i}-{_RULE_CHARS.sub('-', tool.name)}"))
        except Exception as exc:  # the converter asserts and raises various errors
            raise GrammarError(f"tool `{tool.name}`: cannot turn its parameters into a grammar: {exc}") from exc
    rules: dict[str, str] = {}
    for line in converter.format_grammar().splitlines():
        m = _RULE_DEF.match(line)
        if m:
            rules[m.group(1)] = line[m.end():]
    return names, rules


SPACE = r'( " " | "\n" [ ]{0,12} )?'
"""Whitespace between JSON tokens: one space, or a newline and up to 12
spaces of indentation (pretty-printed JSON, as the model likes to write it
in a fence), never an unbounded run."""


def tool_turn_grammar(tools: Sequence[ToolSpec], *, answer: bool = True, max_calls: int = 1) -> str:
    """The GBNF grammar of one agent turn with ``tools`` (see the module doc).

    Args:
        tools: the tools the model may call (at least one); names are used
            verbatim as JSON string constants.
        answer: allow a plain-text answer instead of a call (``False``
            forces a call, for ``tool_choice="required"`` or a tool name).
        max_calls: the most calls one turn may hold (>= 1).

    Returns:
        The grammar text, start rule ``root``, for
        ``llama_cpp.LlamaGrammar.from_string``.

    Raises:
        GrammarError: no tools, ``max_calls < 1``, or a schema the converter
            cannot handle.
    """
    if not tools:
        raise GrammarError("a tool-call grammar needs at least one tool")
    if max_calls < 1:
        raise GrammarError(f"max_calls must be at least 1, not {max_calls}")
    arg_rules, rules = arguments_rules(tools)
    rules["space"] = SPACE
    more = (lambda item: f'{item} ("\\n" {item}){{0,{max_calls - 1}}}') if max_calls > 1 else (lambda item: item)
    lines = [
        "root ::= " + " | ".join(["tool-calls", *(["answer"] if answer else [])]),
        "tool-calls ::= tagged-calls | fenced-calls | bare-calls",
        "tagged-calls ::= " + more("tagged-call"),
        'tagged-call ::= "<tool_call>\\n" call "\\n</tool_call>"',
        'fenced-calls ::= "```" "json"? "\\n" ' + more("call") + ' "\\n```"',
        "bare-calls ::= " + more("call"),
        "call ::= " + " | ".join(f"call-{i}" for i in range(len(tools))),
    ]
    for i, (tool, args) in enumerate(zip(tools, arg_rules)):
        lines.append(f'call-{i} ::= "{{" space "\\"name\\"" space ":" space {_literal(json.dumps(tool.name))} space '
                     f'"," space "\\"arguments\\"" space ":" space {args} "}}"')
    if answer:
        lines.append("answer ::= answer-start answer-char*")
        lines.append(f"answer-start ::= {ANSWER_START}")
        lines.append(f"answer-char ::= {ANSWER_CHAR}")
    own = {line.split(" ::= ", 1)[0] for line in lines}
    clash = own & set(rules)
    if clash:
        raise GrammarError(f"rule names clash with the schema rules: {', '.join(sorted(clash))}")
    lines.extend(f"{name} ::= {body}" for name, body in sorted(rules.items()))
    return "\n".join(lines) + "\n"


def answer_grammar() -> str:
    """The GBNF grammar of a plain-text answer only (``tool_choice="none"``
    while the tools stay in the prompt): the ``answer`` rule of
    :func:`tool_turn_grammar` as the root."""
    return (f"root ::= answer-start answer-char*\nanswer-start ::= {ANSWER_START}\n"
            f"answer-char ::= {ANSWER_CHAR}\n")
