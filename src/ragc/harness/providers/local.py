"""The embedded local model: a GGUF run in-process by llama.cpp
(llama-cpp-python), no key and no network.

API reference: llama-cpp-python 0.3.36, https://llama-cpp-python.readthedocs.io/en/latest/api-reference/
(``Llama``, ``Llama.create_completion`` with ``stream=True``,
``LlamaGrammar.from_json_schema``).

* The model file comes from :mod:`ragc.harness.local_models` (``source``:
  a pinned model name, verified by SHA-256 before loading, or a path to your
  own ``.gguf``). One ``Llama`` instance per file is shared by every registry
  entry (and harness) in the process; it is loaded with ``n_threads =
  entry.threads`` and ``n_ctx`` = the largest ``context`` of the entries that
  share it. Each entry still refuses prompts beyond its own ``context``
  (``context_overflow``).
* The prompt is rendered with the GGUF's own chat template
  (``tokenizer.chat_template``) in a sandboxed Jinja2 environment, tools
  included when the template supports them (Qwen2.5 does). A model whose
  template has no tool support answers tool requests through the ReAct text
  protocol (:mod:`ragc.harness.providers.react`).
* Agent turns with tools are constrained by a GBNF grammar
  (:mod:`ragc.harness.providers.local_grammar`): the reply is well-formed
  calls of the request's tools (``<tool_call>`` blocks, a fenced or a bare
  JSON object) or a plain-text answer; only calls for ``tool_choice``
  ``"required"`` or a tool name; only an answer for ``"none"`` (the tools
  stay in the prompt so the cached prompt state is reused). The grammar
  decides the first token; an answer then runs free (see
  :meth:`LocalProvider._generate`). Replies are parsed by
  :func:`parse_tool_calls`.
* Structured output (a response schema, e.g. route labels) uses llama.cpp
  grammar-constrained decoding (``LlamaGrammar.from_json_schema``), so even a
  0.5B model returns valid JSON with a valid label.
* After tool results, a user message (:func:`nudge`) repeats the request and
  asks for an answer or a next call with arguments taken from the results:
  a 0.5B model otherwise repeats the call it just made or restates the
  question. Model ``params`` for small models: ``max_tool_turns`` (3) and
  ``finish_tools`` (``signal_completion``) make the model finish after a few
  calls; ``avoid_repeat`` re-samples a verbatim repeat of the previous turn;
  ``repeat_stop`` cuts a reply that repeats a sentence (:class:`RepeatGuard`);
  ``tool_grammar`` and ``parallel_tool_calls`` (see
  :meth:`LocalProvider.complete`).
* Evaluated prompts are kept in a RAM cache of llama.cpp states
  (``LlamaRAMCache``, 512 MiB): when parallel branches take turns on the one
  model, each resumes from its own conversation's state instead of
  re-processing its whole prompt (measured here: 3-9 s instead of 12-19 s per
  call for two interleaved 350-token conversations under load).
* Generation runs in a worker thread under a per-model lock (a llama.cpp
  context is not thread-safe), token by token; between tokens it checks a
  cancel flag, set when the calling task is cancelled, so a cancelled branch
  stops its generation at once, and the ``timeout`` (seconds, counted from
  when the model is free for the call: queueing behind parallel branches does
  not count). Prompt processing itself cannot be interrupted; both are
  checked from the first token on.
* Speed on 2 cores (Qwen2.5-Coder-0.5B Q4_K_M): load ~1 s, prompt
  ~150-200 tokens/s, generation ~40 tokens/s (~17 tokens/s under a grammar,
  which llama-cpp-python applies to the whole vocabulary at every token).
  ``max_tokens`` defaults to 512 and is capped by the context left after the
  prompt.
"""

from __future__ import annotations

import atexit
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from ragc.harness.errors import ConfigError, ProviderError
from ragc.harness.providers.base import ProviderContext
from ragc.harness.providers.local_grammar import GrammarError, answer_grammar, tool_turn_grammar
from ragc.harness.types import (DeltaCallback, Message, ModelRequest, ModelResponse, StreamDelta, ToolCall, ToolSpec,
                                Usage, new_id)
from ragc.registry.model import ModelEntry

