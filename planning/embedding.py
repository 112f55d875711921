"""Text embeddings without downloaded models: hashed bag of words and character n-grams.

``embed_text(text)`` maps text to a unit vector of ``DIM`` floats: each word and
each character 3- to 5-gram of the normalised text adds 1 to a bucket chosen by
a stable hash (BLAKE2b, not Python's salted ``hash``), so the same text gives the
same vector in every process. Cosine similarity of two embeddings is their dot
product. Good enough to retrieve "put the red block in the bowl" for "place the
red cube into the bowl"; not a semantic model.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dexsafe.planning.text import normalize, tokens

DIM = 512


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    h = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(h, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def embed_text(text: str, dim: int = DIM) -> np.ndarray:
    """Unit-norm hashed embedding of ``text`` (float32, shape ``(dim,)``); zeros for empty text."""
    vec = np.zeros(dim, dtype=np.float32)
    norm = normalize(text)
    words = tokens(norm)
    for w in words:
        i, s = _bucket("w:" + w, dim)
        vec[i] += 2.0 * s
    padded = f" {' '.join(words)} "
    for n in (3, 4, 5):
        for k in range(len(padded) - n + 1):
            i, s = _bucket(f"c{n}:" + padded[k:k + n], dim)
            vec[i] += s
    length = float(np.linalg.norm(vec))
    return vec / length if length > 0 else vec


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two unit embeddings, in [-1, 1]."""
    return float(np.dot(a, b))
