"""Pretraining across meshes, processes and interruptions (subprocesses with simulated devices).

Every run is the real `xlmr train` on gin/pretrain/tiny_cpu.gin and the shared real text.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import optax
import pytest
from train_runs import (
    device_env,
    kill_inside_save,
    losses,
    run_train,
    saved_params,
    train_command,
)

from xlmr_jax import sharding
from xlmr_jax.config import preset
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.train_state import state_specs

pytestmark = pytest.mark.slow

MESHES = {
    "data8": ["MeshConfig.data = 8"],
    "fsdp8": ["MeshConfig.data = 8", "MeshConfig.fsdp = True"],
    "data2_model4": ["MeshConfig.data = 2", "MeshConfig.model = 4"],
    "data4_model2": ["MeshConfig.data = 4", "MeshConfig.model = 2"],
}
DROPOUT = ["ModelConfig.dropout_rate = 0.1", "ModelConfig.attention_dropout_rate = 0.1"]


def _rel(a: dict[int, float], b: dict[int, float]) -> float:
    assert sorted(a) == sorted(b)
    return max(abs(a[s] - b[s]) / abs(b[s]) for s in a)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, tiny_run_bindings) -> tuple[Path, list[str]]:
    """6 steps on one device (also builds the corpus's packed cache for the other runs).

    Other runs keep TRAIN_STEPS = 6 (the learning-rate schedule depends on it) and stop early.
    """
    bindings = [*tiny_run_bindings, *DROPOUT, "TRAIN_STEPS = 6", "CheckpointConfig.period = 5"]
    bindings.append("ModelConfig.vocab_size = 8008")  # rows padded to split over model=2/4
    model_dir = tmp_path_factory.mktemp("baseline")
    run_train(model_dir, [*bindings, "MeshConfig.devices = 1"], devices=8)
    return model_dir, bindings


def test_meshes_match_one_device_and_shard_as_intended(tmp_path, baseline):
    base_dir, bindings = baseline
    reference = losses(base_dir)
    assert sorted(reference) == [1, 2, 3, 4, 5, 6]
    for name, mesh in MESHES.items():
        model_dir = tmp_path / name
        run_train(model_dir, [*bindings, *mesh, "train.stop_after = 5"], devices=8)
        got = losses(model_dir)
        assert _rel(got, {s: reference[s] for s in got}) <= 1e-5, name


def _specs(fsdp: bool) -> dict[str, tuple]:
    """The PartitionSpecs the Trainer gives key parameters (same function it uses)."""
    model = XLMRoberta(preset("tiny"))
    _, specs = state_specs(model, optax.adam(1e-3), sharding.logical_axis_rules(fsdp))
    layer = specs.params["encoder"]["layers_0"]
    mu = specs.opt_state[0].mu["encoder"]["layers_0"]["mlp"]["fc1"]["kernel"]
    return {
        "word_embeddings": tuple(specs.params["embeddings"]["word_embeddings"]["embedding"]),
        "query_kernel": tuple(layer["attention"]["query"]["kernel"]),
        "out_kernel": tuple(layer["attention"]["out"]["kernel"]),
        "fc1_kernel": tuple(layer["mlp"]["fc1"]["kernel"]),
        "fc2_kernel": tuple(layer["mlp"]["fc2"]["kernel"]),
        "layer_norm_scale": tuple(layer["attention_layer_norm"]["scale"]),
        "adam_mu_fc1": tuple(mu),
    }


def test_parameter_shardings_are_megatron_and_fsdp():
    # Tensor parallel: vocab rows, heads and FFN over `model`; embed replicated.
    assert _specs(fsdp=False) == {
        "word_embeddings": ("model", None),
        "query_kernel": (None, "model", None),
        "out_kernel": ("model", None, None),
        "fc1_kernel": (None, "model"),
        "fc2_kernel": ("model", None),
        "layer_norm_scale": (None,),
        "adam_mu_fc1": (None, "model"),
    }
    # FSDP adds the embed dimension over `data`, for parameters and optimizer moments alike.
    assert _specs(fsdp=True) == {
        "word_embeddings": ("model", "data"),
        "query_kernel": ("data", "model", None),
        "out_kernel": ("model", None, "data"),
        "fc1_kernel": ("data", "model"),
        "fc2_kernel": ("model", "data"),
        "layer_norm_scale": ("data",),
        "adam_mu_fc1": ("data", "model"),
    }


def test_restore_onto_a_different_mesh(tmp_path, baseline):
    base_dir, bindings = baseline
    model_dir = tmp_path / "remesh"
    run_train(model_dir, [*bindings, *MESHES["data8"], "train.stop_after = 5"], devices=8)
    run_train(model_dir, [*bindings, *MESHES["data2_model4"]], devices=8)  # resumes 5 -> 6
    assert abs(losses(model_dir)[6] - losses(base_dir)[6]) / losses(base_dir)[6] <= 1e-5


def test_two_processes_match_one_process(tmp_path, baseline):
    base_dir, bindings = baseline
    single = tmp_path / "single"
    run_train(single, [*bindings, "train.stop_after = 5"], devices=8)
    multi = tmp_path / "multi"
    flags = [f"--gin.{b.replace(' = ', '=', 1)}" for b in [*bindings, "train.stop_after = 5"]]
    argv = [sys.executable, "-m", "xlmr_jax.cli", "launch", "local", "--processes", "2"]
    argv += ["--devices_per_process", "4", "--port", "23457", "--log_dir", str(tmp_path), "--"]
    argv += ["--gin_file=pretrain/tiny_cpu.gin", f"--gin.MODEL_DIR='{multi}'", *flags]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    logs = "".join(p.read_text()[-2000:] for p in tmp_path.glob("process_*.log"))
    assert proc.returncode == 0, proc.stdout[-2000:] + logs
    assert "2 processes" in proc.stdout
    assert _rel(losses(multi), losses(single)) <= 1e-5


def test_sigkill_mid_save_then_resume_is_exact(tmp_path, tiny_run_bindings):
    bindings = [*tiny_run_bindings, "TRAIN_STEPS = 20", "CheckpointConfig.period = 2"]
    straight = tmp_path / "straight"
    run_train(straight, bindings)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        train_command(killed, bindings),
        env=device_env(1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = killed / "checkpoints"
    interrupted = kill_inside_save(proc, checkpoints, last_step=20)
    assert interrupted is not None, "the run ended before a save could be interrupted"
    complete = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    assert complete and complete[-1] >= 2
    assert not any(interrupted.startswith(f"{s}.") for s in complete)

    run_train(killed, bindings)  # resumes from the last complete checkpoint
    resumed, reference = losses(killed), losses(straight)
    assert [resumed[s] for s in range(1, 21)] == [reference[s] for s in range(1, 21)]
    a, b = saved_params(killed, 20), saved_params(straight, 20)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
