"""Sentence(-pair) classification (XNLI, PAWS-X, GLUE): cross-entropy on the `<s>` head."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
import tensorflow as tf

from xlmr_jax.finetuning import classification as pair_features
from xlmr_jax.finetuning.kinds.base import (
    Features,
    TaskKind,
    check_complete,
    target,
    weighted_mean,
)
from xlmr_jax.metrics.official import classification_scores


class Classification(TaskKind):
    name = "classification"
    head = "sequence_classification"
    batch_layout = {"input_ids": 2, "label": 1, "weight": 1}
    regression = False

    def id2label(self, info):
        return dict(enumerate(info.labels)) if info.labels else None

    def features(self, info, options):
        dtype = tf.float32 if self.regression else tf.int32
        return Features(
            functools.partial(pair_features.to_example, regression=self.regression),
            pair_features.example_signature(self.regression),
            functools.partial(pair_features.featurize, **options),
            pair_features.feature_signature(self.regression),
            pair_features.DEFAULT_MAX_LENGTH,
            {"label": target(self.num_labels(info), dtype, 0)},
        )

    def loss(self, outputs, batch) -> jax.Array:
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs["logits"], batch["label"])
        return weighted_mean(ce, batch["weight"])

    def predict(self, outputs):
        return {"prediction": jnp.argmax(outputs["logits"], axis=-1)}

    def decode(self, info, records, features):
        predictions = [None] * len(records)
        for index, value in zip(features["index"], features["prediction"]):
            predictions[index] = value.item()
        check_complete(predictions)
        return predictions

    def score(self, info, records, predictions):
        if any(r.label is None for r in records):
            return {}
        labels = [r.label for r in records]
        return classification_scores(info.metric_benchmark, labels, predictions)

    def predictions_text(self, info, records, predictions):
        return "".join(f"{info.labels[label]}\n" for label in predictions)


KIND = Classification()
