"""Table-driven tensor moves between torch-layout state dicts and the flat xlmr-jax parameter tree.

A table lists `(torch name, flax path, kind)`; the same table drives both directions, so import and
export cannot drift apart. Flax paths are "/"-joined (`encoder/layers_0/attention/query`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from xlmr_jax.config import ModelConfig

Entry = tuple[str, str, str]  # (torch name, flax path, kind)

# kind -> [(torch suffix, flax leaf)]; a torch Linear weight is (out, in), a Flax kernel (in, out).
_LEAVES: dict[str, list[tuple[str, str]]] = {
    "embedding": [(".weight", "embedding")],
    "dense": [(".weight", "kernel"), (".bias", "bias")],
    "qkv": [(".weight", "kernel"), (".bias", "bias")],
    "out": [(".weight", "kernel"), (".bias", "bias")],
    "layer_norm": [(".weight", "scale"), (".bias", "bias")],
    "param": [("", "")],
}


def to_numpy(tensor) -> np.ndarray:
    """A torch tensor or array-like as a float32 numpy array (torch is only touched if given)."""
    if hasattr(tensor, "detach"):
        import torch

        return tensor.detach().to(torch.float32).cpu().numpy()
    return np.asarray(tensor, dtype=np.float32)


def _flax_key(path: str, leaf: str) -> str:
    return f"{path}/{leaf}" if leaf else path


def _to_flax(kind: str, leaf: str, value: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    heads, head_dim, d = cfg.num_heads, cfg.head_dim, cfg.hidden_size
    if leaf == "kernel":
        value = value.T
        if kind == "qkv":
            return value.reshape(d, heads, head_dim)
        if kind == "out":
            return value.reshape(heads, head_dim, d)
    elif kind == "qkv" and leaf == "bias":
        return value.reshape(heads, head_dim)
    return value


def _to_torch(kind: str, leaf: str, value: np.ndarray) -> np.ndarray:
    if leaf == "kernel":
        if kind == "qkv":
            value = value.reshape(value.shape[0], -1)
        elif kind == "out":
            value = value.reshape(-1, value.shape[-1])
        value = value.T
    elif kind == "qkv" and leaf == "bias":
        value = value.reshape(-1)
    return np.ascontiguousarray(value)


def torch_names(table: Iterable[Entry]) -> list[str]:
    """Every torch state-dict key the table reads or writes."""
    return [name + suffix for name, _, kind in table for suffix, _ in _LEAVES[kind]]


def torch_to_flax(
    state: Mapping[str, np.ndarray], table: Iterable[Entry], cfg: ModelConfig
) -> dict[str, np.ndarray]:
    """Flat flax tree from a torch-layout state dict; raises listing every missing key."""
    table = list(table)
    missing = [name for name in torch_names(table) if name not in state]
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} expected tensors: {missing}")
    flat = {}
    for name, path, kind in table:
        for suffix, leaf in _LEAVES[kind]:
            value = to_numpy(state[name + suffix])
            try:
                value = _to_flax(kind, leaf, value, cfg)
            except ValueError:
                raise ValueError(
                    f"{name + suffix} has shape {value.shape}, which does not fit the config "
                    f"(hidden_size={cfg.hidden_size}, num_heads={cfg.num_heads}): the config "
                    "and the weights disagree."
                ) from None
            flat[_flax_key(path, leaf)] = np.ascontiguousarray(value)
    return flat


def flax_to_torch(flat: Mapping[str, np.ndarray], table: Iterable[Entry]) -> dict[str, np.ndarray]:
    """Torch-layout state dict (numpy float32) from a flat flax tree."""
    state = {}
    for name, path, kind in table:
        for suffix, leaf in _LEAVES[kind]:
            value = np.asarray(flat[_flax_key(path, leaf)], dtype=np.float32)
            state[name + suffix] = _to_torch(kind, leaf, value)
    return state
