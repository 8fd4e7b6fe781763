"""Benchmark shapes, model configs and inputs: the same batches for every implementation."""

from __future__ import annotations

import dataclasses
from typing import Any

MASK_PROB = 0.15
SPECIAL_IDS = (0, 1, 2, 3)  # <s>, <pad>, </s>, <unk>
PAD_ID = 1


@dataclasses.dataclass(frozen=True)
class Shape:
    """Model sizes and the batch of one benchmark row."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    seq_len: int
    batch_size: int

    @property
    def mask_id(self) -> int:
        return self.vocab_size - 1  # <mask> is the last id of the XLM-R vocabulary

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size


# CPU shapes match shared/MEASURED.md. tiny is the `tiny` preset the demo trains (its own 8002-id
# SentencePiece vocabulary); small and base carry the full 250002-row XLM-R embedding.
CPU_SHAPES = {
    "tiny": Shape(8002, 64, 2, 4, 256, seq_len=128, batch_size=8),
    "small": Shape(250002, 256, 4, 4, 1024, seq_len=128, batch_size=8),
    "base": Shape(250002, 768, 12, 12, 3072, seq_len=128, batch_size=4),
    "large": Shape(250002, 1024, 24, 16, 4096, seq_len=128, batch_size=4),
}
# Accelerator shapes (issue 6): base and large at seq 512.
GPU_SHAPES = {
    "tiny": Shape(8002, 64, 2, 4, 256, seq_len=512, batch_size=32),
    "small": Shape(250002, 256, 4, 4, 1024, seq_len=512, batch_size=32),
    "base": Shape(250002, 768, 12, 12, 3072, seq_len=512, batch_size=32),
    "large": Shape(250002, 1024, 24, 16, 4096, seq_len=512, batch_size=16),
}


def masked_per_sequence(seq_len: int) -> int:
    """Positions the peers predict per sequence: the mean of ours, 0.15 * (L - 2) (19 at 128)."""
    return max(1, round(MASK_PROB * (seq_len - 2)))


def model_config(shape: Shape, dtype: str, **overrides: Any):
    from xlmr_jax.config import ModelConfig

    return ModelConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        num_layers=shape.num_layers,
        num_heads=shape.num_heads,
        mlp_dim=shape.mlp_dim,
        dtype=dtype,
        **overrides,
    )


def hf_config(shape: Shape, **kw: Any):
    """An explicit XLM-R config (HF's XLMRobertaConfig() defaults are not XLM-R's)."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.mlp_dim,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=PAD_ID,
        bos_token_id=0,
        eos_token_id=2,
        **kw,
    )


# Inputs: full-length <s> ... </s> rows (no padding), the same for every implementation.
def host_batches(shape: Shape, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` distinct batches: uncorrupted ids (ours masks on device) and, for the peers,
    ids with `masked_per_sequence` positions set to <mask> plus their positions and targets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    b, n = shape.batch_size, shape.seq_len
    m = masked_per_sequence(n)
    batches = []
    for _ in range(count):
        ids = rng.integers(len(SPECIAL_IDS), shape.mask_id, (b, n), dtype=np.int32)
        ids[:, 0], ids[:, -1] = 0, 2
        positions = np.sort(
            np.stack([rng.choice(np.arange(1, n - 1), m, replace=False) for _ in range(b)]), 1
        ).astype(np.int32)
        targets = np.take_along_axis(ids, positions, 1)
        corrupted = ids.copy()
        np.put_along_axis(corrupted, positions, shape.mask_id, 1)
        labels = np.full((b, n), -100, np.int64)
        np.put_along_axis(labels, positions, targets.astype(np.int64), 1)
        batches.append(
            {
                "input_ids": ids,
                "language": np.zeros((b,), np.int32),
                "corrupted_ids": corrupted,
                "positions": positions,
                "targets": targets,
                "labels": labels,
            }
        )
    return batches
