"""Fused attention kernels: cuDNN flash attention (GPU) and Pallas splash attention (TPU).

`ModelConfig.attention_impl` chooses: `xla` (model.py's einsum, the reference, with attention
dropout), `cudnn` (`jax.nn.dot_product_attention(implementation="cudnn")`, key padding as
per-row key lengths), `splash`
(`jax.experimental.pallas.ops.tpu.splash_attention`, key padding as segment ids) or `auto`
(splash on TPU, cudnn on GPU, xla elsewhere or when attention dropout is on). Neither kernel
applies dropout to the attention probabilities, so config.py refuses `cudnn`/`splash` with
`attention_dropout_rate > 0`. On CPU (tests) `cudnn` runs jax.nn.dot_product_attention's XLA
implementation with the same arguments and `splash` runs the Pallas kernel in interpret mode.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.pallas.ops.tpu import splash_attention as splash

from xlmr_jax import sharding

# The platform each kernel is built for; on "cpu" both run their reference/interpret path.
_KERNEL_PLATFORM = {"cudnn": "gpu", "splash": "tpu"}
SPLASH_BLOCK = 128  # splash's tiles are multiples of the 128-lane TPU vector width


def resolve(impl: str, attention_dropout_rate: float) -> str:
    """The implementation to trace on the current platform (`auto` made concrete)."""
    platform = sharding.current_platform()
    if impl == "auto":
        if attention_dropout_rate > 0 or platform not in ("tpu", "gpu"):
            return "xla"
        return "splash" if platform == "tpu" else "cudnn"
    if impl in _KERNEL_PLATFORM and platform not in (_KERNEL_PLATFORM[impl], "cpu"):
        raise ValueError(
            f"ModelConfig.attention_impl={impl!r} is a {_KERNEL_PLATFORM[impl].upper()} kernel "
            f"but the program is compiled for {platform}; use 'auto' or 'xla'."
        )
    return impl


def fused_attention(impl: str, q, k, v, mask: jax.Array) -> jax.Array:
    """softmax(q k^T / sqrt(d) + key padding) v for q, k, v [B, L, H, D], mask [B, L] (True =
    real token; for cudnn the real tokens must come first in each row); returns [B, L, H, D] in
    q's dtype. A row with no real token attends to all keys uniformly, as the xla path does."""
    empty = ~mask.any(axis=1)  # rows of padding only: equal scores (q = 0) over every key
    mask = mask | empty[:, None]
    q = jnp.where(empty[:, None, None, None], jnp.zeros_like(q), q)
    if impl == "cudnn":
        return _cudnn(q, k, v, mask)
    if impl == "splash":
        return _splash(q, k, v, mask)
    raise ValueError(f"no fused attention kernel {impl!r}")


def _cudnn(q, k, v, mask):
    """cuDNN flash attention with per-row key lengths (its padding mask): XLM-R rows are real
    tokens then padding, as every pipeline here lays them out. cuDNN takes a mask only as a
    full [B, N, T, S] bias, which would cost what the kernel saves."""
    on_gpu = sharding.current_platform() == "gpu"
    batch, seq_len = mask.shape
    return jax.nn.dot_product_attention(
        q,
        k,
        v,
        query_seq_lengths=jnp.full((batch,), seq_len, jnp.int32),
        key_value_seq_lengths=mask.sum(axis=1, dtype=jnp.int32),
        implementation="cudnn" if on_gpu else "xla",
    )


def _splash(q, k, v, mask):
    """Splash over [B, L, H, D]; L is padded up to a multiple of 128 (padding keys masked)."""
    seq_len = q.shape[1]
    pad = -seq_len % SPLASH_BLOCK
    if pad:
        q, k, v = (jnp.pad(t, ((0, 0), (0, pad), (0, 0), (0, 0))) for t in (q, k, v))
        mask = jnp.pad(mask, ((0, 0), (0, pad)))
    q = (q * q.shape[-1] ** -0.5).astype(q.dtype)
    q, k, v = (jnp.swapaxes(t, 1, 2) for t in (q, k, v))  # [B, H, L, D]
    interpret = sharding.current_platform() != "tpu"
    qkv_spec = sharding.activation_spec(("batch", "heads", "length", "kv"))
    if qkv_spec is None:  # no mesh: one device
        out = _splash_local(q, k, v, mask, interpret=interpret)
    else:
        mask_spec = sharding.activation_spec(("batch", "length"))
        out = jax.shard_map(
            functools.partial(_splash_local, interpret=interpret),
            in_specs=(qkv_spec, qkv_spec, qkv_spec, mask_spec),
            out_specs=qkv_spec,
            check_vma=False,
        )(q, k, v, mask)
    return jnp.swapaxes(out, 1, 2)[:, :seq_len]


def _splash_local(q, k, v, mask, *, interpret: bool):
    """Splash over this device's [b, h, L, D] block; query segment 1, key segment 1 = real."""
    heads, seq_len = q.shape[1], q.shape[2]
    block = max(b for b in (512, 256, 128) if seq_len % b == 0)
    kernel = splash.make_splash_mha(
        splash.MultiHeadMask([splash.FullMask((seq_len, seq_len))] * heads),
        block_sizes=splash.BlockSizes(
            block_q=block,
            block_kv=block,
            block_kv_compute=block,
            block_q_dkv=block,
            block_kv_dkv=block,
            block_kv_dkv_compute=block,
            block_q_dq=block,
            block_kv_dq=block,
        ),
        head_shards=1,
        q_seq_shards=1,
        interpret=interpret,
    )
    segments = splash.SegmentIds(q=jnp.ones(mask.shape, np.int32), kv=mask.astype(np.int32))
    return jax.vmap(kernel)(q, k, v, segment_ids=segments)
