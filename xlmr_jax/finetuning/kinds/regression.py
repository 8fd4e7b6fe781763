"""Sentence-pair regression (STS-B): mean squared error on the single output."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlmr_jax.finetuning.kinds.base import weighted_mean
from xlmr_jax.finetuning.kinds.classification import Classification


class Regression(Classification):
    name = "regression"
    regression = True

    def num_labels(self, info):
        return 1

    def id2label(self, info):
        return None

    def loss(self, outputs, batch) -> jax.Array:
        return weighted_mean(jnp.square(outputs["logits"][:, 0] - batch["label"]), batch["weight"])

    def predict(self, outputs):
        return {"prediction": outputs["logits"][:, 0]}

    def predictions_text(self, info, records, predictions):
        return "".join(f"{value:.6g}\n" for value in predictions)


KIND = Regression()
