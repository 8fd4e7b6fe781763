"""Numpy batches of a task's features with a fixed batch size (the fine-tuning feature converter).

seqio's converters assume pad id 0; XLM-R pads with 1. Token-axis features (rank >= 1) are
padded with `PAD_VALUES` (`input_ids` the pad id, `word_index` -1, the rest 0). Every batch has
exactly `batch_size` rows: a short last batch is completed with rows of `weight` 0, so one
compiled step serves every batch and no example is dropped.

Training batches stream in the dataset's (shuffled) order, padded to `length`. Evaluation
batches (`sorted_batches`) hold all features sorted by length, each batch padded to its longest
feature rounded up to a multiple of `bucket`: a few compiled shapes, far less padding.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from xlmr_jax.config import PAD_ID

WEIGHT = "weight"
PAD_VALUES = {"input_ids": PAD_ID, "word_index": -1}
_READ_BATCH = 1024


def _padded(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Batches padded to their longest feature, with `weight` 1 on every row."""
    padding_values = {
        k: tf.constant(PAD_VALUES.get(k, 0), s.dtype)
        for k, s in dataset.element_spec.items()
        if s.dtype != tf.string
    }
    padding_values[WEIGHT] = tf.constant(0.0)
    dataset = dataset.map(lambda ex: {**ex, WEIGHT: tf.constant(1.0, tf.float32)})
    return dataset.padded_batch(batch_size, padding_values=padding_values)


def batches(dataset: tf.data.Dataset, batch_size: int, length: int) -> Iterator[dict]:
    """[batch_size, ...] batches, token axes padded to `length`, in the dataset's order."""
    for batch in _padded(dataset, batch_size).as_numpy_iterator():
        yield pad(batch, batch_size, length)


def sorted_batches(
    dataset: tf.data.Dataset, batch_size: int, length: int, bucket: int
) -> list[dict[str, np.ndarray]]:
    """All features in batches of similar length (shortest first), see the module docstring."""
    chunks = [
        pad(b, len(b[WEIGHT]), length) for b in _padded(dataset, _READ_BATCH).as_numpy_iterator()
    ]
    if not chunks:
        return []
    features = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    lengths = (features["input_ids"] != PAD_ID).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    out = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        target = min(length, -(-int(lengths[rows].max()) // bucket) * bucket)
        batch = {k: v[rows][:, :target] if v.ndim >= 2 else v[rows] for k, v in features.items()}
        out.append(pad(batch, batch_size, target))
    return out


def pad(batch: dict[str, np.ndarray], batch_size: int, length: int) -> dict[str, np.ndarray]:
    """`batch` with token axes padded to `length` and rows appended up to `batch_size`."""
    out = {}
    for k, v in batch.items():
        if v.ndim >= 2 and v.shape[1] > length:
            raise ValueError(
                f"feature {k!r} has {v.shape[1]} tokens, more than the length {length}"
            )
        widths = [(0, batch_size - len(v))] + [(0, 0)] * (v.ndim - 1)
        if v.ndim >= 2:
            widths[1] = (0, length - v.shape[1])
        out[k] = np.pad(v, widths, constant_values=PAD_VALUES.get(k, 0))
    return out
