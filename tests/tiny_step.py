"""The tiny preset's MLM trainer on one device, for tests that drive train steps directly."""

from __future__ import annotations

from xlmr_jax import sharding
from xlmr_jax.config import preset
from xlmr_jax.data.masking import MaskIds, bind_masking
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
from xlmr_jax.training.train_step import StepConfig
from xlmr_jax.training.trainer import Trainer, mlm_trainer

TINY_VOCAB = 8002  # ids 0-3 specials, 8001 <mask>


def tiny_trainer(seq_len: int, step_config: StepConfig) -> Trainer:
    """Dropout off, lr warmup over 1 step to 1e-3, masking for rows of `seq_len`."""
    cfg = preset("tiny").replace(dropout_rate=0.0, attention_dropout_rate=0.0)
    mask_fn = bind_masking(MaskIds.fairseq_layout(TINY_VOCAB), seq_len)
    optimizer = make_optimizer(learning_rate_schedule(10, peak_learning_rate=1e-3, warmup_steps=1))
    mesh = sharding.make_mesh(sharding.MeshConfig())
    return mlm_trainer(XLMRoberta(cfg), optimizer, mesh, mask_fn, step_config)
