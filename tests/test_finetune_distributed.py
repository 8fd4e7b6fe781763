"""Fine-tuning under jax.distributed: 2 processes x 4 devices == 1 process x 8.

Both runs are the real `xlmr finetune` of glue_rte.gin (the 2 processes started by `xlmr launch
local --command finetune`) (a tiny random model; RTE dev stands in
for the training data: 9 steps an epoch, 2 epochs) on a data=8 mesh, with both selection modes
and a test spec (the dev set again), so the selected models are saved from globally sharded
parameters and reloaded onto every process for the final evaluation.

Dev metrics, selection, results and predictions files are bitwise equal. Losses, gradient
norms and parameters agree to the last float32 bits only: the cross-device sums (the gradient
all-reduce, the batch mean of the loss) add the 8 devices' values in rank order within one
process, but gloo's cross-process all-reduce adds them in another order (for about 40% of the
elements of an 8 x 4096 float32 all-reduce), and float addition is not associative.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_runs import TINY_FINETUNE, device_env, saved_params

from xlmr_jax.model_checkpoint import load_model

pytestmark = pytest.mark.slow

LAST_STEP = 18
TIMEOUT = 600
SETTING = [
    "--gin_file=finetune/glue_rte.gin", *TINY_FINETUNE,
    "--gin.TrainSpec.split='validation'", "--gin.TEST=%DEV",
    "--gin.Recipe.learning_rate=1e-3", "--gin.Recipe.num_epochs=2",
    "--gin.Recipe.max_length=64", "--gin.Recipe.log_every=1",
    "--gin.Recipe.selection=['joint', 'per_language']",
    "--gin.ModelConfig.dropout_rate=0.1", "--gin.CheckpointConfig.period=4",
]  # fmt: skip


def _finetune_args(model_dir: Path, spm_model: str, data_dir: Path) -> list[str]:
    return [
        *SETTING, f"--gin.SPM_MODEL='{spm_model}'", f"--gin.DATA_DIR='{data_dir}'",
        f"--gin.MODEL_DIR='{model_dir}'",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], devices: int, logs: Path) -> None:
    """`xlmr ARGV`; a failure shows the process logs (a launcher stops all processes when one
    fails; the timeout stops a hang)."""
    proc = subprocess.run(
        [sys.executable, "-m", "xlmr_jax.cli", *argv],
        env=device_env(devices),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    tails = "".join(p.read_text()[-3000:] for p in sorted(logs.glob("process_*.log")))
    assert proc.returncode == 0, proc.stderr[-3000:] + tails


def _records(model_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]


def _train(records: list[dict]) -> dict[int, dict]:
    return {r["step"]: r for r in records if r["split"] == "train"}


def _flat(tree, prefix: str = "") -> dict[str, np.ndarray]:
    if not isinstance(tree, dict):
        return {prefix: np.asarray(tree)}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}/{key}").items()}


def _assert_close_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray], what: str) -> None:
    """Equal to float32 rounding (see the module docstring): about 4% of the tiny model's
    values differ after 18 steps, by at most 6e-8."""
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=f"{what}{key}")


def test_two_processes_match_one_process(tmp_path, spm_model, data_dir):
    single, multi = tmp_path / "single", tmp_path / "multi"
    (tmp_path / "logs_single").mkdir()
    (tmp_path / "logs_multi").mkdir()
    _run(["finetune", *_finetune_args(single, spm_model, data_dir)], 8, tmp_path / "logs_single")
    launch = ["launch", "local", "--command", "finetune", "--processes", "2",
              "--devices_per_process", "4", "--port", str(_free_port()),
              "--log_dir", str(tmp_path / "logs_multi"), "--"]  # fmt: skip
    _run([*launch, *_finetune_args(multi, spm_model, data_dir)], 4, tmp_path / "logs_multi")
    assert "process 1 of 2" in (tmp_path / "logs_multi" / "process_1.log").read_text()

    # Dev metrics at every evaluation, the selection, the final (reloaded, test-spec) results
    # and the predictions files: identical. Train losses at every step: to float32 rounding.
    records, got = _records(single), _records(multi)
    assert [r for r in got if r["split"] != "train"] == [
        r for r in records if r["split"] != "train"
    ]
    train, got_train = _train(records), _train(got)
    assert sorted(train) == sorted(got_train) == list(range(1, LAST_STEP + 1))
    for step, values in train.items():
        for name in ("loss", "grad_norm"):
            assert got_train[step][name] == pytest.approx(values[name], rel=1e-5), (step, name)
        assert got_train[step]["learning_rate"] == values["learning_rate"]
    for name in ("selection.json", "results.json", "results_per_language.json", "results.md"):
        assert (multi / name).read_text() == (single / name).read_text(), name
    predictions = sorted(p.relative_to(single) for p in single.glob("predictions*/**/*.*"))
    assert predictions
    for path in predictions:
        assert (multi / path).read_bytes() == (single / path).read_bytes(), path
    # `xlmr eval` of the selected checkpoint in 2 processes: the run's results and predictions.
    evaluated = tmp_path / "eval"
    launch[launch.index("finetune")] = "eval"
    launch[launch.index("--port") + 1] = str(_free_port())
    eval_args = ["--checkpoint", str(single / "best"), "--output", str(evaluated),
                 "--gin_file=finetune/glue_rte.gin", f"--gin.DATA_DIR='{data_dir}'",
                 "--gin.TEST=%DEV"]  # fmt: skip
    _run([*launch, *eval_args], 4, tmp_path / "logs_multi")
    results = [json.loads((d / "results.json").read_text()) for d in (evaluated, single)]
    assert results[0]["metrics"] == results[1]["metrics"]
    written = sorted(p.relative_to(evaluated) for p in evaluated.glob("predictions/**/*.*"))
    assert written
    for path in written:
        assert (evaluated / path).read_bytes() == (single / path).read_bytes(), path
    evaluation = json.loads((single / "evaluation.json").read_text())
    assert evaluation.keys() == {"joint", "per_language"}

    # Parameters: the last train state and the selected model checkpoints.
    _assert_close_params(saved_params(multi, LAST_STEP), saved_params(single, LAST_STEP), "")
    selected = ["best", *(f"per_language/{p.name}" for p in (single / "per_language").iterdir())]
    assert sorted(p.name for p in (multi / "per_language").iterdir()) == sorted(
        p.name for p in (single / "per_language").iterdir()
    )
    for name in selected:
        a, b = load_model(multi / name), load_model(single / name)
        assert a.meta == b.meta
        _assert_close_params(_flat(a.params), _flat(b.params), f"{name}")
