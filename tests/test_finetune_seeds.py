"""`xlmr finetune --seeds 3`: three runs with seeds 0, 1, 2, their mean and standard deviation
per column (GLUE RTE's real dev set standing in for the training data, tiny random model)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from train_runs import TINY_FINETUNE

from xlmr_jax import cli
from xlmr_jax.finetuning.seeds import aggregate
from xlmr_jax.metrics.tables import RunResult, load_results


@pytest.mark.slow
def test_three_seeds_report_runs_mean_and_std(tmp_path, capsys, spm_model, data_dir: Path):
    model_dir = tmp_path / "rte"
    argv = ["finetune", "--gin_file=finetune/glue_rte.gin", *TINY_FINETUNE, "--seeds", "3"]
    argv += [f"--gin.SPM_MODEL='{spm_model}'", f"--gin.DATA_DIR='{data_dir}'"]
    argv += [f"--gin.MODEL_DIR='{model_dir}'", "--gin.TrainSpec.split='validation'"]
    argv += ["--gin.Recipe.max_steps=3", "--gin.Recipe.learning_rate=1e-3"]
    argv += ["--gin.Recipe.max_length=32", "--gin.Recipe.eval_batch_size=128"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    runs = [load_results(model_dir / f"seed_{s}" / "results.json") for s in range(3)]
    for seed in range(3):
        assert f"Recipe.seed = {seed}" in (model_dir / f"seed_{seed}" / "config.gin").read_text()
        assert f"| xlmr seed {seed} |" in out
    accuracies = [run.metrics["rte"]["accuracy"] for run in runs]
    summary = json.loads((model_dir / "seeds.json").read_text())
    assert summary["seeds"] == [0, 1, 2] and len(summary["runs"]) == 3
    assert [r["rte"]["accuracy"] for r in summary["runs"]] == accuracies
    assert summary["mean"]["rte"]["accuracy"] == pytest.approx(statistics.fmean(accuracies))
    assert summary["std"]["rte"]["accuracy"] == pytest.approx(statistics.stdev(accuracies))
    mean = load_results(model_dir / "results.json")
    assert mean.model == "xlmr (mean of 3 seeds)" and mean.benchmark == "glue"
    assert mean.metrics["rte"]["accuracy"] == pytest.approx(statistics.fmean(accuracies))
    std = summary["std"]["rte"]["accuracy"]
    assert f"| xlmr (mean of 3 seeds) | {statistics.fmean(accuracies):.1f} |" in out
    assert f"| std (3 seeds) | {std:.2f} |" in out


def test_aggregate_numbers_and_mismatch():
    runs = [
        RunResult("xnli", "m", {"en": {"accuracy": a}, "fr": {"accuracy": b}})
        for a, b in ((80.0, 70.0), (82.0, 71.0), (84.0, 75.0))
    ]
    mean, std = aggregate(runs)
    assert mean.metrics == {"en": {"accuracy": 82.0}, "fr": {"accuracy": 72.0}}
    # sample std (n - 1): en deviations -2, 0, 2 -> 2; fr -2, -1, 3 -> sqrt(14 / 2)
    assert std["en"]["accuracy"] == pytest.approx(2.0)
    assert std["fr"]["accuracy"] == pytest.approx(7**0.5)
    with pytest.raises(ValueError, match="different columns"):
        aggregate([runs[0], RunResult("xnli", "m", {"en": {"accuracy": 1.0}})])


def test_one_seed_is_an_error(capsys):
    argv = ["finetune", "--gin_file=finetune/glue_rte.gin", *TINY_FINETUNE, "--seeds", "1"]
    assert cli.main([*argv, "--gin.MODEL_DIR='/tmp/x'"]) == 2
    assert "--seeds 1: give at least 2" in capsys.readouterr().err