DEFAULT_MAX_TOKENS = 512
DEFAULT_MAX_TOOL_TURNS = 3
"""Tool-call turns after which an ``"auto"`` turn must answer (model param
``max_tool_turns``; ``0`` or ``false``: no cap): a 0.5B model that has not
answered after a few calls goes on calling (searching and reading the same
things in turn) until ``max_iterations`` and ends with no answer."""
MAX_PARALLEL_CALLS = 4
"""Most tool calls one turn may hold with ``parallel_tool_calls = true``
(without it, one: a small model that chains calls in one turn guesses the
arguments of the later ones instead of reading the earlier results)."""
PROMPT_CACHE_BYTES = 512 * 1024 * 1024
"""Size of the per-model cache of evaluated prompt states (llama.cpp KV
state, about 12 KB per token for the 0.5B model)."""
INSTALL_HINT = "pip install 'ragc[local]' (llama-cpp-python, built from source), or run `make demo`"
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
"""Fallback template (ChatML) for a GGUF without ``tokenizer.chat_template``."""

TOOL_RESULT_NUDGE = ('Continue with my request: "{request}"\n{finish}If the tool results above are enough, answer it '
                     'in plain text{cite}; otherwise call another tool, with arguments (paths, names) taken from those '
                     'results.')
"""Appended after tool results when the model may call a tool or answer.
Small models otherwise repeat the call they just made, or restate the
question instead of answering; the request is repeated because a 0.5B model
loses it behind a few kilobytes of tool output."""

ANSWER_NUDGE = ('Using only the tool results above, answer my request: "{request}"\nReply in a few plain sentences, '
                'without code{cite}.')
"""Appended after tool results when no tool may be called (``tool_choice="none"``)."""

FINISH_HINT = "If the tool results show the task is done (or cannot be done), call `{tool}` now. "
"""Part of :data:`TOOL_RESULT_NUDGE` when a finish tool (model param ``finish_tools``) may be called."""
DEFAULT_FINISH_TOOLS = ("signal_completion",)
"""Tools that end a task (model param ``finish_tools``): named in the nudge,
and called instead of answering once ``max_tool_turns`` is reached (a 0.5B
worker otherwise writes and re-reads its file until ``max_iterations`` and
never says it is done)."""

FORCED_NUDGE = ('Continue with my request: "{request}"\nCall `{tool}` now, with arguments (paths, names) taken from '
                'the tool results above.')
"""Appended after tool results when a call is forced (``tool_choice`` a tool name or ``"required"``)."""

CITE_FILES = '. Start with "In {path}, "'
"""Part of :data:`ANSWER_NUDGE` when a file was read: ``path`` is the file
read last (see :func:`nudge`). A 0.5B model copies an example literally
("In <path>, ..."), and without one it lists search hits, so the real path
is given."""
CITE_SOURCES = ", and name the files or sources you used"
REQUEST_CHARS = 400
"""The request is quoted in a nudge up to this many characters."""

_FENCE_LINE = re.compile(r"^\s*```[a-zA-Z]*\s*$", re.M)
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FILE_PATH = re.compile(r"[^/\\]\.[A-Za-z0-9]+$")
_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')
_SAMPLING_KEYS = ("top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty", "seed",
                  "typical_p")


def nudge(kind: str, messages: list[Message], tool: str = "", finish: str = "") -> str:
    """The user message appended after tool results (:data:`TOOL_RESULT_NUDGE`,
    :data:`ANSWER_NUDGE` or :data:`FORCED_NUDGE` for ``kind`` ``"auto"``,
    ``"none"``, ``"forced"``), quoting the last user request (up to
    :data:`REQUEST_CHARS` characters). A final answer (``"none"``) is asked
    to start with the file it read (:data:`CITE_FILES`) when a successful
    call had a ``path`` argument naming a file (with an extension); nothing
    of the kind is shown while a tool may still be called (a 0.5B model
    copies it into the next call's arguments). ``finish``: a tool that ends
    the task, named in the ``"auto"`` nudge (:data:`FINISH_HINT`)."""
    request = next((" ".join(m.content.split()) for m in reversed(messages) if m.role == "user"), "")
    if len(request) > REQUEST_CHARS:
        request = request[: REQUEST_CHARS - 3] + "..."
    failed = {m.tool_call_id for m in messages if m.role == "tool" and m.is_error}
    read = [c.arguments["path"] for m in messages if m.role == "assistant" for c in m.tool_calls
            if isinstance(c.arguments.get("path"), str) and _FILE_PATH.search(c.arguments["path"])
            and c.id not in failed]
    cite = CITE_FILES.format(path=read[-1].replace('"', "'")) if kind == "none" and read else CITE_SOURCES
    template = {"auto": TOOL_RESULT_NUDGE, "none": ANSWER_NUDGE, "forced": FORCED_NUDGE}[kind]
    return template.format(request=request.replace('"', "'"), cite=cite, tool=tool or "a tool",
                           finish=FINISH_HINT.format(tool=finish) if finish else "")


