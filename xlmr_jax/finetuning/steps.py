"""Jittable fine-tuning train/eval steps; the task kind (finetuning/kinds) gives loss and outputs.

Losses (HF/fairseq) are the kinds': classification cross-entropy on the `<s>` head; regression
mean squared error; NER cross-entropy over first sub-tokens only; QA (CE(start) + CE(end)) / 2.
Batch rows of `weight` 0 (padding) do not count.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import optax

from xlmr_jax.finetuning.kinds.base import TaskKind
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.training.train_step import step_keys
from xlmr_jax.training.trainer import Trainer


def loss(
    kind: TaskKind, model: XLMRoberta, params: Any, batch: dict, dropout_key: jax.Array
) -> jax.Array:
    """The training loss of one batch, with dropout on."""
    out = model.apply(
        {"params": params}, batch["input_ids"], deterministic=False, rngs={"dropout": dropout_key}
    )
    return kind.loss(out, batch)


def train_step(
    state: TrainState,
    batch: dict,
    *,
    kind: TaskKind,
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
    state: TrainState, batch: dict, key: jax.Array, *, kind: TaskKind, model: XLMRoberta
) -> dict:
    """Predictions without dropout: class / tag ids, regression values, or QA logits."""
    del key  # evaluation is deterministic
    return kind.predict(model.apply({"params": state.params}, batch["input_ids"]))


def finetune_trainer(
    kind: TaskKind,
    model: XLMRoberta,
    optimizer: optax.GradientTransformation,
    mesh,
    fsdp: bool = False,
) -> Trainer:
    """A Trainer with the steps and batch layout of `kind`."""
    return Trainer(
        model,
        optimizer,
        mesh,
        functools.partial(train_step, kind=kind, model=model, optimizer=optimizer),
        functools.partial(eval_step, kind=kind, model=model),
        dict(kind.batch_layout),
        fsdp,
    )
