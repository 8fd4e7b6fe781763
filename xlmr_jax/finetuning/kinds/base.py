"""What a fine-tuning task kind is: its head, features, batch layout, loss, decoding, scoring.

A kind is one object (classification, regression, ner, qa); the registry in `__init__` maps
its name, which `TaskInfo.kind` holds, to it. Registration, the steps, evaluation and saving
ask the kind instead of switching on its name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import seqio
import tensorflow as tf

if TYPE_CHECKING:
    from xlmr_jax.finetuning.sources import TaskInfo


@dataclasses.dataclass(frozen=True)
class Features:
    """How records become features: `to_example(index, record)`, `featurize(examples, vocab,
    max_length)` and their signatures, the default length and the target features."""

    to_example: Callable[..., dict]
    example_signature: Mapping[str, tf.TensorSpec]
    featurize: Callable[..., Any]
    signature: Mapping[str, tf.TensorSpec]
    default_length: int
    targets: Mapping[str, seqio.Feature]


def target(size: int, dtype: tf.DType, rank: int) -> seqio.Feature:
    """A target feature of `rank` (ids below `size`, or values)."""
    return seqio.Feature(seqio.PassThroughVocabulary(size), add_eos=False, dtype=dtype, rank=rank)


def weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Mean over rows (or tokens) of weight 1; padding rows have weight 0."""
    return (values * weights).sum() / jnp.maximum(weights.sum(), 1.0)


class TaskKind:
    """A fine-tuning task kind; subclasses fill in every method."""

    name: str
    head: str  # XLMRoberta's head
    batch_layout: Mapping[str, int]  # batch fields the train step reads, and their ranks
    decode_fields: tuple[str, ...] = ()  # feature fields decoding needs besides model outputs
    predictions_suffix: str = ".txt"

    def num_labels(self, info: TaskInfo) -> int:
        """The head's `num_labels`."""
        return len(info.labels or ())

    def id2label(self, info: TaskInfo) -> dict[int, str] | None:
        """Label names saved with a model checkpoint (None: the kind has none)."""
        return None

    def features(self, info: TaskInfo, options: Mapping[str, Any]) -> Features:
        raise NotImplementedError

    def loss(self, outputs: dict, batch: dict) -> jax.Array:
        """The training loss of one batch from the model's outputs."""
        raise NotImplementedError

    def predict(self, outputs: dict) -> dict:
        """What evaluation keeps of the outputs (ids, values or logits)."""
        raise NotImplementedError

    def decode(self, info: TaskInfo, records: list, features: dict) -> list:
        """One prediction per gold record from the features' predictions."""
        raise NotImplementedError

    def score(self, info: TaskInfo, records: list, predictions: list) -> dict[str, float]:
        """The benchmark's metrics (percent); empty for unlabeled files."""
        raise NotImplementedError

    def predictions_text(self, info: TaskInfo, records: list, predictions: list) -> str:
        """The predictions file `xlmr score` and the official scripts read."""
        raise NotImplementedError


def check_complete(predictions: list) -> None:
    if any(p is None for p in predictions):
        missing = sum(p is None for p in predictions)
        raise ValueError(f"{missing} of {len(predictions)} items got no prediction (a bug)")
