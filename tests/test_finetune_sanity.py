"""A learnable synthetic labelling through the real code path (GLUE SST-2 files -> seqio task ->
features -> loop -> selection -> metrics): a tiny random model must get it right."""

from __future__ import annotations

import json
import random
from pathlib import Path

from xlmr_jax import cli
from xlmr_jax.metrics.tables import load_results

MARKER = "zebra"


def write_sst2(path: Path, sentences: list[str], rng: random.Random) -> None:
    """label 1 iff the sentence contains the marker word (inserted at a random position)."""
    lines = ["sentence\tlabel"]
    for sentence in sentences:
        words = sentence.split()
        label = rng.random() < 0.5
        if label:
            words.insert(rng.randrange(len(words) + 1), MARKER)
        lines.append(f"{' '.join(words)}\t{int(label)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_synthetic_marker_task_is_learned(tmp_path, capsys, data_dir, spm_model):
    def sib200(lang: str, split: str) -> list[str]:
        rows = (data_dir / "text" / "sib200" / lang / f"{split}.tsv").read_text().splitlines()
        return [row.split("\t", 2)[2] for row in rows[1:]]

    rng = random.Random(0)
    glue = tmp_path / "data" / "glue" / "SST-2"
    write_sst2(glue / "train.tsv", sib200("eng_Latn", "train"), rng)
    write_sst2(glue / "dev.tsv", sib200("eng_Latn", "dev") + sib200("deu_Latn", "dev"), rng)
    model_dir = tmp_path / "run"
    argv = [
        "finetune",
        "--gin_file=finetune/glue_sst2.gin",
        "--gin_file=models/tiny.gin",
        "--gin.ModelConfig.hidden_size=32",
        "--gin.ModelConfig.num_heads=2",
        "--gin.ModelConfig.mlp_dim=64",
        "--gin.INIT_CHECKPOINT=None",
        f"--gin.SPM_MODEL='{spm_model}'",
        f"--gin.DATA_DIR='{tmp_path / 'data'}'",
        f"--gin.MODEL_DIR='{model_dir}'",
        "--gin.Recipe.learning_rate=2e-3",
        "--gin.Recipe.num_epochs=10",
        "--gin.Recipe.batch_size=16",
        "--gin.Recipe.max_length=128",  # no sentence loses its marker
        "--gin.Recipe.patience=4",
        "--gin.make_optimizer.weight_decay=0.0",
    ]
    assert cli.main(argv) == 0
    result = load_results(model_dir / "results.json")
    assert result.metrics["sst2"]["accuracy"] > 90
    history = json.loads((model_dir / "selection.json").read_text())["history"]
    best = max(h["scores"]["sst2"] for h in history)
    assert result.metrics["sst2"]["accuracy"] == best  # the selected checkpoint's dev score
    assert "| glue (dev) | sst2 | avg |" in capsys.readouterr().out
