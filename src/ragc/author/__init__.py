"""The LLM author's loop (``ragc new``): a model writes a workflow for a goal
from ``ragc spec``, ``ragc check`` reports, the diagnostics go back to the
model for a bounded number of repair rounds.

Modules: :mod:`~ragc.author.prompt` (the messages), :mod:`~ragc.author.decoding`
(grammar-constrained decoding of the embedded model: llguidance over
``grammar/rag.lark`` through llama.cpp's logits; hosted models through the
harness), :mod:`~ragc.author.loop` (write, check, repair).
"""
