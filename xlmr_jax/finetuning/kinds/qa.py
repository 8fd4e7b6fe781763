"""Extractive QA (SQuAD, MLQA, XQuAD): start/end logits over windows; n-best span decoding."""

from __future__ import annotations

import functools
import json

import jax
import optax
import tensorflow as tf

from xlmr_jax.finetuning import qa_features as window_features
from xlmr_jax.finetuning.kinds.base import Features, TaskKind, target, weighted_mean
from xlmr_jax.metrics.official import qa_scores
from xlmr_jax.metrics.qa_spans import decode_answers


class QA(TaskKind):
    name = "qa"
    head = "question_answering"
    batch_layout = {"input_ids": 2, "start_position": 1, "end_position": 1, "weight": 1}
    decode_fields = ("offsets", "context_mask")
    predictions_suffix = ".json"

    def num_labels(self, info):
        return 0  # start and end logits

    def features(self, info, options):
        position = target(window_features.DEFAULT_MAX_LENGTH, tf.int32, 0)
        return Features(
            window_features.to_example,
            window_features.EXAMPLE_SIGNATURE,
            functools.partial(window_features.featurize, **options),
            window_features.FEATURE_SIGNATURE,
            window_features.DEFAULT_MAX_LENGTH,
            {"start_position": position, "end_position": position},
        )

    def loss(self, outputs, batch) -> jax.Array:
        ce = optax.softmax_cross_entropy_with_integer_labels
        start = ce(outputs["start_logits"], batch["start_position"])
        end = ce(outputs["end_logits"], batch["end_position"])
        return weighted_mean((start + end) / 2, batch["weight"])

    def predict(self, outputs):
        return {"start_logits": outputs["start_logits"], "end_logits": outputs["end_logits"]}

    def decode(self, info, records, features):
        answers = decode_answers(
            [records[i].id for i in features["index"]],
            features["start_logits"],
            features["end_logits"],
            features["offsets"],
            features["context_mask"].astype(bool),
            {r.id: r.context for r in records},
        )
        return [answers.get(r.id) for r in records]

    def score(self, info, records, predictions):
        if not all(r.answers for r in records):
            return {}
        gold = {r.id: [a.text for a in r.answers] for r in records}
        lang = info.metric_language if info.metric_benchmark == "mlqa" else None
        return qa_scores(gold, dict(zip(gold, predictions)), lang)

    def predictions_text(self, info, records, predictions):
        answers = {r.id: a for r, a in zip(records, predictions)}
        return json.dumps(answers, ensure_ascii=False, indent=1) + "\n"


KIND = QA()
