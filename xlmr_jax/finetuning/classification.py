"""Sentence(-pair) classification and regression features: `<s> A </s></s> B </s>`.

Pairs are truncated "longest_first" to `max_length` ids (vocab.encode_pair), single sentences
cut at the end. Labels are class indices, or floats for regression (STS-B); unlabeled
examples (test files) carry -1 / NaN.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from xlmr_jax.data.formats.common import PairExample
from xlmr_jax.vocab import XLMRVocabulary

DEFAULT_MAX_LENGTH = 128


def example_signature(regression: bool) -> dict[str, tf.TensorSpec]:
    label = tf.float32 if regression else tf.int32
    return {
        "index": tf.TensorSpec([], tf.int32),
        "text_a": tf.TensorSpec([], tf.string),
        "text_b": tf.TensorSpec([], tf.string),
        "label": tf.TensorSpec([], label),
    }


def feature_signature(regression: bool) -> dict[str, tf.TensorSpec]:
    label = tf.float32 if regression else tf.int32
    return {
        "index": tf.TensorSpec([], tf.int32),
        "input_ids": tf.TensorSpec([None], tf.int32),
        "label": tf.TensorSpec([], label),
    }


def to_example(index: int, record: PairExample, regression: bool) -> dict:
    """A reader record as the source's raw example (text_b "" for single sentences)."""
    missing = np.nan if regression else -1
    return {
        "index": index,
        "text_a": record.text_a,
        "text_b": record.text_b or "",
        "label": missing if record.label is None else record.label,
    }


def featurize(
    vocab: XLMRVocabulary, example: dict, max_length: int = DEFAULT_MAX_LENGTH, *, pair: bool
) -> list[dict]:
    """One feature per example: token ids, the label and the example's index."""
    text_a = example["text_a"].decode()
    if pair:
        ids = vocab.encode_pair(text_a, example["text_b"].decode(), max_length)
    else:
        ids = vocab.encode_single(text_a, max_length)
    return [
        {
            "index": example["index"],
            "input_ids": np.asarray(ids, np.int32),
            "label": example["label"],
        }
    ]
