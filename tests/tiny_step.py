"""The tiny preset's MLM trainer on one device, for tests that drive train steps directly."""

from __future__ import annotations

import functools

from xlmr_jax import sharding
from xlmr_jax.config import preset
from xlmr_jax.data.masking import MaskingConfig, mask_tokens
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
from xlmr_jax.training.train_step import StepConfig
from xlmr_jax.training.trainer import Trainer, mlm_trainer

TINY_VOCAB = 8002  # ids 0-3 specials, 8001 <mask>


def tiny_trainer(seq_len: int, step_config: StepConfig) -> Trainer:
    """Dropout off, lr warmup over 1 step to 1e-3, masking for rows of `seq_len`."""
    cfg = preset("tiny").replace(dropout_rate=0.0, attention_dropout_rate=0.0)
    mask_fn = functools.partial(
        mask_tokens,
        mask_id=TINY_VOCAB - 1,
        pad_id=1,
        special_ids=(0, 1, 2, 3, TINY_VOCAB - 1),
        vocab_low=4,
        vocab_high=TINY_VOCAB - 1,
        max_predictions=MaskingConfig().max_predictions(seq_len),
    )
    optimizer = make_optimizer(learning_rate_schedule(10, peak_learning_rate=1e-3, warmup_steps=1))
    mesh = sharding.make_mesh(sharding.MeshConfig())
    return mlm_trainer(XLMRoberta(cfg), optimizer, mesh, mask_fn, step_config)
