"""The seqio preprocessor of every fine-tuning task: raw examples -> model features.

Featurization is plain Python over numpy examples (windowing and character offsets do not fit
TensorFlow ops): `featurize` runs a featurizer (`classification`, `ner` or `qa` .featurize) over
the source's examples, one example giving one or more features. Examples cross into Python and
features back into TensorFlow in chunks, since a per-element Python generator costs far more
than the featurization itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import seqio
import tensorflow as tf

from xlmr_jax.vocab import XLMRVocabulary

INPUT_IDS = "input_ids"
CHUNK = 256  # examples per Python call
_LENGTH = "_length"
Featurizer = Callable[[XLMRVocabulary, dict, int], list[dict]]


def featurize(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int] | None,
    output_features: Mapping[str, seqio.Feature],
    *,
    featurizer: Featurizer,
    signature: Mapping[str, tf.TensorSpec],
    default_length: int,
) -> tf.data.Dataset:
    """Features of at most `sequence_length["input_ids"]` (else `default_length`) ids.

    Every rank >= 1 field of `signature` is per token (same length as input_ids).
    """
    vocab = output_features[INPUT_IDS].vocabulary
    max_length = (sequence_length or {}).get(INPUT_IDS) or default_length
    token_fields = [k for k, spec in signature.items() if spec.shape.rank]

    def chunks():
        for chunk in dataset.ragged_batch(CHUNK).as_numpy_iterator():
            examples = ({k: v[i] for k, v in chunk.items()} for i in range(len(chunk["index"])))
            features = [f for ex in examples for f in featurizer(vocab, ex, max_length)]
            if features:
                yield _stack(features, signature, token_fields)

    chunk_signature = {k: tf.TensorSpec([None, *s.shape], s.dtype) for k, s in signature.items()}
    chunk_signature[_LENGTH] = tf.TensorSpec([None], tf.int32)

    def trim(feature):
        length = feature.pop(_LENGTH)
        return {k: v[:length] if k in token_fields else v for k, v in feature.items()}

    generated = tf.data.Dataset.from_generator(chunks, output_signature=chunk_signature)
    return generated.unbatch().map(trim)


def _stack(features: list[dict], signature: Mapping[str, tf.TensorSpec], token_fields) -> dict:
    """Features as [n, ...] arrays, token fields zero-padded to the longest, plus the lengths."""
    lengths = np.array([len(f[INPUT_IDS]) for f in features], np.int32)
    out = {_LENGTH: lengths}
    for k, spec in signature.items():
        dtype = spec.dtype.as_numpy_dtype
        if k not in token_fields:
            out[k] = np.array([f[k] for f in features], dtype)
            continue
        stacked = np.zeros((len(features), lengths.max(), *spec.shape[1:]), dtype)
        for row, feature in zip(stacked, features):
            row[: len(feature[k])] = feature[k]
        out[k] = stacked
    return out