def tool_turns(messages: list[Message]) -> int:
    """Assistant turns with tool calls since the last user message (the
    nudges are not part of the conversation, so they do not reset it)."""
    n = 0
    for m in reversed(messages):
        if m.role == "user":
            break
        if m.role == "assistant" and m.tool_calls:
            n += 1
    return n


def _repeated_tools(messages: list[Message], calls: list[ToolCall]) -> set[str]:
    """The names of ``calls`` when they repeat, name and arguments, the
    calls of the last assistant turn in ``messages`` (whose results follow
    it); else an empty set."""
    if not calls:
        return set()
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last is None or not last.tool_calls or messages[-1].role != "tool":
        return set()

    def key(cs: list[ToolCall]) -> list[str]:
        return sorted(json.dumps([c.name, c.arguments, c.raw_arguments], sort_keys=True, default=str) for c in cs)

    return {c.name for c in calls} if key(calls) == key(last.tool_calls) else set()


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, separators=None,
            sort_keys: bool = False) -> str:
    """Jinja ``tojson`` as Hugging Face chat templates expect it (no HTML escaping)."""
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys)


def compile_template(source: str):
    """A sandboxed Jinja2 template for a GGUF chat template.

    Raises:
        ConfigError: the template does not compile.
    """
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"the model's chat template does not compile: {exc}") from exc


def template_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages as chat-template dicts (OpenAI-like, arguments as objects)."""
    out = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.role == "assistant" and m.tool_calls:
            d["tool_calls"] = [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        if m.role == "tool":
            d["tool_call_id"] = m.tool_call_id
            d["name"] = m.name
            if m.is_error:
                d["content"] = f"[error] {m.content}"
        out.append(d)
    return out


SAME_RESULT = "(the same result as the identical call above; it is still there)"
"""Shown instead of a tool result that repeats an earlier one word for word."""


def dedupe_results(messages: list[Message], min_chars: int = 200) -> list[Message]:
    """``messages`` with every tool result of at least ``min_chars``
    characters that equals an earlier tool result replaced by
    :data:`SAME_RESULT`: a small model that reads the same file twice would
    otherwise pay for it twice (prompt processing, context) and lose the
    request further behind it. Earlier messages are unchanged, so the
    rendered prompt still starts like the previous turn's (cache reuse)."""
    seen: set[str] = set()
    out = []
    for m in messages:
        if m.role == "tool" and len(m.content) >= min_chars:
            if m.content in seen:
                m = m.model_copy(update={"content": SAME_RESULT})
            else:
                seen.add(m.content)
        out.append(m)
    return out


