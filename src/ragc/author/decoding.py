"""Writers: turn a conversation into a ``.rag`` text.

* :class:`LocalWriter`: the embedded llama.cpp model (a registry model with
  ``provider = "local"``). With ``constrained`` (the default) every token is
  masked by llguidance's matcher for ``grammar/rag.lark``
  (:func:`ragc.syntax.grammar.llguidance_grammar`): at each step the matcher
  consumes the tokens sampled so far and fills a bitmask of the tokens that
  keep the text a prefix of the grammar's language; the logits of the
  others are set to ``-inf`` (a llama-cpp-python ``logits_processor``). The
  method is llguidance's own ("LLMatcher": ``consume_token`` +
  ``fill_next_token_bitmask``, https://github.com/guidance-ai/llguidance).
  End of text is allowed only when the grammar accepts, so the reply always
  parses.
* :class:`HarnessWriter`: any registry model through the harness (hosted
  providers): plain text, fences stripped; the repair loop does the rest.

Both call ``on_piece(text)`` with each generated fragment (progress).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

Piece = Callable[[str], None]


@dataclass
class Generation:
    """One reply: ``text``, generated ``tokens``, ``seconds`` of wall time,
    ``prompt_tokens`` and whether decoding was ``constrained``."""

    text: str
    tokens: int
    seconds: float
    prompt_tokens: int
    constrained: bool


class GrammarMask:
    """A llama-cpp-python logits processor that applies an llguidance
    matcher (see the module doc).

    Args:
        matcher: a fresh ``llguidance.LLMatcher`` for the grammar.
        prompt_tokens: the number of prompt tokens (the first call's
            ``input_ids`` beyond them are generated tokens).
        vocab_size: the size of the matcher's tokenizer vocabulary.
    """

    def __init__(self, matcher: Any, prompt_tokens: int, vocab_size: int):
        import llguidance.numpy as lln
        import numpy as np

        self.np = np
        self.lln = lln
        self.matcher = matcher
        self.consumed = prompt_tokens
        self.mask = lln.allocate_token_bitmask(1, vocab_size)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        np = self.np
        for token in input_ids[self.consumed:]:
            self.matcher.consume_token(int(token))
        self.consumed = len(input_ids)
        self.lln.fill_next_token_bitmask(self.matcher, self.mask, 0)
        bits = np.unpackbits(self.mask.view(np.uint8), bitorder="little").astype(bool)
        n = len(scores)
        allowed = bits[:n] if len(bits) >= n else np.concatenate([bits, np.zeros(n - len(bits), dtype=bool)])
        scores[~allowed] = -np.inf
        return scores


class LocalWriter:
    """The embedded model of registry entry ``entry`` (``provider = "local"``).

    Args:
        entry: the registry :class:`~ragc.registry.model.ModelEntry`.
        constrained: mask tokens by the grammar (llguidance).
        max_tokens: reply bound per round.
        temperature: sampling temperature (0: greedy).
        seed: sampling seed, so a trial can be repeated.

    Raises (from :meth:`write`):
        ProviderError: llama-cpp-python missing or the model not installed.
        RuntimeError: llguidance missing while ``constrained``.
    """

    def __init__(self, entry: Any, *, constrained: bool = True, max_tokens: int = 900, temperature: float = 0.2,
                 seed: int = 7):
        self.entry = entry
        self.constrained = constrained
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._engine: Any = None
        self._tokenizer: Any = None
        self._grammar: Any = None

    def _load(self) -> Any:
        if self._engine is None:
            from ragc.harness import local_models
            from ragc.harness.providers.local import _load_engine  # the shared engine cache of the provider

            path = local_models.ensure_model(self.entry.source or "qwen2.5-coder-1.5b", download=False)
            self._engine = _load_engine(path, self.entry.context, self.entry.threads)
        return self._engine

    def _matcher(self, engine: Any) -> Any:
        try:
            import llguidance
            import llguidance.llamacpp as llcpp
        except ImportError:  # pragma: no cover - llguidance is a dependency of `ragc[local]`
            raise RuntimeError("llguidance is not installed: `pip install 'ragc[local]'`") from None
        import llama_cpp

        from ragc.syntax.grammar import llguidance_grammar

        if self._tokenizer is None:
            vocab = llama_cpp.llama_model_get_vocab(engine.llm.model)
            self._tokenizer = llcpp.lltokenizer_from_vocab(vocab)
            self._grammar = llguidance.grammar_from("lark", llguidance_grammar())
        return llguidance.LLMatcher(self._tokenizer, self._grammar, log_level=0)

    def render(self, engine: Any, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text by the model's chat template."""
        return engine.template.render(messages=list(messages), add_generation_prompt=True, bos_token=engine.bos,
                                      eos_token=engine.eos)

    def write(self, messages: Sequence[dict[str, str]], on_piece: Piece | None = None) -> Generation:
        """Generate the reply to ``messages`` (``{"role", "content"}`` dicts)."""
        from llama_cpp import LogitsProcessorList

        engine = self._load()
        started = time.monotonic()
        with engine.lock:
            llm = engine.llm
            tokens = llm.tokenize(self.render(engine, messages).encode("utf-8"), add_bos=False, special=True)
            room = min(self.entry.context, engine.n_ctx) - len(tokens)
            if room < 64:
                raise RuntimeError(f"the prompt has {len(tokens)} tokens; the context window is {engine.n_ctx}")
            processors = None
            if self.constrained:
                processors = LogitsProcessorList([GrammarMask(self._matcher(engine), len(tokens), self._tokenizer.vocab_size)])
            stream = llm.create_completion(prompt=tokens, max_tokens=min(self.max_tokens, room), stream=True,
                                           temperature=self.temperature, seed=self.seed, repeat_penalty=1.0,
                                           logits_processor=processors)
            pieces: list[str] = []
            for chunk in stream:
                piece = chunk["choices"][0].get("text") or ""
                if piece:
                    pieces.append(piece)
                    if on_piece is not None:
                        on_piece(piece)
            text = "".join(pieces)
            n = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0
        return Generation(text, n, time.monotonic() - started, len(tokens), self.constrained)


