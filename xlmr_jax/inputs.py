"""Checks and padding for model inputs: token ids must index the table and fit the positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xlmr_jax.config import ModelConfig


def validate_input_ids(ids, config: ModelConfig) -> np.ndarray:
    """`ids` ([length] or [batch, length]) as int32, or a ValueError saying what is wrong.

    JAX clamps out-of-range gathers silently, so ids outside [0, vocab_size) must be caught here;
    sequences may hold at most `config.max_tokens` (512) tokens including <s> and </s>.
    """
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}.")
    if ids.ndim not in (1, 2) or ids.shape[-1] == 0:
        raise ValueError(
            f"token ids must be a non-empty [length] or [batch, length], got {ids.shape}."
        )
    if ids.shape[-1] > config.max_tokens:
        raise ValueError(
            f"sequence of {ids.shape[-1]} tokens (including <s> and </s>) is longer than the "
            f"model's {config.max_tokens}; truncate or window the input."
        )
    bad = (ids < 0) | (ids >= config.vocab_size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"token id {int(ids[where])} at index {where} is out of range: the model has "
            f"{config.vocab_size} embedding rows (valid ids 0..{config.vocab_size - 1})."
        )
    return ids.astype(np.int32)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> np.ndarray:
    """Right-pad id sequences with `pad_id` into one [batch, longest] int32 array."""
    if not sequences:
        raise ValueError("no sequences to pad.")
    batch = np.full((len(sequences), max(len(s) for s in sequences)), pad_id, np.int32)
    for row, seq in zip(batch, sequences):
        row[: len(seq)] = seq
    return batch
