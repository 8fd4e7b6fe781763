"""Named-entity recognition (CoNLL): a tag per word from its first sub-token; conlleval F1."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
import tensorflow as tf

from xlmr_jax.finetuning import ner as tag_features
from xlmr_jax.finetuning.kinds.base import (
    Features,
    TaskKind,
    check_complete,
    target,
    weighted_mean,
)
from xlmr_jax.metrics.official import conlleval


class NER(TaskKind):
    name = "ner"
    head = "token_classification"
    batch_layout = {"input_ids": 2, "label_ids": 2, "label_weights": 2}
    decode_fields = ("word_index",)
    predictions_suffix = ".conll"

    def id2label(self, info):
        return dict(enumerate(info.labels)) if info.labels else None

    def features(self, info, options):
        return Features(
            tag_features.to_example,
            tag_features.EXAMPLE_SIGNATURE,
            functools.partial(tag_features.featurize, labels=info.labels, **options),
            tag_features.FEATURE_SIGNATURE,
            tag_features.DEFAULT_MAX_LENGTH,
            {"label_ids": target(self.num_labels(info), tf.int32, 1)},
        )

    def loss(self, outputs, batch) -> jax.Array:
        logits, labels = outputs["logits"], batch["label_ids"]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return weighted_mean(ce, batch["label_weights"])

    def predict(self, outputs):
        return {"prediction": jnp.argmax(outputs["logits"], axis=-1)}

    def decode(self, info, records, features):
        predictions = [[None] * len(r.tokens) for r in records]
        for index, word_index, tags in zip(
            features["index"], features["word_index"], features["prediction"]
        ):
            for word, tag in zip(word_index, tags):
                if word >= 0:
                    predictions[index][word] = info.labels[tag]
        for sentence in predictions:
            check_complete(sentence)
        return [tuple(sentence) for sentence in predictions]

    def score(self, info, records, predictions):
        return conlleval([r.tags for r in records], predictions).overall.as_dict()

    def predictions_text(self, info, records, predictions):
        sentences = [
            "".join(f"{t} {g} {p}\n" for t, g, p in zip(r.tokens, r.tags, tags))
            for r, tags in zip(records, predictions)
        ]
        return "\n".join(sentences)


KIND = NER()
