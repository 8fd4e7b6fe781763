"""Model configuration: sizes, LayerNorm placement, vocabulary rows, presets and parameter counts."""

from __future__ import annotations

import dataclasses
from typing import Any

import gin

from xlmr_jax.validation import at_least, check_field_types, probability

PAD_ID = 1
MAX_POSITIONS = 514  # 512 tokens + the pad offset (positions start at pad_id + 1 = 2).


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and numerics of an XLM-R encoder.

    `vocab_size` is the number of embedding rows (250002 for Base/Large, 250880 for the padded
    XL/XXL tables); the tokenizer's size and `<mask>` id are separate facts (see vocab.py).
    """

    vocab_size: int = 250002
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    max_positions: int = MAX_POSITIONS
    type_vocab_size: int = 1
    pad_id: int = PAD_ID
    pre_layer_norm: bool = False
    layer_norm_eps: float = 1e-5
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    classifier_dropout_rate: float = 0.1
    init_std: float = 0.02
    # Initial position embeddings: normal (N(0, init_std), as HF/fairseq) | sinusoidal (the
    # sin/cos table of Vaswani et al. 2017 scaled to std init_std; still learned). Only the
    # start differs: checkpoints, export and fine-tuning are the same.
    position_init: str = "normal"
    dtype: str = "float32"  # compute dtype; parameters are always float32
    scan_layers: bool = False
    remat_policy: str = "none"  # none | full | dots_saveable | dots_with_no_batch_dims_saveable
    # xla (einsum, the reference) | cudnn (GPU) | splash (TPU) | auto; see attention.py
    attention_impl: str = "xla"

    def __post_init__(self):
        check_field_types(self)
        for name in ("vocab_size", "hidden_size", "num_heads", "mlp_dim"):
            at_least(f"ModelConfig.{name}", getattr(self, name), 1)
        at_least("ModelConfig.num_layers", self.num_layers, 0)  # 0: the embeddings (retrieval)
        for name in ("dropout_rate", "attention_dropout_rate", "classifier_dropout_rate"):
            probability(f"ModelConfig.{name}", getattr(self, name))
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"ModelConfig: hidden_size={self.hidden_size} is not divisible by "
                f"num_heads={self.num_heads}."
            )
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(
                f"ModelConfig.dtype must be float32|bfloat16|float16, got {self.dtype!r}."
            )
        if self.attention_impl not in ATTENTION_IMPLS:
            raise ValueError(
                f"ModelConfig.attention_impl={self.attention_impl!r}; choose one of "
                f"{ATTENTION_IMPLS}."
            )
        if self.attention_impl in ("cudnn", "splash") and self.attention_dropout_rate > 0:
            raise ValueError(
                f"ModelConfig.attention_impl={self.attention_impl!r} applies no dropout to the "
                f"attention probabilities but attention_dropout_rate="
                f"{self.attention_dropout_rate}; set ModelConfig.attention_dropout_rate = 0.0, "
                "or attention_impl = 'auto' (a fused kernel only when that rate is 0)."
            )
        if self.position_init not in ("normal", "sinusoidal"):
            raise ValueError(
                f"ModelConfig.position_init must be normal|sinusoidal, got {self.position_init!r}."
            )
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(
                f"ModelConfig.remat_policy={self.remat_policy!r}; choose one of {REMAT_POLICIES}."
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def max_tokens(self) -> int:
        """Longest input including <s> and </s>."""
        return self.max_positions - self.pad_id - 1

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"ModelConfig: unknown fields {sorted(unknown)}.")
        return cls(**d)


ATTENTION_IMPLS = ("xla", "cudnn", "splash", "auto")
REMAT_POLICIES = ("none", "full", "dots_saveable", "dots_with_no_batch_dims_saveable")

PRESETS: dict[str, ModelConfig] = {
    # A few-second CPU model for tests and the demo (vocabulary set by the data).
    "tiny": ModelConfig(vocab_size=8002, hidden_size=64, num_layers=2, num_heads=4, mlp_dim=256),
    "base": ModelConfig(),
    "large": ModelConfig(hidden_size=1024, num_layers=24, num_heads=16, mlp_dim=4096),
    "xl": ModelConfig(
        vocab_size=250880,
        hidden_size=2560,
        num_layers=36,
        num_heads=32,
        mlp_dim=10240,
        pre_layer_norm=True,
    ),
    "xxl": ModelConfig(
        vocab_size=250880,
        hidden_size=4096,
        num_layers=48,
        num_heads=32,
        mlp_dim=16384,
        pre_layer_norm=True,
    ),
}


def preset(name: str) -> ModelConfig:
    """The named preset (tiny, base, large, xl, xxl)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(PRESETS)}.") from None


# Sizes a model checkpoint and the config that loads it must share (the parameters' shapes).
SIZE_FIELDS = (
    "vocab_size", "hidden_size", "num_layers", "num_heads", "mlp_dim", "max_positions",
    "type_vocab_size", "pre_layer_norm",
)  # fmt: skip


def check_same_sizes(saved: ModelConfig, config: ModelConfig, where: str) -> None:
    """Raises naming the fields where a checkpoint's config (`saved`) differs from `config`."""
    mismatched = {
        k: (getattr(saved, k), getattr(config, k))
        for k in SIZE_FIELDS
        if getattr(saved, k) != getattr(config, k)
    }
    if mismatched:
        raise ValueError(
            f"{where} does not match the model config (checkpoint vs config): {mismatched}; "
            "include the matching gin/models/*.gin"
        )


def parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters of encoder + MLM head (decoder tied to the word embeddings).

    Matches the arrays in model.py exactly (tests compare against the initialised tree).
    """
    d, f, layers = cfg.hidden_size, cfg.mlp_dim, cfg.num_layers
    layer_norm = 2 * d
    embeddings = (cfg.vocab_size + cfg.max_positions + cfg.type_vocab_size) * d
    if not cfg.pre_layer_norm:
        embeddings += layer_norm
    attention = 4 * (d * d + d)
    feed_forward = d * f + f + f * d + d
    per_layer = attention + feed_forward + 2 * layer_norm
    encoder = layers * per_layer + (layer_norm if cfg.pre_layer_norm else 0)
    head = d * d + d + layer_norm + cfg.vocab_size
    return {
        "embeddings": embeddings,
        "encoder": encoder,
        "lm_head": head,
        "total": embeddings + encoder + head,
    }
