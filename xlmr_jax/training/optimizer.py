"""AdamW with fairseq/RoBERTa defaults, warmup + polynomial decay, clipping; all gin-configurable."""

from __future__ import annotations

import gin
import jax
import optax
from flax import traverse_util


@gin.configurable
def learning_rate_schedule(
    total_steps: int,
    peak_learning_rate: float = 5e-4,
    warmup_steps: int = 10_000,
    end_learning_rate: float = 0.0,
    power: float = 1.0,
) -> optax.Schedule:
    """Linear warmup to the peak, then polynomial decay to `end_learning_rate` at `total_steps`.

    fairseq's `polynomial_decay` scheduler; power 1.0 is the RoBERTa/XLM-R linear decay.
    """
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps={warmup_steps} must be smaller than total_steps={total_steps} "
            "(learning_rate_schedule)."
        )
    warmup = optax.linear_schedule(0.0, peak_learning_rate, warmup_steps)
    decay = optax.polynomial_schedule(
        peak_learning_rate, end_learning_rate, power, total_steps - warmup_steps
    )
    return optax.join_schedules([warmup, decay], [warmup_steps])


def _decay_mask(params, decay_all_params: bool):
    """fairseq decays every parameter; HF excludes biases and LayerNorm weights."""
    if decay_all_params:
        return jax.tree.map(lambda _: True, params)
    flat = traverse_util.flatten_dict(params)
    mask = {
        path: not (path[-1] == "bias" or "layer_norm" in path[-2] or path[-1] == "scale")
        for path in flat
    }
    return traverse_util.unflatten_dict(mask)


@gin.configurable
def make_optimizer(
    schedule: optax.Schedule,
    b1: float = 0.9,
    b2: float = 0.98,
    eps: float = 1e-6,
    weight_decay: float = 0.01,
    decay_all_params: bool = True,
    clip_norm: float | None = 1.0,
) -> optax.GradientTransformation:
    """Adam (betas 0.9/0.98, eps 1e-6) with decoupled weight decay and global-norm clipping."""
    parts = []
    if clip_norm:
        parts.append(optax.clip_by_global_norm(clip_norm))
    parts.append(
        optax.adamw(
            schedule,
            b1=b1,
            b2=b2,
            eps=eps,
            weight_decay=weight_decay,
            mask=lambda p: _decay_mask(p, decay_all_params),
        )
    )
    return optax.chain(*parts)
