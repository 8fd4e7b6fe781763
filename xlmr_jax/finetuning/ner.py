"""NER features: each word's first sub-token carries the word's label, the rest are ignored.

Words are tokenized one by one (`▁`-prefixed, as HF does for pre-split words), so a word's first
sub-token is well defined. A sentence longer than `max_length` ids is split into several
windows of whole words, so no word is dropped; a single word longer than a window keeps its
first `max_length - 2` pieces. A word that tokenizes to nothing (only characters the
normalisation removes) is represented by `<unk>`. Labels are the IOB2 tags of `NER_LABELS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from xlmr_jax.data.formats.conll import NerSentence
from xlmr_jax.vocab import BOS_ID, EOS_ID, UNK_ID, XLMRVocabulary

DEFAULT_MAX_LENGTH = 128
# TFDS conll2002/conll2003 order: O, then B-/I- of PER, ORG, LOC, MISC.
NER_LABELS = ("O", *(f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MISC") for p in "BI"))

EXAMPLE_SIGNATURE = {
    "index": tf.TensorSpec([], tf.int32),
    "tokens": tf.TensorSpec([None], tf.string),
    "tags": tf.TensorSpec([None], tf.string),
}
FEATURE_SIGNATURE = {
    "index": tf.TensorSpec([], tf.int32),
    "input_ids": tf.TensorSpec([None], tf.int32),
    "label_ids": tf.TensorSpec([None], tf.int32),
    "label_weights": tf.TensorSpec([None], tf.float32),
    "word_index": tf.TensorSpec([None], tf.int32),  # word of a first sub-token, else -1
}


def to_example(index: int, record: NerSentence) -> dict:
    return {"index": index, "tokens": list(record.tokens), "tags": list(record.tags)}


def word_windows(lengths: Sequence[int], budget: int) -> list[range]:
    """Consecutive runs of whole words whose pieces (each word capped at `budget`) fit `budget`."""
    windows, start, used = [], 0, 0
    for i, n in enumerate(lengths):
        n = min(n, budget)
        if i > start and used + n > budget:
            windows.append(range(start, i))
            start, used = i, 0
        used += n
    windows.append(range(start, len(lengths)))
    return windows


def featurize(
    vocab: XLMRVocabulary,
    example: dict,
    max_length: int = DEFAULT_MAX_LENGTH,
    *,
    labels: Sequence[str] = NER_LABELS,
) -> list[dict]:
    """One feature per window of whole words."""
    label_of = {tag: i for i, tag in enumerate(labels)}
    words = [w.decode() for w in example["tokens"]]
    tags = [label_of[t.decode()] for t in example["tags"]]
    budget = max_length - 2
    pieces = [(vocab.encode(word) or [UNK_ID])[:budget] for word in words]
    features = []
    for window in word_windows([len(p) for p in pieces], budget):
        ids, label_ids, weights, word_index = [BOS_ID], [0], [0.0], [-1]
        for w in window:
            rest = len(pieces[w]) - 1
            ids += pieces[w]
            label_ids += [tags[w]] + [0] * rest
            weights += [1.0] + [0.0] * rest
            word_index += [w] + [-1] * rest
        features.append(
            {
                "index": example["index"],
                "input_ids": np.asarray([*ids, EOS_ID], np.int32),
                "label_ids": np.asarray([*label_ids, 0], np.int32),
                "label_weights": np.asarray([*weights, 0.0], np.float32),
                "word_index": np.asarray([*word_index, -1], np.int32),
            }
        )
    return features
