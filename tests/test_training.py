"""Pretraining in one process: microbatches, learning on real text, clear errors before compile."""

from __future__ import annotations

import gin
import jax
import numpy as np
import pytest
from tiny_step import tiny_trainer

from xlmr_jax import gin_utils
from xlmr_jax.training.loop import train
from xlmr_jax.training.train_step import StepConfig


def _bound_train(bindings: list[str], model_dir) -> None:
    """Parse tiny_cpu.gin + bindings as `xlmr train` does."""
    gin_utils.parse(["pretrain/tiny_cpu.gin"], [*bindings, f"MODEL_DIR = '{model_dir}'"])


def test_four_microbatches_equal_one_batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 8001, (32, 32)).astype(np.int32)
    ids[:, 0], ids[::3, 20:] = 0, 1  # <s> and some padding
    batch = {"input_ids": ids, "language": rng.integers(0, 3, 32).astype(np.int32)}
    results = []
    for n in (1, 4):
        trainer = tiny_trainer(32, StepConfig(num_languages=3, microbatches=n))
        state = trainer.init_state(0)
        state, _ = trainer.train_step(state, batch)  # lr 0: moments only
        state, metrics = trainer.train_step(state, batch)
        results.append((jax.device_get(metrics), jax.device_get(state.params)))
    (m1, p1), (m4, p4) = results
    for key in ("loss", "accuracy", "grad_norm", "masked_tokens"):
        np.testing.assert_allclose(m1[key], m4[key], rtol=1e-5)
    np.testing.assert_allclose(m1["language_loss_sum"], m4["language_loss_sum"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p4)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_tiny_model_learns_on_real_text(tmp_path, tiny_run_bindings):
    bindings = [
        *tiny_run_bindings,
        "TRAIN_STEPS = 150",
        "BATCH_SIZE = 16",
        "TOKENS_PER_SAMPLE = 64",
        "WARMUP_STEPS = 15",
        "train.eval_every = 25",
        "train.eval_batches = 4",
        "train.log_every = 10",
        "register_cc100.validation_fraction = 0.05",
    ]
    _bound_train(bindings, tmp_path)
    result = train()
    val = result.validation_losses
    assert sorted(val) == [25, 50, 75, 100, 125, 150]
    assert val[150] < val[25] - 0.3, val  # a clear drop in held-out MLM loss
    assert val[150] < np.log(8002) - 1.0  # far below a uniform guess over the vocabulary
    assert "WARMUP_STEPS = 15" in (tmp_path / "config.gin").read_text()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 15 + 6
    assert list((tmp_path / "tensorboard").glob("train/events.out.tfevents.*"))


def test_unknown_binding_and_missing_file_are_clear():
    with pytest.raises(ValueError, match="No configurable matching 'no_such_thing'"):
        gin_utils.parse(["pretrain/tiny_cpu.gin"], ["no_such_thing.x = 1"])
    with pytest.raises(FileNotFoundError, match="gin file 'pretrain/nope.gin' not found"):
        gin_utils.parse(["pretrain/nope.gin"], [])


def test_missing_mixture_language_is_clear_before_compile(tmp_path, tiny_run_bindings):
    _bound_train([*tiny_run_bindings, "LANGUAGES = ['en', 'xx']", "TRAIN_STEPS = 5"], tmp_path)
    with pytest.raises(Exception, match="xx"):
        train()
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


def test_mesh_that_does_not_divide_is_clear(tmp_path, tiny_run_bindings):
    _bound_train([*tiny_run_bindings, "MeshConfig.model = 3", "TRAIN_STEPS = 5"], tmp_path)
    with pytest.raises(ValueError, match="MeshConfig.model=3 does not divide the 1 devices"):
        train()
    _bound_train(
        [*tiny_run_bindings, "BATCH_SIZE = 6", "MICROBATCHES = 4", "TRAIN_STEPS = 5"], tmp_path
    )
    with pytest.raises(ValueError, match="not divisible by microbatches=4"):
        train()


def test_checkpoint_of_another_model_size_is_refused(tmp_path, tiny_run_bindings):
    bindings = [*tiny_run_bindings, "TRAIN_STEPS = 3", "CheckpointConfig.period = 3"]
    _bound_train(bindings, tmp_path)
    train()
    _bound_train([*bindings, "TRAIN_STEPS = 4", "ModelConfig.hidden_size = 32"], tmp_path)
    with pytest.raises(ValueError, match="different model size"):
        train()
    gin.clear_config()
