"""Jittable fine-tuning train/eval steps for each task kind, and the batch layout they read.

Losses (HF/fairseq): classification cross-entropy on the `<s>` head; regression mean squared
error on the single output; NER cross-entropy over first sub-tokens only (`label_weights`);
QA (CE(start) + CE(end)) / 2. Batch rows of `weight` 0 (padding) do not count.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.training.train_step import step_keys
from xlmr_jax.training.trainer import Trainer

HEADS = {
    "classification": "sequence_classification",
    "regression": "sequence_classification",
    "ner": "token_classification",
    "qa": "question_answering",
}
# Batch fields the steps read, and their ranks (Trainer's batch layout).
BATCH_LAYOUTS = {
    "classification": {"input_ids": 2, "label": 1, "weight": 1},
    "regression": {"input_ids": 2, "label": 1, "weight": 1},
    "ner": {"input_ids": 2, "label_ids": 2, "label_weights": 2},
    "qa": {"input_ids": 2, "start_position": 1, "end_position": 1, "weight": 1},
}


def _mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    return (values * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def loss(
    kind: str, model: XLMRoberta, params: Any, batch: dict, dropout_key: jax.Array
) -> jax.Array:
    """The training loss of one batch, with dropout on."""
    out = model.apply(
        {"params": params}, batch["input_ids"], deterministic=False, rngs={"dropout": dropout_key}
    )
    if kind == "classification":
        ce = optax.softmax_cross_entropy_with_integer_labels(out["logits"], batch["label"])
        return _mean(ce, batch["weight"])
    if kind == "regression":
        return _mean(jnp.square(out["logits"][:, 0] - batch["label"]), batch["weight"])
    if kind == "ner":
        ce = optax.softmax_cross_entropy_with_integer_labels(out["logits"], batch["label_ids"])
        return _mean(ce, batch["label_weights"])
    start = optax.softmax_cross_entropy_with_integer_labels(
        out["start_logits"], batch["start_position"]
    )
    end = optax.softmax_cross_entropy_with_integer_labels(out["end_logits"], batch["end_position"])
    return _mean((start + end) / 2, batch["weight"])


def train_step(
    state: TrainState,
    batch: dict,
    *,
    kind: str,
    model: XLMRoberta,
    optimizer: optax.GradientTransformationExtraArgs,
) -> tuple[TrainState, dict]:
    """One optimizer update; metrics: loss, grad_norm."""
    _, dropout_key = step_keys(state)
    value, grads = jax.value_and_grad(lambda p: loss(kind, model, p, batch, dropout_key))(
        state.params
    )
    grad_norm = optax.global_norm(grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params, grad_norm=grad_norm)
    new_state = state.replace(
        step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state
    )
    return new_state, {"loss": value, "grad_norm": grad_norm}


def eval_step(
    state: TrainState, batch: dict, key: jax.Array, *, kind: str, model: XLMRoberta
) -> dict:
    """Predictions without dropout: class / tag ids, regression values, or QA logits."""
    del key  # evaluation is deterministic
    out = model.apply({"params": state.params}, batch["input_ids"])
    if kind == "qa":
        return {"start_logits": out["start_logits"], "end_logits": out["end_logits"]}
    if kind == "regression":
        return {"prediction": out["logits"][:, 0]}
    return {"prediction": jnp.argmax(out["logits"], axis=-1)}


def finetune_trainer(
    kind: str, model: XLMRoberta, optimizer: optax.GradientTransformation, mesh, fsdp: bool = False
) -> Trainer:
    """A Trainer with the steps and batch layout of `kind`."""
    return Trainer(
        model,
        optimizer,
        mesh,
        functools.partial(train_step, kind=kind, model=model, optimizer=optimizer),
        functools.partial(eval_step, kind=kind, model=model),
        BATCH_LAYOUTS[kind],
        fsdp,
    )
