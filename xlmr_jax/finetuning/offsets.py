"""Token ids with the character span of each token in the original (unnormalised) text.

SentencePiece's offset mapping reports every piece's surface span in the input, in characters,
after its NFKC-style normalisation has been undone. Two adjustments make the spans usable for
extractive QA: a piece that starts a word (`▁...`) has the whitespace before the word in its
surface, which is dropped here (whitespace, and characters the normaliser turns into whitespace
such as U+200B); and when normalisation expands one character into several pieces
(`½` -> `1 ⁄ 2`, `…` -> `. . .`), only the last piece carries the character, the others get an
empty span at its position. A span is [start, end) into the text.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import sentencepiece as spm

from xlmr_jax import storage
from xlmr_jax.vocab import UNK_ID, XLMRVocabulary

_LOAD_LOCK = threading.Lock()  # SentencePiece loading is not thread-safe (as in vocab.py)


@functools.cache
def _processor(model_file: str) -> spm.SentencePieceProcessor:
    proto = storage.as_path(model_file).read_bytes()
    with _LOAD_LOCK:
        return spm.SentencePieceProcessor(model_proto=proto)


@functools.cache
def is_blank(model_file: str, char: str) -> bool:
    """The normaliser maps `char` to whitespace (which alone normalises to nothing)."""
    return _processor(model_file).normalize(char) == ""


def encode_with_offsets(vocab: XLMRVocabulary, text: str) -> tuple[list[int], np.ndarray]:
    """(ids exactly as `vocab.encode(text)`, int32 [n, 2] character spans without whitespace)."""
    mapping = _processor(vocab.model_file).encode(text, out_type="offset_mapping")
    ids = [i + 1 if i else UNK_ID for i in mapping["ids"]]
    spans = np.zeros((len(ids), 2), np.int32)
    for n, (begin, end) in enumerate(mapping["offsets"]):
        while begin < end and is_blank(vocab.model_file, text[begin]):
            begin += 1
        spans[n] = begin, end
    return ids, spans


def token_span(spans: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """(first, last) token covering the characters [start, end), or None if no token does.

    The first token is the first non-empty one ending after `start`, the last the last
    non-empty one starting before `end`; the tokens' text covers the span and more when the span
    begins or ends inside a token.
    """
    nonempty = spans[:, 1] > spans[:, 0]
    first = np.flatnonzero(nonempty & (spans[:, 1] > start))
    last = np.flatnonzero(nonempty & (spans[:, 0] < end))
    if not len(first) or not len(last) or last[-1] < first[0]:
        return None
    return int(first[0]), int(last[-1])
