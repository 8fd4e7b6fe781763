"""Fine-tuning across interruptions: SIGKILL mid-epoch and SIGTERM, then resume, is exact.

Every run is the real `xlmr finetune` of glue_rte.gin (a tiny random model; RTE dev, 277
pairs, stands in for the training data: 9 steps an epoch) in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from train_runs import device_env, kill_inside_save, saved_params

from xlmr_jax import exit_codes
from xlmr_jax.model_checkpoint import load_model

pytestmark = pytest.mark.slow

STEPS_PER_EPOCH, EPOCHS = 9, 2
LAST_STEP = STEPS_PER_EPOCH * EPOCHS
SETTING = [
    "--gin_file=finetune/glue_rte.gin", "--gin_file=models/tiny.gin",
    "--gin.ModelConfig.hidden_size=32", "--gin.ModelConfig.num_heads=2",
    "--gin.ModelConfig.mlp_dim=64", "--gin.INIT_CHECKPOINT=None",
    "--gin.TrainSpec.split='validation'", "--gin.Recipe.learning_rate=1e-3",
    f"--gin.Recipe.num_epochs={EPOCHS}", "--gin.Recipe.max_length=64",
    "--gin.Recipe.log_every=1",
    # saves at even steps: every save but the last is mid-epoch (epochs end at 9 and 18)
    "--gin.CheckpointConfig.period=2",
    "--gin.ModelConfig.dropout_rate=0.1",
]  # fmt: skip


def finetune_command(model_dir: Path, spm_model: str, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "xlmr_jax.cli", "finetune", *SETTING,
        f"--gin.SPM_MODEL='{spm_model}'", f"--gin.DATA_DIR='{data_dir}'",
        f"--gin.MODEL_DIR='{model_dir}'",
    ]  # fmt: skip


def run_finetune(model_dir: Path, spm_model: str, data_dir: Path) -> str:
    proc = subprocess.run(
        finetune_command(model_dir, spm_model, data_dir),
        env=device_env(1),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def assert_same_run(a: Path, b: Path) -> None:
    """Final dev metrics, selection, losses and parameters (train state and best/) bitwise."""
    assert (a / "results.json").read_text() == (b / "results.json").read_text()
    assert (a / "selection.json").read_text() == (b / "selection.json").read_text()
    assert _train_losses(a) == _train_losses(b)
    assert len(_train_losses(a)) == LAST_STEP
    x, y = saved_params(a, LAST_STEP), saved_params(b, LAST_STEP)
    assert x.keys() == y.keys()
    for key in x:
        np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    best_a, best_b = load_model(a / "best").params, load_model(b / "best").params
    for key in ("embeddings", "encoder", "classifier"):
        flat_a, flat_b = _flat(best_a[key]), _flat(best_b[key])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            np.testing.assert_array_equal(flat_a[k], flat_b[k], err_msg=f"best/{key}{k}")


def _train_losses(model_dir: Path) -> dict[int, float]:
    records = [
        json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().split("\n")[:-1]
    ]
    return {r["step"]: r["loss"] for r in records if r["split"] == "train"}


def _flat(tree, prefix: str = "") -> dict[str, np.ndarray]:
    if not isinstance(tree, dict):
        return {prefix: np.asarray(tree)}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}/{key}").items()}


@pytest.fixture(scope="module")
def straight(tmp_path_factory, spm_model, data_dir) -> Path:
    model_dir = tmp_path_factory.mktemp("straight")
    run_finetune(model_dir, spm_model, data_dir)
    return model_dir


def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path, straight, spm_model, data_dir):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        finetune_command(killed, spm_model, data_dir),
        env=device_env(1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    interrupted = kill_inside_save(proc, killed / "checkpoints", LAST_STEP)
    assert interrupted is not None, "the run ended before a save could be interrupted"
    assert not (killed / "results.json").exists()
    complete = sorted(int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit())
    assert complete[-1] % STEPS_PER_EPOCH  # the run resumes mid-epoch

    run_finetune(killed, spm_model, data_dir)
    assert_same_run(killed, straight)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_exits_for_requeue_and_resumes_exactly(
    tmp_path, straight, spm_model, data_dir, signum
):
    """SIGTERM (preemption) and a first Ctrl-C (SIGINT) alike: save, exit 75, resume exactly."""
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen(
        finetune_command(stopped, spm_model, data_dir),
        env=device_env(1),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # The signal while the run is frozen (SIGSTOP) inside its step loop: its first train record
    # is written and results are not; the handler runs when it continues.
    metrics = stopped / "metrics.jsonl"
    while proc.poll() is None and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.001)  # a polling interval; nothing depends on its length
    proc.send_signal(signal.SIGSTOP)
    assert not (stopped / "results.json").exists()
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == exit_codes.PREEMPTED == 75
    assert "preempted: checkpoint saved" in out
    saved = sorted(int(p.name) for p in (stopped / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and saved[-1] < LAST_STEP
    assert not (stopped / "results.json").exists()

    run_finetune(stopped, spm_model, data_dir)
    assert_same_run(stopped, straight)


def test_a_finished_run_is_refused_unless_overwrite(tmp_path, straight, spm_model, data_dir):
    finished = tmp_path / "finished"
    shutil.copytree(straight, finished)
    before = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    command = finetune_command(finished, spm_model, data_dir)
    proc = subprocess.run(command, env=device_env(1), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert errors == [
        f"xlmr finetune: error: {finished} holds a finished run (results.json); pass "
        "--overwrite (finetune.overwrite = True) to replace it, or choose another MODEL_DIR."
    ]
    assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before

    proc = subprocess.run(
        [*command, "--overwrite"], env=device_env(1), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_run(finished, straight)  # replaced by a fresh run of the same setting