def template_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs in the OpenAI function format chat templates expect."""
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        # strict=False: small models put raw newlines in JSON strings (the code of a
        # write_file call); Python's json accepts control characters in strings then
        value = json.loads(text, strict=False)
    except json.JSONDecodeError:
        from ragc.harness.providers.react import _first_json_object

        value = _first_json_object(text)
    return value if isinstance(value, dict) else None


def _call_from(obj: dict[str, Any]) -> ToolCall:
    args = obj.get("arguments", obj.get("parameters", {}))
    raw = None
    if isinstance(args, str):
        parsed = _json_object(args)
        args, raw = (parsed, None) if parsed is not None else ({}, args)
    elif not isinstance(args, dict):
        args, raw = {}, json.dumps(args)
    return ToolCall(id=new_id("call"), name=str(obj.get("name", "")), arguments=args, raw_arguments=raw)


def parse_tool_calls(text: str, tool_names: set[str]) -> tuple[str, list[ToolCall]]:
    """(content, tool calls) from a completion.

    * ``<tool_call>`` blocks (Qwen/Hermes format): each is a call; a block
      whose JSON cannot be read becomes a call with ``raw_arguments`` (the
      model gets an error and may try again).
    * Else JSON objects ``{"name": ..., "arguments": {...}}`` (or
      ``"parameters"``) anywhere in the reply, fenced or bare (small models
      drop the tags): each is a call, the text before the first one being
      the content. A name that is not one of ``tool_names`` is kept as is,
      so the tool registry answers "unknown tool `X`. Available tools: ..."
      and the loop goes on, instead of ending with the call as the answer.
    * Else a reply that starts like a call (``{``, a code fence or
      ``<tool_call>``) and names a tool but is cut off (``max_tokens``)
      (no complete JSON object in it) becomes a call with ``raw_arguments``.
    * Anything else is the answer text, with no calls.
    """
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        content = text[: text.find("<tool_call>")].strip()
        calls = []
        for block in blocks:
            obj = _json_object(block)
            if obj is None:
                name_m = _NAME.search(block)
                calls.append(ToolCall(id=new_id("call"), name=name_m.group(1) if name_m else "", raw_arguments=block))
            else:
                calls.append(_call_from(obj))
        return content, calls
    objects = _json_objects(text)
    found = [(start, obj) for start, obj in objects
             if isinstance(obj.get("name"), str) and obj["name"]
             and ("arguments" in obj or "parameters" in obj or obj["name"] in tool_names)]
    if found:
        content = _FENCE_LINE.sub("", text[: found[0][0]]).strip()
        return content, [_call_from(obj) for _, obj in found]
    stripped = text.strip()
    if not objects and stripped.startswith(("{", "```", "<tool_call>")):
        name_m = _NAME.search(stripped)
        if name_m:
            return "", [ToolCall(id=new_id("call"), name=name_m.group(1), raw_arguments=stripped)]
    return stripped, []


def _json_objects(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Every top-level ``{...}`` in ``text`` that parses as a JSON object, with its offset."""
    decoder = json.JSONDecoder(strict=False)  # raw newlines in strings, as in _json_object
    out: list[tuple[int, dict[str, Any]]] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            out.append((i, obj))
        i = text.find("{", end)
    return out


def forced_call_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    """The JSON schema of a tool call object for grammar-forced calling."""
    variants = [{"type": "object", "properties": {"name": {"const": t.name}, "arguments": t.parameters},
                 "required": ["name", "arguments"]} for t in tools]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


CALL_STARTS = "{[<`"
"""First characters of a reply that is (or writes) a tool call rather than an answer."""
ANSWER_STOPS = ("```", "<tool_call>")
"""Where a free-running answer stops (see :meth:`LocalProvider._generate`)."""

REPEAT_MIN_CHARS = 40
"""Shortest sentence (characters, whitespace collapsed) whose verbatim
repetition stops a free-text reply (:class:`RepeatGuard`)."""

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


class RepeatGuard:
    """Watches a streamed free-text reply and reports when it repeats a
    sentence it already wrote.

    A 0.5B model that has said what it knows often starts again from an
    earlier sentence and loops until ``max_tokens`` (minutes on 2 cores).
    Sentences end at ``.``/``!``/``?`` before whitespace or at a newline;
    one of at least ``min_chars`` characters (case and whitespace ignored)
    seen before is a repeat. Short lines (list bullets, code) never count,
    and a reply that starts like JSON, a tag or a code fence (a tool call,
    code) is never cut.

    Args:
        min_chars: see :data:`REPEAT_MIN_CHARS`.
    """

    def __init__(self, min_chars: int = REPEAT_MIN_CHARS):
        self.min_chars = min_chars
        self.text = ""
        self._start = 0
        self._seen: set[str] = set()
        self._off = False

    def feed(self, piece: str) -> int | None:
        """Add ``piece``; returns the offset in :attr:`text` where the
        repeated sentence starts (cut the reply there), or ``None``."""
        self.text += piece
        if self._off:
            return None
        head = self.text.lstrip()
        if head and head[0] in "{[<`":
            self._off = True
            return None
        while True:
            m = _SENTENCE_END.search(self.text, self._start)
            if m is None:
                return None
            sentence = " ".join(self.text[self._start:m.end()].lower().split())
            if len(sentence) >= self.min_chars:
                if sentence in self._seen:
                    return self._start
                self._seen.add(sentence)
            self._start = m.end()


@dataclass
class _Engine:
    """One loaded GGUF shared by every entry that uses it."""

    path: Path
    llm: Any
    template: Any
    supports_tools: bool
    n_ctx: int
    bos: str
    eos: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)


_ENGINES: dict[str, _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _token_text(llm: Any, token_id: Any) -> str:
    try:
        return llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="ignore")
    except Exception:
        return ""


