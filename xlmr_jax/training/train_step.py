"""MLM train and eval steps: on-device masking, masked-only LM head, microbatches, non-finite guard."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.train_state import TrainState

MaskFn = Callable[[jax.Array, jax.Array], dict[str, jax.Array]]


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """Static settings of the step (hashable: part of the jit cache key)."""

    num_languages: int = 1
    microbatches: int = 1
    skip_nonfinite: bool = True  # False: apply anyway; the loop stops on a non-finite loss


def step_keys(state: TrainState) -> tuple[jax.Array, jax.Array]:
    """(masking key, dropout key) for this step: a pure function of the run seed and step."""
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)


def mlm_sums(
    model: XLMRoberta,
    params: Any,
    masked: dict[str, jax.Array],
    language: jax.Array,
    num_languages: int,
    dropout_key: jax.Array | None,
) -> dict[str, jax.Array]:
    """Summed cross-entropy / accuracy over the masked positions, also per language."""
    out = model.apply(
        {"params": params},
        masked["input_ids"],
        masked_positions=masked["masked_positions"],
        deterministic=dropout_key is None,
        rngs=None if dropout_key is None else {"dropout": dropout_key},
    )
    logits = out["logits"]
    targets, weights = masked["masked_targets"], masked["masked_weights"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets) * weights
    # Correct when the target's logit is the maximum (ties count as correct): a max-reduce
    # instead of argmax, which XLA:CPU runs ~20x slower over a 250K vocabulary.
    target_logits = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    correct = (target_logits >= logits.max(-1)) * weights
    per_example_loss, per_example_count = ce.sum(-1), weights.sum(-1)
    return {
        "loss_sum": ce.sum(),
        "correct": correct.sum(),
        "count": weights.sum(),
        "language_loss_sum": jax.ops.segment_sum(per_example_loss, language, num_languages),
        "language_count": jax.ops.segment_sum(per_example_count, language, num_languages),
    }


def _microbatches(x: jax.Array, n: int) -> jax.Array:
    """[B, ...] -> [n, B/n, ...]; microbatch i holds rows i, i+n, ...: each device's rows stay
    on that device when its shard divides by n."""
    return jnp.swapaxes(x.reshape(-1, n, *x.shape[1:]), 0, 1)


def train_step(
    state: TrainState,
    batch: dict[str, jax.Array],
    *,
    model: XLMRoberta,
    optimizer: optax.GradientTransformationExtraArgs,
    mask_fn: MaskFn,
    config: StepConfig,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer update on a global batch {'input_ids' [B, L], 'language' [B]}."""
    mask_key, dropout_key = step_keys(state)
    masked = mask_fn(mask_key, batch["input_ids"])
    total_count = jnp.maximum(masked["masked_weights"].sum(), 1.0)
    n = config.microbatches

    def loss_fn(params, micro, language, key):
        sums = mlm_sums(model, params, micro, language, config.num_languages, key)
        return sums["loss_sum"] / total_count, sums

    grad_fn = jax.grad(loss_fn, has_aux=True)
    if n == 1:
        grads, sums = grad_fn(state.params, masked, batch["language"], dropout_key)
    else:  # sequential microbatches: activations of one microbatch alive at a time
        micro = {k: _microbatches(v, n) for k, v in masked.items()}
        micro_language = _microbatches(batch["language"], n)

        def accumulate(carry, xs):
            i, micro_masked, language = xs
            g, s = grad_fn(state.params, micro_masked, language, jax.random.fold_in(dropout_key, i))
            return jax.tree.map(jnp.add, carry, (g, s)), None

        zeros = jax.tree.map(
            lambda s: jnp.zeros(s.shape, s.dtype),
            jax.eval_shape(
                grad_fn,
                state.params,
                jax.tree.map(lambda x: x[0], micro),
                micro_language[0],
                dropout_key,
            ),
        )
        (grads, sums), _ = jax.lax.scan(accumulate, zeros, (jnp.arange(n), micro, micro_language))

    loss = sums["loss_sum"] / total_count
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

    def apply_update():
        updates, opt_state = optimizer.update(
            grads, state.opt_state, state.params, grad_norm=grad_norm
        )
        return optax.apply_updates(state.params, updates), opt_state

    if config.skip_nonfinite:  # a branch, not a select: old and new state never live together
        params, opt_state = jax.lax.cond(
            finite, apply_update, lambda: (state.params, state.opt_state)
        )
    else:
        params, opt_state = apply_update()
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32),
    )
    metrics = {
        "loss": loss,
        "accuracy": sums["correct"] / total_count,
        "masked_tokens": sums["count"],
        "grad_norm": grad_norm,
        "finite": finite,
        "language_loss_sum": sums["language_loss_sum"],
        "language_count": sums["language_count"],
    }
    return new_state, metrics


def eval_step(
    state: TrainState,
    batch: dict[str, jax.Array],
    key: jax.Array,
    *,
    model: XLMRoberta,
    mask_fn: MaskFn,
    num_languages: int,
) -> dict[str, jax.Array]:
    """Validation sums with a fixed masking key (the same positions at every evaluation)."""
    masked = mask_fn(key, batch["input_ids"])
    return mlm_sums(model, state.params, masked, batch["language"], num_languages, None)