class HarnessWriter:
    """A registry model called through the harness (hosted providers; no
    grammar: the model's reply is plain text and the repair loop fixes it).

    Args:
        registry: the loaded registry.
        model: the registry model name.
        max_tokens: reply bound per round.
    """

    constrained = False

    def __init__(self, registry: Any, model: str, *, max_tokens: int = 1500):
        self.registry = registry
        self.model = model
        self.max_tokens = max_tokens

    def write(self, messages: Sequence[dict[str, str]], on_piece: Piece | None = None) -> Generation:
        """Generate the reply (runs its own event loop).

        Raises:
            ProviderError: the model call failed after the harness's retries.
        """
        import anyio

        from ragc.harness.facade import Harness
        from ragc.harness.types import Message, ModelRequest

        request = ModelRequest(messages=[Message(role=m["role"], content=m["content"]) for m in messages],
                               max_tokens=self.max_tokens, temperature=0.2)

        async def call() -> Any:
            async with Harness(self.registry) as h:
                def delta(d: Any) -> None:
                    if on_piece is not None and getattr(d, "text", None):
                        on_piece(d.text)
                return await h.model(self.model).complete(request, on_delta=delta)

        started = time.monotonic()
        response = anyio.run(call)
        content = response.message.content
        text = content if isinstance(content, str) else "".join(
            getattr(part, "text", "") or "" for part in (content or []))
        return Generation(text, response.usage.output_tokens, time.monotonic() - started,
                          response.usage.input_tokens, False)


def writer_for(registry: Any, model: str, *, constrained: bool = True, **kw: Any) -> Any:
    """The writer of registry model ``model``: :class:`LocalWriter` for a
    ``local`` provider, else :class:`HarnessWriter`.

    Raises:
        KeyError: no such model in the registry.
    """
    entry = registry.models[model]
    if entry.provider == "local":
        return LocalWriter(entry, constrained=constrained, **kw)
    return HarnessWriter(registry, model, **{k: v for k, v in kw.items() if k == "max_tokens"})
