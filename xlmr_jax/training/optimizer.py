"""AdamW with fairseq/RoBERTa defaults, warmup + polynomial decay, clipping; all gin-configurable."""

from __future__ import annotations

import gin
import jax
import jax.numpy as jnp
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
) -> optax.GradientTransformationExtraArgs:
    """Adam (betas 0.9/0.98, eps 1e-6) with decoupled weight decay and global-norm clipping.

    The same math as `optax.chain(optax.clip_by_global_norm(clip_norm), optax.adamw(...))`
    (tested equal), written as one elementwise update per parameter array: the chain makes
    separate passes over every parameter for the clip, both moments, the bias correction, the
    decay and the learning rate, which XLA:CPU does not fuse (2-3x slower for the 278M base
    model, docs/benchmarks.md). The state is optax's `ScaleByAdamState`.
    """

    def init(params):
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)  # noqa: E731
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros(), nu=zeros())

    def update(grads, state, params, *, grad_norm=None, **_):
        """`grad_norm`: the gradients' global norm when the caller has it (computed once)."""
        if params is None:
            raise ValueError("make_optimizer's update needs the parameters (weight decay).")
        count = optax.safe_increment(state.count)
        learning_rate = schedule(state.count)
        scale = 1.0
        if clip_norm:
            norm = optax.global_norm(grads) if grad_norm is None else grad_norm
            scale = jnp.where(norm < clip_norm, 1.0, clip_norm / norm)
        correction1, correction2 = 1 - b1**count, 1 - b2**count

        def leaf(g, m, v, p, decay):
            g = g * scale
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            u = (m / correction1) / (jnp.sqrt(v / correction2) + eps)
            if decay and weight_decay:
                u = u + weight_decay * p
            return -learning_rate * u, m, v

        mask = _decay_mask(params, decay_all_params)
        out = jax.tree.map(leaf, grads, state.mu, state.nu, params, mask)
        pick = lambda i: jax.tree.map(lambda _, o: o[i], grads, out)  # noqa: E731
        return pick(0), optax.ScaleByAdamState(count=count, mu=pick(1), nu=pick(2))

    return optax.GradientTransformationExtraArgs(init, update)
