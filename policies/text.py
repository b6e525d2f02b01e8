"""Text features without a downloaded tokenizer: hashed character n-gram embeddings, fastText-style.

A word is represented by itself and its character n-grams (3 to 5 characters by default) with boundary
markers, ``where`` -> ``<where>``, ``<wh``, ``whe``, ..., ``ere>``, ``<whe``, ... (Bojanowski et al. 2017).
Each piece is hashed (FNV-1a, 32 bit, over UTF-8: deterministic across processes, unlike Python's salted
``hash``) into a fixed table of ``n_buckets`` rows; the word vector is the mean of its rows, a text's vector
the mean of its word vectors. An OCR typo changes only the n-grams that overlap it, so a misread word
stays close to the word it should be, and an unseen word still gets a meaningful vector.

Normalisation before hashing: Unicode NFKD with combining marks dropped (é -> e, as OCR often reads it),
then casefold. Words are maximal runs of letters and digits; punctuation separates them.

    emb = HashedTextEmbedding()
    emb.embed_words(["save", "sav3"])      # [2, 128]
    emb.embed_texts(["Save as…", ""])      # [2, 128]; an empty text gives zeros
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agent.errors import DeskpilotError

_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits, any script
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193
_WORD_TAG = "\x00"  # prefixed to whole words so "<ok>" the word and "<ok>" the 4-gram hash apart


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (the hash fastText uses)."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def normalize(text: str) -> str:
    """NFKD, combining marks removed, casefolded: "Café" -> "cafe", "ﬁle" -> "file"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True)
class Token:
    """A word of a text: ``text`` normalised; ``start``/``end`` character offsets into the original text
    (so a span of tokens maps back to the exact original substring, e.g. to copy it into a text field)."""

    text: str
    start: int
    end: int


def tokenize_with_spans(text: str) -> list[Token]:
    """Words of ``text`` with their offsets. Each run of letters/digits is one word; normalisation can
    split a run into several (rare ligatures), in which case they share the run's offsets."""
    tokens = []
    for m in _WORD.finditer(text):
        for word in _WORD.findall(normalize(m.group())):
            tokens.append(Token(word, m.start(), m.end()))
    return tokens


def tokenize(text: str) -> list[str]:
    """Normalised words of ``text``: "Click 'Save As…' (Ctrl+S)" -> ["click", "save", "as", "ctrl", "s"]."""
    return [t.text for t in tokenize_with_spans(text)]


def char_ngrams(word: str, n_min: int = 3, n_max: int = 5) -> list[str]:
    """Character n-grams of ``<word>`` for n in [n_min, n_max], in order of position then length.
    ``char_ngrams("where", 3, 3)`` -> ["<wh", "whe", "her", "ere", "re>"]."""
    w = f"<{word}>"
    return [w[i : i + n] for i in range(len(w)) for n in range(n_min, n_max + 1) if i + n <= len(w)]


class TextHasher:
    """Words -> bucket ids (pure Python, cached): the part of the encoder that data loaders run."""

    def __init__(self, n_buckets: int = 2**15, n_min: int = 3, n_max: int = 5, cache_size: int = 100_000):
        if n_buckets < 1 or not (1 <= n_min <= n_max):
            raise DeskpilotError(
                f"text hasher: need n_buckets >= 1 and 1 <= n_min <= n_max, got {n_buckets}, {n_min}, {n_max}"
            )
        self.n_buckets, self.n_min, self.n_max = n_buckets, n_min, n_max
        self._cache: dict[str, tuple[int, ...]] = {}
        self._cache_size = cache_size

    def word_ids(self, word: str) -> tuple[int, ...]:
        """Bucket ids of a normalised word: the whole word first, then its n-grams (repeats kept, as in
        fastText: an n-gram occurring twice weighs twice)."""
        ids = self._cache.get(word)
        if ids is None:
            pieces = [_WORD_TAG + word, *char_ngrams(word, self.n_min, self.n_max)]
            ids = tuple(fnv1a_32(p.encode("utf-8")) % self.n_buckets for p in pieces)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()  # unbounded vocabularies (OCR noise) must not grow memory forever
            self._cache[word] = ids
        return ids

    def bags(self, items: Sequence[Sequence[str]]) -> tuple[Tensor, Tensor, Tensor]:
        """EmbeddingBag inputs for ``items`` (each a list of normalised words) so that a "sum" bag equals
        the mean over the item's words of the mean over each word's ids.

        Returns:
            ids [M] int64, offsets [len(items)] int64 (start of each item in ``ids``), weights [M] float32.
        """
        ids: list[int] = []
        weights: list[float] = []
        offsets: list[int] = []
        for words in items:
            offsets.append(len(ids))
            for word in words:
                w_ids = self.word_ids(word)
                ids.extend(w_ids)
                weights.extend([1.0 / (len(words) * len(w_ids))] * len(w_ids))
        return (
            torch.tensor(ids, dtype=torch.long),
            torch.tensor(offsets, dtype=torch.long),
            torch.tensor(weights, dtype=torch.float32),
        )


class HashedTextEmbedding(nn.Module):
    """A bucket table [n_buckets, dim] read as bags of hashed character n-grams.

    Buckets start as N(0, 1) (nn.Embedding's default); learned with the policy. The defaults (128 × 2^15,
    16 MiB in fp32) keep typo robustness with untrained buckets: random bucket vectors add cosine noise
    of about 1/√dim, which at 64 dimensions already hides some one-letter typos of six-letter words.
    """

    def __init__(self, dim: int = 128, n_buckets: int = 2**15, n_min: int = 3, n_max: int = 5):
        super().__init__()
        if dim < 1:
            raise DeskpilotError(f"text embedding: dim must be >= 1, got {dim}")
        self.hasher = TextHasher(n_buckets, n_min, n_max)
        self.dim = dim
        self.bag = nn.EmbeddingBag(n_buckets, dim, mode="sum")
        nn.init.normal_(self.bag.weight)

    def config(self) -> dict[str, int]:
        """What rebuilds this module: ``HashedTextEmbedding(**emb.config())``."""
        h = self.hasher
        return {"dim": self.dim, "n_buckets": h.n_buckets, "n_min": h.n_min, "n_max": h.n_max}

    def forward(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
        """Bags from `TextHasher.bags` -> [N, dim]; an empty bag gives zeros."""
        device = self.bag.weight.device
        return self.bag(
            ids.to(device), offsets.to(device), per_sample_weights=weights.to(device, self.bag.weight.dtype)
        )

    def embed_words(self, words: Sequence[str]) -> Tensor:
        """One vector per word [N, dim]; each is normalised first (an empty word gives zeros)."""
        return self(*self.hasher.bags([[w for w in [normalize(word)] if w] for word in words]))

    def embed_texts(self, texts: Sequence[str]) -> Tensor:
        """One vector per text [N, dim]: the mean of its words' vectors (zeros for a text without words)."""
        return self(*self.hasher.bags([tokenize(t) for t in texts]))


def cosine_matrix(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine similarity of every row of a [N, d] with every row of b [M, d] -> [N, M] (0 for zero rows)."""
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    return a @ b.T
