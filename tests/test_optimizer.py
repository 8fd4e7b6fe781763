"""The fused clip + AdamW against optax's chain; the non-finite guard of the train step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from tiny_step import tiny_trainer

from xlmr_jax.training.optimizer import _decay_mask, learning_rate_schedule, make_optimizer
from xlmr_jax.training.train_step import StepConfig


@pytest.mark.parametrize("decay_all_params", [True, False])
@pytest.mark.parametrize("clip_norm", [0.5, None, 1e3])
def test_fused_adamw_equals_optax_chain(decay_all_params, clip_norm):
    schedule = learning_rate_schedule(10, peak_learning_rate=1e-2, warmup_steps=2)
    ours = make_optimizer(schedule, decay_all_params=decay_all_params, clip_norm=clip_norm)
    reference = optax.chain(
        *([optax.clip_by_global_norm(clip_norm)] if clip_norm else []),
        optax.adamw(
            schedule,
            b1=0.9,
            b2=0.98,
            eps=1e-6,
            weight_decay=0.01,
            mask=lambda p: _decay_mask(p, decay_all_params),
        ),
    )
    rng = np.random.default_rng(0)
    params = {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "bias": jnp.ones(4)},
        "layer_norm": {"scale": jnp.ones(4), "bias": jnp.full(4, 0.5)},
    }
    p_ours, p_ref = params, params
    s_ours, s_ref = ours.init(params), reference.init(params)
    for step in range(6):
        grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape) * 3, x.dtype), params)
        norm = optax.global_norm(grads) if step % 2 else None  # the caller's norm, or its own
        u, s_ours = jax.jit(ours.update)(grads, s_ours, p_ours, grad_norm=norm)
        p_ours = optax.apply_updates(p_ours, u)
        u, s_ref = reference.update(grads, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, u)
    for a, b in zip(jax.tree.leaves(p_ours), jax.tree.leaves(p_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(p_ours["dense"]["kernel"], params["dense"]["kernel"])


@pytest.mark.parametrize("skip_nonfinite", [True, False])
def test_nonfinite_step_is_skipped_and_counted(skip_nonfinite):
    trainer = tiny_trainer(16, StepConfig(skip_nonfinite=skip_nonfinite))
    rng = np.random.default_rng(0)
    batch = {
        "input_ids": rng.integers(4, 8001, (4, 16)).astype(np.int32),
        "language": np.zeros(4, np.int32),
    }
    state = trainer.init_state(0)
    state, metrics = trainer.train_step(state, batch)
    assert bool(metrics["finite"])
    poisoned = jax.tree.map(np.array, jax.device_get(state.params))
    poisoned["lm_head"]["dense"]["kernel"][0, 0] = np.inf
    before = jax.device_get(state.replace(params=poisoned))
    after, metrics = trainer.train_step(jax.device_put(before, trainer.state_shardings), batch)
    after = jax.device_get(after)
    assert not bool(metrics["finite"])
    assert int(after.step) == 2
    kept = jax.tree.leaves((after.params, after.opt_state))
    old = jax.tree.leaves((before.params, before.opt_state))
    unchanged = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(kept, old))
    if skip_nonfinite:
        assert int(after.skipped_steps) == 1 and unchanged
    else:
        assert int(after.skipped_steps) == 1 and not unchanged
