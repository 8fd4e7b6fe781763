"""Fused attention (attention.py) against the `xla` reference: forward and gradients on padded
batches for both architectures, on CPU (splash in Pallas interpret mode, cudnn through
jax.nn.dot_product_attention's XLA implementation with the same arguments).

Tolerance: float32 throughout. The fused paths compute the same softmax in another order
(splash: online softmax over 128-key blocks, q scaled before the dot; cudnn's reference: scale
and mask applied by jax.nn), so results differ by float32 rounding accumulated over two layers.
Measured: hidden states within 1.2e-6, gradients within 3e-6 of the largest gradient entry;
asserted: 1e-5 and 2e-5 (a few times the measured error, far below any real mismatch, e.g. a
padding key attended to, which changes gradients at the 1e-2 relative level).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xlmr_jax import attention
from xlmr_jax.config import ModelConfig, preset
from xlmr_jax.model import XLMRoberta, init_params


def _padded_batch(vocab: int) -> np.ndarray:
    ids = np.random.default_rng(0).integers(4, vocab, (3, 128)).astype(np.int32)
    ids[0, 100:] = 1  # padding after 100 tokens
    ids[1, 7:] = 1  # mostly padding
    return ids


@pytest.mark.parametrize("pre_layer_norm", [False, True], ids=["post-LN", "pre-LN"])
def test_fused_attention_matches_xla_forward_and_gradients(pre_layer_norm):
    cfg = preset("tiny").replace(
        vocab_size=1000, attention_dropout_rate=0.0, pre_layer_norm=pre_layer_norm
    )
    ids = _padded_batch(cfg.vocab_size)
    params = nn.unbox(init_params(XLMRoberta(cfg), jax.random.key(0)))

    def loss(p, impl):
        out = XLMRoberta(cfg.replace(attention_impl=impl)).apply({"params": p}, ids)
        return jnp.mean(out["logits"] ** 2), out["last_hidden_state"]

    (_, ref_hidden), ref_grads = jax.value_and_grad(loss, has_aux=True)(params, "xla")
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(ref_grads))
    for impl in ("splash", "cudnn"):
        (_, hidden), grads = jax.value_and_grad(loss, has_aux=True)(params, impl)
        np.testing.assert_allclose(hidden, ref_hidden, atol=1e-5, rtol=0, err_msg=impl)
        errors = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), grads, ref_grads)
        assert max(jax.tree.leaves(errors)) <= 2e-5 * scale, (impl, errors)


def test_fully_padded_row_attends_uniformly_like_xla():
    q, k, v = (jax.random.normal(jax.random.key(i), (2, 128, 2, 16)) for i in range(3))
    mask = jnp.zeros((2, 128), bool).at[0, :5].set(True)  # row 1 has no real token
    reference = jax.nn.dot_product_attention(q, k, v, mask=mask[:, None, None, :])
    for impl in ("splash", "cudnn"):
        out = attention.fused_attention(impl, q, k, v, mask)
        np.testing.assert_allclose(out, reference, atol=1e-5, err_msg=impl)
    np.testing.assert_allclose(out[1], jnp.broadcast_to(v[1].mean(0), out[1].shape), atol=1e-5)


def test_splash_pads_a_sequence_length_that_is_not_a_multiple_of_128():
    q, k, v = (jax.random.normal(jax.random.key(i), (1, 40, 2, 16)) for i in range(3))
    mask = jnp.arange(40)[None] < 33
    out = attention.fused_attention("splash", q, k, v, mask)
    reference = jax.nn.dot_product_attention(q, k, v, mask=mask[:, None, None, :])
    assert out.shape == q.shape
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_auto_is_xla_on_cpu_and_with_attention_dropout():
    assert attention.resolve("auto", 0.0) == "xla"  # CPU: no fused kernel runs natively
    assert attention.resolve("auto", 0.1) == "xla"
    assert attention.resolve("splash", 0.0) == "splash"  # interpret mode on CPU


@pytest.mark.parametrize("impl", ["cudnn", "splash"])
def test_fused_kernel_with_attention_dropout_is_refused(impl):
    with pytest.raises(ValueError, match="attention_dropout_rate = 0.0"):
        ModelConfig(attention_impl=impl)
    ModelConfig(attention_impl=impl, attention_dropout_rate=0.0)
    ModelConfig(attention_impl="auto")  # auto keeps dropout by choosing xla


def test_unknown_attention_impl_is_refused():
    with pytest.raises(ValueError, match="attention_impl='flash'"):
        ModelConfig(attention_impl="flash")
