"""Analytic model FLOPs of an MLM train step and peak FLOP/s of known accelerators (for MFU).

Counted: every matmul the step really computes, 2 FLOPs per multiply-add, backward = 2x forward.
Per sequence of length L with M masked positions, per layer: q/k/v/out projections 8*L*D^2,
FFN 4*L*D*F, attention scores and mixing 4*L^2*D; the LM head only at the M masked positions:
2*M*D^2 + 2*M*D*V. Embedding lookups, LayerNorm, softmax and recomputation under remat are not
counted (the usual MFU convention).
"""

from __future__ import annotations

from xlmr_jax.config import ModelConfig

# Dense bf16 peak FLOP/s per device (vendor figures, no sparsity).
PEAK_FLOPS = {
    "h100": 989e12,
    "h200": 989e12,
    "a100": 312e12,
    "v4": 275e12,
    "v5e": 197e12,
    "v5p": 459e12,
    "v6e": 918e12,
}
# jax's device_kind strings -> the names above, most specific first.
_DEVICE_KINDS = (
    ("tpuv6lite", "v6e"),
    ("tpuv6e", "v6e"),
    ("tpuv5lite", "v5e"),
    ("tpuv5e", "v5e"),
    ("tpuv5p", "v5p"),
    ("tpuv5", "v5p"),  # v5p reports "TPU v5"
    ("tpuv4", "v4"),
)


def forward_flops_per_sequence(cfg: ModelConfig, seq_len: int, masked_positions: int) -> float:
    d, f, v = cfg.hidden_size, cfg.mlp_dim, cfg.vocab_size
    per_layer = 8 * seq_len * d * d + 4 * seq_len * d * f + 4 * seq_len * seq_len * d
    head = 2 * masked_positions * d * d + 2 * masked_positions * d * v
    return cfg.num_layers * per_layer + head


def train_flops_per_sequence(cfg: ModelConfig, seq_len: int, masked_positions: int) -> float:
    return 3 * forward_flops_per_sequence(cfg, seq_len, masked_positions)


def peak_flops(device_kind: str) -> float | None:
    """Peak FLOP/s for a device kind string (jax's 'NVIDIA H100 80GB HBM3', 'TPU v5 lite', or
    a short name such as 'v5e'), if known."""
    kind = device_kind.lower().replace(" ", "")
    for prefix, name in _DEVICE_KINDS:
        if kind.startswith(prefix):
            return PEAK_FLOPS[name]
    for name, value in PEAK_FLOPS.items():
        if name in kind:
            return value
    return None
