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
  included when the template supports them (Qwen2.5 does). Tool calls are
  parsed from ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  blocks. A model whose template has no tool support answers tool requests
  through the ReAct text protocol (:mod:`ragc.harness.providers.react`).
* Structured output (a response schema, e.g. route labels) and forced tool
  calls (``tool_choice`` ``"required"`` or a tool name) use llama.cpp
  grammar-constrained decoding (``LlamaGrammar.from_json_schema``), so even a
  0.5B model returns valid JSON with a valid label.
* After tool results, a short user message asks the model to answer from
  them (:data:`TOOL_RESULT_NUDGE`): without it a 0.5B model tends to repeat
  the tool call it just made.
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
  ~150-200 tokens/s, generation ~40 tokens/s. ``max_tokens`` defaults to 512
  and is capped by the context left after the prompt.
"""

from __future__ import annotations

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
from ragc.harness.types import (DeltaCallback, Message, ModelRequest, ModelResponse, StreamDelta, ToolCall, ToolSpec,
                                Usage, new_id)
from ragc.registry.model import ModelEntry

DEFAULT_MAX_TOKENS = 512
PROMPT_CACHE_BYTES = 512 * 1024 * 1024
"""Size of the per-model cache of evaluated prompt states (llama.cpp KV
state, about 12 KB per token for the 0.5B model)."""
INSTALL_HINT = "pip install 'ragc[local]' (llama-cpp-python, built from source), or run `make demo`"
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
"""Fallback template (ChatML) for a GGUF without ``tokenizer.chat_template``."""

TOOL_RESULT_NUDGE = ("Use the tool results above to answer my request. If they answer it, reply in plain text, "
                     "not JSON; call another tool only if you still need information.")
"""Appended after tool results: small models otherwise tend to repeat the call they just made."""

_FENCE_LINE = re.compile(r"^\s*```[a-zA-Z]*\s*$", re.M)
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_SAMPLING_KEYS = ("top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty", "seed",
                  "typical_p")


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


def template_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs in the OpenAI function format chat templates expect."""
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
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
    """(content, tool calls) from a completion: ``<tool_call>`` blocks
    (Qwen/Hermes format); else JSON objects ``{"name": <a known tool>,
    "arguments": {...}}`` anywhere in the reply (small models drop the tags
    or wrap the call in a code fence), the text before the first one being
    the content. A block whose JSON cannot be read becomes a call with
    ``raw_arguments`` so the model gets an error."""
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        content = text[: text.find("<tool_call>")].strip()
        calls = []
        for block in blocks:
            obj = _json_object(block)
            if obj is None:
                name_m = re.search(r'"name"\s*:\s*"([^"]+)"', block)
                calls.append(ToolCall(id=new_id("call"), name=name_m.group(1) if name_m else "", raw_arguments=block))
            else:
                calls.append(_call_from(obj))
        return content, calls
    found = [(start, obj) for start, obj in _json_objects(text)
             if obj.get("name") in tool_names and ("arguments" in obj or "parameters" in obj)]
    if found:
        content = _FENCE_LINE.sub("", text[: found[0][0]]).strip()
        return content, [_call_from(obj) for _, obj in found]
    return text.strip(), []


def _json_objects(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Every top-level ``{...}`` in ``text`` that parses as a JSON object, with its offset."""
    decoder = json.JSONDecoder()
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
            return engine.template.render(messages=template_messages(messages),
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
                  on_delta: DeltaCallback | None, timeout_s: float) -> _Generation:
        """Runs in a worker thread: wait for the model, tokenize, check the
        context, stream tokens until done, cancelled, or ``timeout_s`` after
        the model became free (waiting for other calls does not count).

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
            finish = "stop"
            stream = llm.create_completion(prompt=tokens, max_tokens=max_tokens, stream=True, grammar=grammar,
                                           **options)
            try:
                for chunk in stream:
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    if time.monotonic() > deadline:
                        raise ProviderError(
                            f"local model `{self.name}`: no complete reply within {timeout_s:g}s "
                            f"({len(tokens)} prompt tokens, {len(pieces)} generated)", kind="timeout",
                            provider=self.provider, model=self.name,
                            hint="shorten the prompt, lower max_tokens or raise `timeout` "
                                 "(2 cores: ~150 prompt tokens/s, ~40 generated tokens/s)")
                    choice = chunk["choices"][0]
                    piece = choice.get("text") or ""
                    if piece:
                        pieces.append(piece)
                        if on_delta is not None:
                            try:
                                anyio.from_thread.run_sync(on_delta, StreamDelta(text=piece))
                            except RuntimeError:
                                pass
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
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

    async def complete(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelResponse:
        """Generate one reply with the embedded model.

        Raises:
            ProviderError: ``unavailable`` (not installed), ``context_overflow``,
                ``timeout`` (``timeout`` seconds after the model became free
                for this call; generation is stopped), ``bad_request``
                (template or grammar problems).
        """
        engine = await self.engine()
        tools = list(request.tools) if request.tool_choice != "none" else []
        if tools and not engine.supports_tools and request.response_schema is None:
            from ragc.harness.providers.react import ReactProvider

            return await ReactProvider(self).complete(request, on_delta=on_delta)
        grammar = None
        forced = False
        messages = list(request.messages)
        if request.response_schema is not None:
            tools = []
            grammar = self._grammar(engine, request.response_schema)
            hint = "Reply with JSON only, matching this JSON schema: " + json.dumps(request.response_schema)
            if messages and messages[-1].role == "user":
                messages[-1] = messages[-1].model_copy(update={"content": messages[-1].content + "\n\n" + hint})
            else:
                messages.append(Message(role="user", content=hint))
        elif tools and request.tool_choice not in ("auto", "none"):
            chosen = [t for t in tools if t.name == request.tool_choice] or tools
            grammar = self._grammar(engine, forced_call_schema(chosen))
            forced = True
        if tools and not forced and messages and messages[-1].role == "tool":
            messages.append(Message(role="user", content=TOOL_RESULT_NUDGE))
        prompt = self.render(engine, messages, tools)
        options = self._options(request)
        cancel = threading.Event()
        try:
            gen = await anyio.to_thread.run_sync(self._generate, engine, prompt, options, grammar, cancel, on_delta,
                                                 float(request.timeout_s or self.entry.timeout), abandon_on_cancel=True)
        except BaseException:
            cancel.set()
            raise
        return self._response(request, gen, tools, forced)

    def _response(self, request: ModelRequest, gen: _Generation, tools: list[ToolSpec], forced: bool) -> ModelResponse:
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
        names = {t.name for t in tools}
        if forced:
            obj = _json_object(gen.text)
            calls = [_call_from(obj)] if obj is not None else []
            content = "" if calls else gen.text.strip()
        elif tools:
            content, calls = parse_tool_calls(gen.text, names)
        else:
            content, calls = gen.text.strip(), []
        return ModelResponse(message=Message(role="assistant", content=content, tool_calls=calls), usage=usage,
                             model=self.name, provider_model=self.source,
                             finish_reason="tool_calls" if calls else finish)

    async def aclose(self) -> None:
        """The shared engine stays loaded (see :func:`unload_all`)."""
        self._engine = None
