"""Train state: parameters, optimizer state, step, RNG and the non-finite update counter."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec

from xlmr_jax import sharding
from xlmr_jax.model import XLMRoberta


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 key data; per-step keys are fold_in(rng, step)
    skipped_steps: jax.Array  # updates skipped because the loss or gradients were not finite


def init_train_state(
    model: XLMRoberta, optimizer: optax.GradientTransformation, seed: int, params: Any = None
) -> TrainState:
    """Fresh state; `params` (unboxed, e.g. from an imported checkpoint) replaces the init."""
    init_key, run_key = jax.random.split(jax.random.key(seed))
    if params is None:
        params = nn.unbox(model.init(init_key, jnp.ones((1, 8), jnp.int32) * 5)["params"])
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        rng=jax.random.key_data(run_key),
        skipped_steps=jnp.zeros((), jnp.int32),
    )


def state_specs(
    model: XLMRoberta, optimizer: optax.GradientTransformation, rules
) -> tuple[TrainState, TrainState]:
    """(abstract state, PartitionSpec tree) without allocating anything.

    Optimizer moments inherit their parameter's spec; counters are replicated.
    """
    boxed = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.ones((1, 8), jnp.int32) * 5)["params"]
    )
    param_specs = sharding.param_specs(boxed, rules)
    abstract = jax.eval_shape(lambda: init_train_state(model, optimizer, 0))
    opt_specs = optax.tree_map_params(
        optimizer,
        lambda _, spec: spec,
        abstract.opt_state,
        param_specs,
        transform_non_params=lambda _: PartitionSpec(),
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
    specs = TrainState(
        step=PartitionSpec(),
        params=param_specs,
        opt_state=opt_specs,
        rng=PartitionSpec(),
        skipped_steps=PartitionSpec(),
    )
    return abstract, specs
