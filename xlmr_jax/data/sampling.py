"""A deterministic, random-access language mixture: example i -> (language, its k-th example).

Example i of the global stream is drawn from language l with probability q_l, independently of
every other example, and is that language's k-th draw. Both are computed from (seed, i) alone,
so any host can produce any slice of the stream without reading the others, and a restart
anywhere costs ~0.25 ms per million examples before it (3 s at example 12e9).

How: the stream is cut into chunks of `chunk_size` examples. Chunk c draws its language counts
from a multinomial(chunk_size, q) and places them in a uniformly random order, both from a
generator seeded by (seed, c); multinomial counts in random order are exactly an i.i.d.
categorical sequence. The k of an example is the count of its language in earlier chunks (a running
prefix sum of the counts) plus its rank inside the chunk.

Within a language, draw k is block `perm_e(k mod n)` of epoch e = k // n, perm_e a pseudo-random
permutation of [0, n) seeded by (seed, language, e) (a 4-round Feistel network with cycle
walking): every block once per epoch, a new order each epoch, O(1) per draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK_SALT = 0x6C616E67  # "lang": separates the generators of chunks and of permutations
_PERM_SALT = 0x7065726D  # "perm"


class LanguageSampler:
    """Languages and per-language draw indices of global examples [start, stop)."""

    def __init__(self, rates: Sequence[float], seed: int, chunk_size: int = 1 << 16):
        rates = np.asarray(rates, np.float64)
        if rates.ndim != 1 or (rates < 0).any() or not rates.sum() > 0:
            raise ValueError(f"LanguageSampler: rates must be >= 0, not all 0: {rates.tolist()}.")
        self.probs = rates / rates.sum()
        self.seed = int(seed)
        self.chunk_size = int(chunk_size)
        self._prefix_chunk, self._prefix = 0, np.zeros(len(rates), np.int64)  # counts before it
        self._last: tuple[int, np.ndarray, np.ndarray] | None = None

    def _rng(self, chunk: int) -> np.random.Generator:
        return np.random.default_rng([_CHUNK_SALT, self.seed, chunk])

    def _prefix_counts(self, chunk: int) -> np.ndarray:
        """Per-language draws before `chunk`; moving back restarts from chunk 0."""
        if chunk < self._prefix_chunk:
            self._prefix_chunk, self._prefix = 0, np.zeros_like(self._prefix)
        while self._prefix_chunk < chunk:
            self._prefix = self._prefix + self._rng(self._prefix_chunk).multinomial(
                self.chunk_size, self.probs
            )
            self._prefix_chunk += 1
        return self._prefix

    def _chunk(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Languages of the chunk's examples and each one's draw index in its language."""
        if self._last is not None and self._last[0] == chunk:
            return self._last[1], self._last[2]
        rng = self._rng(chunk)
        counts = rng.multinomial(self.chunk_size, self.probs)
        langs = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        rng.shuffle(langs)
        order = np.argsort(langs, kind="stable")
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(self.chunk_size, np.int64)
        rank[order] = np.arange(self.chunk_size) - first[langs[order]]
        draws = self._prefix_counts(chunk)[langs] + rank
        self._last = (chunk, langs, draws)
        return langs, draws

    def draw(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(language int32 [n], draw index int64 [n]) of examples start..stop-1."""
        langs, draws = [], []
        for chunk in range(start // self.chunk_size, (stop - 1) // self.chunk_size + 1):
            lo = max(start - chunk * self.chunk_size, 0)
            hi = min(stop - chunk * self.chunk_size, self.chunk_size)
            chunk_langs, chunk_draws = self._chunk(chunk)
            langs.append(chunk_langs[lo:hi])
            draws.append(chunk_draws[lo:hi])
        return np.concatenate(langs), np.concatenate(draws)


def epoch_rows(draws: np.ndarray, n: int, seed: int, language: int) -> np.ndarray:
    """Block row of each draw of one language with n blocks (module docstring)."""
    draws = np.asarray(draws, np.int64)
    rows = np.empty_like(draws)
    epochs = draws // n
    for epoch in np.unique(epochs):
        sel = epochs == epoch
        rows[sel] = permute(draws[sel] % n, n, (seed, language, int(epoch)))
    return rows


def permute(x: np.ndarray, n: int, key: tuple[int, ...]) -> np.ndarray:
    """A pseudo-random bijection of [0, n) keyed by `key`, applied to x."""
    half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
    keys = np.random.default_rng([_PERM_SALT, *key]).integers(0, 2**63, 4, dtype=np.uint64)
    y = _feistel(np.asarray(x, np.uint64), half, keys)
    out = y >= n
    while out.any():  # cycle walking: the network permutes [0, 4^half), n <= 4^half
        y[out] = _feistel(y[out], half, keys)
        out = y >= n
    return y.astype(np.int64)


def _feistel(x: np.ndarray, half: int, keys: np.ndarray) -> np.ndarray:
    mask = np.uint64((1 << half) - 1)
    left, right = x >> np.uint64(half), x & mask
    for k in keys:
        left, right = right, left ^ (_mix(right ^ k) & mask)
    return (left << np.uint64(half)) | right


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
