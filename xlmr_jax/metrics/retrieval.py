"""Sentence retrieval without fine-tuning, as XTREME evaluates XLM-R on Tatoeba and BUCC.

A sentence's vector is the mean of one layer's hidden states over its tokens (<s> and </s>
included, padding excluded); each source sentence retrieves the target sentence of highest
cosine similarity, and accuracy is the share retrieving its own translation (same line).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from xlmr_jax.inputs import pad_batch
from xlmr_jax.model import XLMRoberta
from xlmr_jax.model_checkpoint import LoadedModel

BATCH = 64


def truncated(model: LoadedModel, layer: int | None) -> tuple[XLMRoberta, dict]:
    """A features-only module of the first `layer` layers (default all) and its parameters.

    Layer 0 is the embeddings' output; pre-LayerNorm models apply their final LayerNorm to the
    chosen layer, as to the last.
    """
    layers = model.config.num_layers if layer is None else layer
    if not 0 <= layers <= model.config.num_layers:
        raise ValueError(
            f"--layer {layer} is outside 0..{model.config.num_layers} (0 = embeddings output)."
        )
    encoder = dict(model.params["encoder"])
    for i in range(layers, model.config.num_layers):
        encoder.pop(f"layers_{i}")
    config = model.config.replace(num_layers=layers, scan_layers=False, remat_policy="none")
    params = {"embeddings": model.params["embeddings"], "encoder": encoder}
    return XLMRoberta(config, head="none"), params


def sentence_vectors(
    module: XLMRoberta, params: dict, ids: Sequence[Sequence[int]], batch: int = BATCH
) -> np.ndarray:
    """[n, hidden] unit-length mean-pooled vectors, in the order of `ids`."""
    pad = module.config.pad_id
    forward = jax.jit(functools.partial(_mean_pooled, module))
    order = np.argsort([len(s) for s in ids], kind="stable")  # similar lengths per batch
    out = np.zeros((len(ids), module.config.hidden_size), np.float32)
    for start in range(0, len(ids), batch):
        rows = order[start : start + batch]
        padded = pad_batch([ids[i] for i in rows], pad)
        width = -(-padded.shape[1] // 16) * 16  # few distinct shapes to compile
        padded = np.pad(padded, ((0, 0), (0, width - padded.shape[1])), constant_values=pad)
        out[rows] = np.asarray(forward(params, jnp.asarray(padded)))
    return out


def _mean_pooled(module: XLMRoberta, params: dict, ids: jax.Array) -> jax.Array:
    hidden = module.apply({"params": params}, ids)["last_hidden_state"].astype(jnp.float32)
    mask = (ids != module.config.pad_id)[..., None]
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return mean / jnp.maximum(jnp.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)


def retrieval_accuracy(source: np.ndarray, target: np.ndarray) -> float:
    """Percent of source rows whose most cosine-similar target row is the one of the same index."""
    if source.shape != target.shape:
        raise ValueError(f"source {source.shape} and target {target.shape} do not align.")
    nearest = np.argmax(source @ target.T, axis=1)
    return 100.0 * float(np.mean(nearest == np.arange(len(source))))