def _load_engine(path: Path, n_ctx: int, threads: int) -> _Engine:
    """Load (or reuse) the engine for ``path``; runs in a worker thread.

    Raises:
        ProviderError: ``unavailable`` when llama-cpp-python is missing or the
            file cannot be loaded.
    """
    key = str(path.resolve())
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            return engine
        try:
            from llama_cpp import Llama, LlamaRAMCache
        except ImportError:
            raise ProviderError("llama-cpp-python is not installed, so the embedded local model cannot run",
                                kind="unavailable", provider="local", hint=INSTALL_HINT) from None
        try:
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                        verbose=False)
        except Exception as exc:
            raise ProviderError(f"llama.cpp cannot load {path}: {exc}", kind="unavailable", provider="local",
                                hint="is it a valid GGUF file? re-install the model") from exc
        llm.set_cache(LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
        meta = getattr(llm, "metadata", {}) or {}
        source = meta.get("tokenizer.chat_template") or CHATML_TEMPLATE
        bos = _token_text(llm, meta.get("tokenizer.ggml.bos_token_id", llm.token_bos()))
        eos = _token_text(llm, meta.get("tokenizer.ggml.eos_token_id", llm.token_eos()))
        engine = _Engine(path=path, llm=llm, template=compile_template(source), supports_tools="tools" in source,
                         n_ctx=n_ctx, bos=bos, eos=eos)
        if not _ENGINES:
            # Free models while the interpreter is intact: llama-cpp-python's
            # own __del__ fails during interpreter teardown (its ctypes
            # functions are already gone) and prints a traceback.
            atexit.register(unload_all)
        _ENGINES[key] = engine
        return engine


def unload_all() -> None:
    """Free every loaded local model (the next call loads it again)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            with engine.lock:
                close = getattr(engine.llm, "close", None)
                if close is not None:
                    close()
        _ENGINES.clear()


@dataclass
class _Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class LocalProvider:
    """One registry entry over an embedded llama.cpp model (see the module doc).

    Args:
        name: registry name.
        entry: ``source`` (default ``qwen2.5-coder-0.5b``), ``threads``,
            ``context``, ``params``, ``timeout``.
        ctx: ``extra["n_ctx"]``: context to load the shared model with.
    """

    provider = "local"

    def __init__(self, name: str, entry: ModelEntry, ctx: ProviderContext):
        self.name = name
        self.entry = entry
        self.source = entry.source or "qwen2.5-coder-0.5b"
        self.n_ctx = int(ctx.extra.get("n_ctx", entry.context))
        self.base_dir = ctx.base_dir
        self._engine: _Engine | None = None

    def _model_path(self) -> Path:
        from ragc.harness import local_models

        source = self.source
        if local_models.is_path_source(source) and not Path(source).expanduser().is_absolute():
            source = str(self.base_dir / source)
        try:
            return local_models.ensure_model(source, download=False)
        except ConfigError as exc:
            raise ProviderError(f"local model `{self.name}`: {exc}", kind="unavailable", provider=self.provider,
                                model=self.name, hint=exc.hint) from None

    async def engine(self) -> _Engine:
        """The loaded shared engine (loads it in a worker thread the first time).

        Raises:
            ProviderError: ``unavailable`` (llama-cpp-python missing, model not
                installed, hash mismatch, unloadable file).
        """
        if self._engine is None:
            path = await anyio.to_thread.run_sync(self._model_path)
            self._engine = await anyio.to_thread.run_sync(_load_engine, path, self.n_ctx, self.entry.threads)
        return self._engine

    def render(self, engine: _Engine, messages: list[Message], tools: list[ToolSpec]) -> str:
        """The prompt text for ``messages`` (and ``tools``) by the model's chat template.

        Raises:
            ProviderError: ``bad_request`` when the template rejects the conversation.
        """
        from jinja2 import TemplateError

        try:
            return engine.template.render(messages=template_messages(dedupe_results(messages)),
                                          tools=template_tools(tools) if tools else None,
                                          add_generation_prompt=True, bos_token=engine.bos, eos_token=engine.eos)
        except TemplateError as exc:
            raise ProviderError(f"local model `{self.name}`: the chat template rejected the messages: {exc}",
                                kind="bad_request", provider=self.provider, model=self.name) from exc

    def _grammar(self, engine: _Engine, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        grammar = engine.grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as exc:
                raise ProviderError(f"local model `{self.name}`: cannot build a grammar for the schema: {exc}",
                                    kind="bad_request", provider=self.provider, model=self.name) from exc
            engine.grammars[key] = grammar
        return grammar

    def _generate(self, engine: _Engine, prompt: str, options: dict[str, Any], grammar: Any, cancel: threading.Event,
                  on_delta: DeltaCallback | None, timeout_s: float, guard: "RepeatGuard | None" = None,
                  decide_only: bool = False) -> _Generation:
        """Runs in a worker thread: wait for the model, tokenize, check the
        context, stream tokens until done, cancelled, ``timeout_s`` after
        the model became free (waiting for other calls does not count), or
        until ``guard`` sees the text repeat a sentence (the text is cut
        before the repeat; finish reason ``"repeat"``).

        With ``decide_only``, ``grammar`` (a tool-turn or answer grammar)
        constrains the first token only when that token starts a plain-text
        answer: the answer then goes on without a grammar (llama-cpp-python
        applies a grammar to the whole vocabulary at every token, which
        halves the generation speed on 2 cores) and stops at a code fence or
        a ``<tool_call>`` tag (:data:`ANSWER_STOPS`), the two things the
        answer rule of the grammar forbids later on. A first token that
        starts a call is discarded and the reply is generated again from the
        same (cached) prompt under the grammar throughout.

        Raises:
            ProviderError: ``context_overflow``; ``timeout``.
        """
        with engine.lock:
            if cancel.is_set():
                return _Generation(text="", prompt_tokens=0, completion_tokens=0, finish_reason="cancelled")
            deadline = time.monotonic() + timeout_s
            llm = engine.llm
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            limit = min(self.entry.context, engine.n_ctx)
            room = limit - len(tokens)
            if room < 16:
                raise ProviderError(
                    f"local model `{self.name}`: the prompt has {len(tokens)} tokens, the context window "
                    f"is {limit}", kind="context_overflow", provider=self.provider, model=self.name)
            max_tokens = max(1, min(int(options.pop("max_tokens")), room))
            pieces: list[str] = []

            def emit(piece: str) -> bool:
                """Keep ``piece``; False when the guard cut the reply."""
                pieces.append(piece)
                if guard is not None:
                    cut = guard.feed(piece)
                    if cut is not None:
                        pieces[:] = [guard.text[:cut].rstrip()]
                        return False
                if on_delta is not None:
                    try:
                        anyio.from_thread.run_sync(on_delta, StreamDelta(text=piece))
                    except RuntimeError:
                        pass
                return True

            def check_deadline() -> None:
                if time.monotonic() > deadline:
                    raise ProviderError(
                        f"local model `{self.name}`: no complete reply within {timeout_s:g}s "
                        f"({len(tokens)} prompt tokens, {len(pieces)} generated)", kind="timeout",
                        provider=self.provider, model=self.name,
                        hint="shorten the prompt, lower max_tokens or raise `timeout` "
                             "(2 cores: ~150 prompt tokens/s, ~40 generated tokens/s)")

            def run(prompt_tokens: list[int], n: int, use_grammar: Any, opts: dict[str, Any]) -> str:
                finish = "stop"
                stream = llm.create_completion(prompt=prompt_tokens, max_tokens=n, stream=True, grammar=use_grammar,
                                               **opts)
                try:
                    for chunk in stream:
                        if cancel.is_set():
                            return "cancelled"
                        check_deadline()
                        choice = chunk["choices"][0]
                        piece = choice.get("text") or ""
                        if piece and not emit(piece):
                            return "repeat"
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()
                return finish

            if decide_only and grammar is not None:
                first = llm.create_completion(prompt=tokens, max_tokens=1, grammar=grammar, **options)
                check_deadline()
                head = first["choices"][0].get("text") or ""
                if cancel.is_set():
                    finish = "cancelled"
                elif head.strip() and head.lstrip()[0] not in CALL_STARTS:
                    stop = list(dict.fromkeys([*options.get("stop", []), *ANSWER_STOPS]))
                    if not emit(head):
                        finish = "repeat"
                    elif max_tokens <= 1:
                        finish = "length"
                    else:
                        rest = llm.tokenize(head.encode("utf-8"), add_bos=False, special=True)
                        finish = run(tokens + rest, max_tokens - 1, None, {**options, "stop": stop})
                else:
                    finish = run(tokens, max_tokens, grammar, options)
            else:
                finish = run(tokens, max_tokens, grammar, options)
            text = "".join(pieces)
            completion = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0
            return _Generation(text=text, prompt_tokens=len(tokens), completion_tokens=completion,
                               finish_reason=finish)

    def _options(self, request: ModelRequest) -> dict[str, Any]:
        params = {**self.entry.params, **request.params}
        options: dict[str, Any] = {
            "max_tokens": request.max_tokens or params.get("max_tokens") or DEFAULT_MAX_TOKENS,
            "temperature": request.temperature if request.temperature is not None else params.get("temperature", 0.2),
        }
        stop = request.stop or params.get("stop")
        if stop:
            options["stop"] = list(stop) if isinstance(stop, (list, tuple)) else [stop]
        for key in _SAMPLING_KEYS:
            if key in params:
                options[key] = params[key]
        return options

    def _tool_grammar(self, engine: _Engine, tools: list[ToolSpec], answer: bool, max_calls: int) -> Any:
        """The cached GBNF grammar of a turn with ``tools``
        (:func:`ragc.harness.providers.local_grammar.tool_turn_grammar`),
        or ``None`` when a schema cannot be converted and an answer is
        allowed (the reply is then parsed leniently).

        Raises:
            ProviderError: ``bad_request`` when a forced call's grammar
                cannot be built at all.
        """
        key = json.dumps(["tool-turn", [[t.name, t.parameters] for t in tools], answer, max_calls], sort_keys=True)
        grammar = engine.grammars.get(key)
        if grammar is None:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_string(tool_turn_grammar(tools, answer=answer, max_calls=max_calls),
                                                   verbose=False)
            except GrammarError:
                if answer:
                    return None
                return self._grammar(engine, forced_call_schema(tools))
            engine.grammars[key] = grammar
        return grammar

    def _answer_grammar(self, engine: _Engine) -> Any:
        """The cached grammar of a plain-text answer (tools shown, none callable)."""
        grammar = engine.grammars.get("answer")
        if grammar is None:
            from llama_cpp import LlamaGrammar

            grammar = engine.grammars["answer"] = LlamaGrammar.from_string(answer_grammar(), verbose=False)
        return grammar

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """Generate one reply with the embedded model.

        With tools (``tool_choice`` not ``"none"``) and a template that
        supports them, decoding is constrained by a tool-turn grammar
        (:mod:`ragc.harness.providers.local_grammar`): the reply is either
        well-formed calls of the request's tools or a plain-text answer
        (only calls when ``tool_choice`` is ``"required"`` or a tool name).
        With ``tool_choice="none"`` the tools stay in the prompt and only an
        answer is allowed. Model ``params``:

        * ``tool_grammar = false``: no grammar for ``"auto"`` (lenient
          parsing only);
        * ``parallel_tool_calls = true``: up to :data:`MAX_PARALLEL_CALLS`
          calls a turn (default one);
        * ``max_tool_turns`` (:data:`DEFAULT_MAX_TOOL_TURNS`; 0: no cap):
          after that many tool-call turns an ``"auto"`` turn calls the first
          finish tool offered, else answers;
        * ``finish_tools`` (:data:`DEFAULT_FINISH_TOOLS`): tools that end a
          task, named in the nudge and forced at the cap;
        * ``avoid_repeat = false``: keep a reply that repeats the previous
          turn's calls (by default it is sampled once more without them);
        * ``repeat_stop = false``: turn off :class:`RepeatGuard`.

        Raises:
            ProviderError: ``unavailable`` (not installed), ``context_overflow``,
                ``timeout`` (``timeout`` seconds after the model became free
                for this call; generation is stopped), ``bad_request``
                (template or grammar problems).
        """
        engine = await self.engine()
        callable_tools = list(request.tools) if request.tool_choice != "none" else []
        if callable_tools and not engine.supports_tools and request.response_schema is None:
            from ragc.harness.providers.react import ReactProvider

            return await ReactProvider(self).complete(request, on_delta=on_delta)
        # tools stay in the prompt even when they may not be called (tool_choice "none", structured
        # output), so the prompt starts like the agent's earlier calls and its cached state is reused
        shown = list(request.tools) if engine.supports_tools else []
        params = {**self.entry.params, **request.params}
        max_calls = MAX_PARALLEL_CALLS if params.get("parallel_tool_calls") else 1
        grammar = None
        messages = list(request.messages)
        finish_names = params.get("finish_tools", DEFAULT_FINISH_TOOLS) or ()
        finish_tools = [t for t in callable_tools if t.name in finish_names]
        tool_choice = request.tool_choice
        turns_cap = params.get("max_tool_turns", DEFAULT_MAX_TOOL_TURNS)
        if callable_tools and tool_choice == "auto" and turns_cap and tool_turns(messages) >= int(turns_cap):
            # enough calls: the model finishes now, with a finish tool if it has one, else an answer
            # (the tools stay in the prompt either way)
            if finish_tools:
                tool_choice = finish_tools[0].name
            else:
                callable_tools = []
        if request.response_schema is not None:
            callable_tools = []
            grammar = self._grammar(engine, request.response_schema)
            hint = "Reply with JSON only, matching this JSON schema: " + json.dumps(request.response_schema)
            if messages and messages[-1].role == "user":
                messages[-1] = messages[-1].model_copy(update={"content": messages[-1].content + "\n\n" + hint})
            else:
                messages.append(Message(role="user", content=hint))
        elif callable_tools:
            forced = tool_choice not in ("auto", "none")
            chosen = ([t for t in callable_tools if t.name == tool_choice] or callable_tools) if forced \
                else callable_tools
            if forced or params.get("tool_grammar", True):
                grammar = self._tool_grammar(engine, chosen, answer=not forced, max_calls=max_calls)
            if messages and messages[-1].role == "tool":
                kind = "forced" if forced else "auto"
                tool = chosen[0].name if forced and len(chosen) == 1 else ""
                finish = finish_tools[0].name if finish_tools and not forced else ""
                messages.append(Message(role="user", content=nudge(kind, messages, tool, finish)))
        elif shown:
            grammar = self._answer_grammar(engine)
            if messages and messages[-1].role == "tool":
                messages.append(Message(role="user", content=nudge("none", messages)))
        prompt = self.render(engine, messages, shown)
        options = self._options(request)
        timeout_s = float(request.timeout_s or self.entry.timeout)

        async def generate(grammar: Any) -> _Generation:
            guard = RepeatGuard() if request.response_schema is None and params.get("repeat_stop", True) else None
            # a grammar that allows an answer only needs to decide the first token (see _generate)
            decide = request.response_schema is None and tool_choice in ("auto", "none")
            cancel = threading.Event()
            try:
                return await anyio.to_thread.run_sync(self._generate, engine, prompt, dict(options), grammar, cancel,
                                                      on_delta, timeout_s, guard, decide, abandon_on_cancel=True)
            except BaseException:
                cancel.set()
                raise

        gen = await generate(grammar)
        response = self._response(request, gen, callable_tools)
        repeated = _repeated_tools(request.messages, response.message.tool_calls)
        if repeated and tool_choice == "auto" and params.get("avoid_repeat", True):
            # the same call(s) as the turn before: the loop would not run them again, so sample once
            # more (from the cached prompt) without those tools
            rest = [t for t in callable_tools if t.name not in repeated]
            retry_grammar = self._tool_grammar(engine, rest, answer=True, max_calls=max_calls) if rest \
                else self._answer_grammar(engine)
            if retry_grammar is not None:
                again = await generate(retry_grammar)
                retried = self._response(request, again, rest)
                usage = retried.usage.model_copy(update={
                    "output_tokens": retried.usage.output_tokens + response.usage.output_tokens})
                response = retried.model_copy(update={"usage": usage})
        return response

    def _response(self, request: ModelRequest, gen: _Generation, tools: list[ToolSpec]) -> ModelResponse:
        usage = Usage(input_tokens=gen.prompt_tokens, output_tokens=gen.completion_tokens)
        finish = "length" if gen.finish_reason == "length" else "stop"
        if request.response_schema is not None:
            try:
                structured = json.loads(gen.text)
            except json.JSONDecodeError:
                raise ProviderError(f"local model `{self.name}`: structured reply is not JSON "
                                    f"(finish: {gen.finish_reason}): {gen.text[:200]!r}", kind="malformed",
                                    provider=self.provider, model=self.name,
                                    hint="raise max_tokens so the JSON can be completed") from None
            return ModelResponse(message=Message(role="assistant", content=gen.text.strip()), usage=usage,
                                 model=self.name, provider_model=self.source, finish_reason=finish,
                                 structured=structured)
        if tools:
            content, calls = parse_tool_calls(gen.text, {t.name for t in tools})
        else:
            content, calls = gen.text.strip(), []
        return ModelResponse(message=Message(role="assistant", content=content, tool_calls=calls), usage=usage,
                             model=self.name, provider_model=self.source,
                             finish_reason="tool_calls" if calls else finish)

    async def aclose(self) -> None:
        """The shared engine stays loaded (see :func:`unload_all`)."""
        self._engine = None
