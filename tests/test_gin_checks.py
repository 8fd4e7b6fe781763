"""Configuration values are checked where they enter: gin bindings after parsing, dataclass
configs on construction; each error names the binding and what it accepts (issue 13)."""

from __future__ import annotations

import gin
import pytest

from xlmr_jax import gin_utils
from xlmr_jax.config import ModelConfig
from xlmr_jax.data.masking import MaskingConfig
from xlmr_jax.finetuning.specs import Recipe
from xlmr_jax.sharding import MeshConfig
from xlmr_jax.training.train_checkpoints import CheckpointConfig

SET = ["MODEL_DIR = '/m'", "DATA_DIR = '/d'", "SPM_MODEL = '/s'", "TRAIN_STEPS = 10"]


def _parse(*bindings: str, require: bool = True) -> None:
    try:
        gin_utils.parse(["pretrain/tiny_cpu.gin"], [*SET, *bindings], require=require)
    finally:
        gin.clear_config()


@pytest.mark.parametrize(
    "bindings, message",
    [
        (
            ["TRAIN_STEPS = %gin.REQUIRED"],
            "TRAIN_STEPS is required: set it with --gin.TRAIN_STEPS=",
        ),
        (
            ["TRAIN_STEPS = 'ten'"],
            "train.total_steps (from TRAIN_STEPS) = 'ten': expected an integer.",
        ),
        (["PEAK_LR = 'fast'"], "peak_learning_rate (from PEAK_LR) = 'fast': expected a number."),
        (["train.batch_size = %NOPE"], "train.batch_size: macro %NOPE is not defined"),
        (["BATCH_SIZE = 0"], "train.batch_size (from BATCH_SIZE) = 0: expected an integer >= 1."),
        (["train.log_every = 0"], "train.log_every = 0: expected an integer >= 1."),
        (["MODEL_DIR = ' '"], "train.model_dir (from MODEL_DIR) = ' ': expected a non-empty path"),
        (
            ["ALPHA = 1.5"],
            "register_cc100.alpha (from ALPHA) = 1.5: expected a probability in [0, 1]",
        ),
        (
            ["MaskingConfig.whole_word_masking = 'yes'"],
            "whole_word_masking = 'yes': expected True or False",
        ),
        (["train.stop_after = 0"], "train.stop_after = 0: expected an integer >= 1 or None."),
    ],
)
def test_bad_bindings_name_the_binding_and_the_range(bindings, message):
    with pytest.raises(ValueError) as error:
        _parse(*bindings)
    assert message in str(error.value)


def test_good_bindings_pass_and_required_values_may_wait():
    _parse("train.stop_after = None", "PEAK_LR = 1", "ALPHA = 0.7")
    _parse("TRAIN_STEPS = %gin.REQUIRED", require=False)
    with pytest.raises(ValueError, match="no --gin_file given"):
        gin_utils.parse([], SET)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: MaskingConfig(mask_prob=2.0),
            "MaskingConfig.mask_prob = 2.0: expected a probability",
        ),
        (
            lambda: MaskingConfig(leave_unmasked_prob=0.6, random_token_prob=0.6),
            "random_token_prob = 1.2: expected at most 1.",
        ),
        (lambda: CheckpointConfig(keep=0), "CheckpointConfig.keep = 0: expected an integer >= 1."),
        (
            lambda: CheckpointConfig(period=0),
            "CheckpointConfig.period = 0: expected an integer >= 1.",
        ),
        (lambda: Recipe(max_steps=0), "Recipe.max_steps = 0: expected an integer >= 1 or None."),
        (lambda: Recipe(learning_rate="fast"), "Recipe.learning_rate = 'fast': expected a number."),
        (lambda: MeshConfig(model=0), "MeshConfig.model = 0: expected an integer >= 1."),
        (
            lambda: ModelConfig(num_layers=-1),
            "ModelConfig.num_layers = -1: expected an integer >= 0.",
        ),
        (
            lambda: ModelConfig(dropout_rate=1.5),
            "ModelConfig.dropout_rate = 1.5: expected a probability",
        ),
    ],
)
def test_configs_check_their_fields(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert message in str(error.value)
