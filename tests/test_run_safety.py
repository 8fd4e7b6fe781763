"""Nothing lost: one job per MODEL_DIR, and a damaged latest checkpoint falls back to the one
before it. Every run is the real `xlmr train` on gin/pretrain/tiny_cpu.gin in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from train_runs import device_env, losses, run_train, saved_params, train_command

pytestmark = pytest.mark.slow

STEPS = ["TRAIN_STEPS = 8", "CheckpointConfig.period = 2", "CheckpointConfig.async_save = False"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_run_bindings) -> Path:
    model_dir = tmp_path_factory.mktemp("straight")
    run_train(model_dir, [*tiny_run_bindings, *STEPS])
    return model_dir


def _same_run(a: Path, b: Path) -> None:
    assert losses(a) == losses(b)  # bitwise: the same floats, every step
    x, y = saved_params(a, 8), saved_params(b, 8)
    assert x.keys() == y.keys()
    for key in x:
        np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_a_second_job_on_a_model_dir_fails_at_once(tmp_path, tiny_run_bindings, straight):
    model_dir = tmp_path / "run"
    bindings = [*tiny_run_bindings, *STEPS]
    first = subprocess.Popen(
        train_command(model_dir, bindings), env=device_env(1), stderr=subprocess.PIPE, text=True
    )
    metrics = model_dir / "metrics.jsonl"
    while first.poll() is None and not (metrics.exists() and metrics.read_text()):
        time.sleep(0.001)  # until the first job is inside its step loop (a polling interval)
    first.send_signal(signal.SIGSTOP)  # frozen while the second job tries
    second = subprocess.run(
        train_command(model_dir, [*bindings, "train.seed = 7"]),
        env=device_env(1),
        capture_output=True,
        text=True,
        timeout=600,
    )
    first.send_signal(signal.SIGCONT)
    errors = [line for line in second.stderr.splitlines() if "error:" in line]
    assert second.returncode == 2 and len(errors) == 1, second.stderr[-3000:]
    assert errors[0].startswith(f"xlmr train: error: {model_dir} is in use by pid {first.pid} on ")
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert sorted(p.name for p in (model_dir / "checkpoints").iterdir()) == ["4", "6", "8"]
    _same_run(model_dir, straight)  # one seed's steps, each once


def _largest_file(directory: Path) -> Path:
    return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous(
    tmp_path, tiny_run_bindings, straight, damage
):
    model_dir = tmp_path / "run"
    bindings = [*tiny_run_bindings, *STEPS]
    run_train(model_dir, [*bindings, "train.stop_after = 6"])  # checkpoints 2, 4, 6
    broken = _largest_file(model_dir / "checkpoints" / "6" / "state")
    if damage == "truncated":
        broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    else:
        broken.unlink()

    proc = subprocess.run(
        train_command(model_dir, bindings), env=device_env(1), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    warning = [line for line in proc.stderr.splitlines() if "cannot be restored" in line]
    assert len(warning) == 1 and "Checkpoint 6 " in warning[0], proc.stderr[-3000:]
    assert f"{model_dir}/checkpoints/6/state" in warning[0]  # names what it could not read
    assert (model_dir / "checkpoints_damaged" / "6").is_dir()  # kept for inspection
    _same_run(model_dir, straight)  # resumed from 4: as if stopped there
