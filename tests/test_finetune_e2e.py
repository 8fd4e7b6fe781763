"""End to end on real dev data (CPU, tiny random model): fine-tune a few steps, select, evaluate
every language, write results/predictions; the numbers are low, the pipeline must be exact."""

from __future__ import annotations

import json
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np
import pytest
from train_runs import TINY_FINETUNE

from xlmr_jax import cli
from xlmr_jax.config import preset
from xlmr_jax.data.formats import XNLI_LANGUAGES, read_conll, read_glue, read_squad, read_xnli_tsv
from xlmr_jax.data.formats.squad import MLQA_LANGUAGES
from xlmr_jax.metrics.tables import load_results
from xlmr_jax.model import XLMRoberta, init_params
from xlmr_jax.model_checkpoint import load_model, save_model


def finetune(capsys, setting: str, model_dir: Path, spm_model: str, data_dir: Path, *extra):
    argv = [
        "finetune",
        f"--gin_file=finetune/{setting}.gin",
        *TINY_FINETUNE,
        f"--gin.SPM_MODEL='{spm_model}'",
        f"--gin.DATA_DIR='{data_dir}'",
        f"--gin.MODEL_DIR='{model_dir}'",
        "--gin.TrainSpec.split='validation'",  # dev sets stand in for the training data
        "--gin.TEST=None",  # test files are not available here: report dev
        "--gin.Recipe.learning_rate=1e-3",
        *extra,
    ]
    assert cli.main(argv) == 0
    return capsys.readouterr().out


def evaluation_rows(model_dir: Path, mode: str = "joint") -> dict:
    return json.loads((model_dir / "evaluation.json").read_text())[mode]


def score(capsys, benchmark: str, gold: Path | None, predictions: str, *extra) -> dict:
    """`xlmr score ... --json` of an exported predictions file."""
    argv = ["score", "--benchmark", benchmark, "--predictions", predictions, "--json", *extra]
    assert cli.main(argv + (["--gold", str(gold)] if gold else [])) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_xnli_cross_lingual_transfer(tmp_path, capsys, spm_model, data_dir):
    model_dir = tmp_path / "xnli"
    out = finetune(
        capsys,
        "xnli_cross_lingual",
        model_dir,
        spm_model,
        data_dir,
        "--gin.Recipe.max_steps=6",
        "--gin.Recipe.eval_batch_size=128",
    )
    header = "| xnli (dev) | " + " | ".join(XNLI_LANGUAGES) + " | avg |"
    assert header in out
    result = load_results(model_dir / "results.json")
    assert (result.benchmark, result.split, result.setting) == (
        "xnli",
        "dev",
        "cross-lingual transfer",
    )
    assert list(result.metrics) == list(XNLI_LANGUAGES)
    rows = evaluation_rows(model_dir)
    for lang in XNLI_LANGUAGES:
        gold = read_xnli_tsv(data_dir / "xnli" / f"dev-{lang}.tsv")
        assert rows[lang]["examples"] == len(gold) == 2490
        accuracy = result.metrics[lang]["accuracy"]
        assert 0 <= accuracy <= 100
        predicted = Path(rows[lang]["predictions"]).read_text().splitlines()
        assert len(predicted) == 2490 and set(predicted) <= {
            "entailment",
            "neutral",
            "contradiction",
        }
        correct = sum(
            p == ("entailment", "neutral", "contradiction")[g.label]
            for p, g in zip(predicted, gold)
        )
        assert accuracy == pytest.approx(100 * correct / 2490)
    scored = score(capsys, "xnli", data_dir / "xnli" / "dev-sw.tsv", rows["sw"]["predictions"])
    assert scored["accuracy"] == pytest.approx(result.metrics["sw"]["accuracy"])
    selection = json.loads((model_dir / "selection.json").read_text())
    assert selection["joint"]["step"] == 6 and len(selection["history"]) == 1
    # Without test files the selected dev evaluation is the result.
    dev_scores = selection["history"][0]["scores"]
    assert {k: v["accuracy"] for k, v in result.metrics.items()} == pytest.approx(dev_scores)


CONLL_DEV = {
    "en": "conll2003/eng.testa",
    "nl": "conll2002/ned.testa",
    "es": "conll2002/esp.testa",
    "de": "conll2003/german/deu.testa",
}


def test_ner_english_to_nl_es_de_with_both_selections(tmp_path, capsys, spm_model, data_dir):
    model_dir = tmp_path / "ner"
    out = finetune(
        capsys,
        "ner_en",
        model_dir,
        spm_model,
        data_dir,
        "--gin.Recipe.max_steps=6",
        "--gin.Recipe.eval_every=3",
        "--gin.Recipe.selection=['joint', 'per_language']",
    )
    assert "| conll (dev) | en | nl | es | de | avg |" in out
    assert "xlmr (en, per-language selection)" in out
    joint = load_results(model_dir / "results.json")
    per_language = load_results(model_dir / "results_per_language.json")
    selection = json.loads((model_dir / "selection.json").read_text())
    assert [h["step"] for h in selection["history"]] == [3, 6]
    rows, rows_pl = evaluation_rows(model_dir), evaluation_rows(model_dir, "per_language")
    for lang, path in CONLL_DEV.items():
        gold = read_conll(data_dir / path)
        assert rows[lang]["examples"] == len(gold)
        assert 0 <= joint.metrics[lang]["f1"] <= 100
        lines = Path(rows[lang]["predictions"]).read_text(encoding="utf-8").split("\n\n")
        assert len([s for s in lines if s.strip()]) == len(gold)
        scored = score(capsys, "conll", data_dir / path, rows[lang]["predictions"])
        assert scored["f1"] == pytest.approx(joint.metrics[lang]["f1"])
        # per-language selection: each language's best dev step, re-evaluated from its checkpoint
        choice = selection["per_language"][lang]
        assert rows_pl[lang]["step"] == choice["step"]
        assert per_language.metrics[lang]["f1"] == pytest.approx(choice["score"])
    kept = sorted(p.name for p in (model_dir / "per_language").iterdir())
    assert kept == sorted({f"step_{c['step']}" for c in selection["per_language"].values()})

    # `xlmr eval` of the saved checkpoint reproduces the run's results and predictions.
    argv = ["eval", "--checkpoint", str(model_dir / "best"), "--output", str(tmp_path / "eval")]
    argv += ["--gin_file=finetune/ner_en.gin", f"--gin.DATA_DIR='{data_dir}'", "--split=dev"]
    assert cli.main([*argv, "--languages=de"]) == 0
    evaluated = load_results(tmp_path / "eval" / "results.json")
    assert evaluated.metrics == {"de": pytest.approx(joint.metrics["de"])}
    assert (tmp_path / "eval" / "predictions" / "dev" / "de.conll").read_text(encoding="utf-8") == (
        model_dir / "predictions" / "dev" / "de.conll"
    ).read_text(encoding="utf-8")
    # Finished results are kept unless --overwrite asks for them to be replaced.
    before = (tmp_path / "eval" / "results.json").read_bytes()
    assert cli.main([*argv, "--languages=de"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "eval" / "results.json").read_bytes() == before
    (tmp_path / "eval" / "notes.txt").write_text("mine")  # not a result: --overwrite keeps it
    assert cli.main([*argv, "--languages=de", "--overwrite"]) == 0
    assert load_results(tmp_path / "eval" / "results.json").metrics == evaluated.metrics
    assert (tmp_path / "eval" / "notes.txt").read_text() == "mine"


def test_ner_each_trains_one_model_per_language(tmp_path, capsys, spm_model, data_dir):
    model_dir = tmp_path / "each"
    finetune(
        capsys,
        "ner_each",
        model_dir,
        spm_model,
        data_dir,
        "--gin.NER_LANGUAGES=['es', 'nl']",
        "--gin.Recipe.max_steps=2",
    )
    result = load_results(model_dir / "results.json")
    assert list(result.metrics) == ["es", "nl"] and result.setting == "each"
    for lang in ("es", "nl"):
        own = load_results(model_dir / lang / "results.json")
        assert list(own.metrics) == [lang] and own.metrics[lang] == result.metrics[lang]
        assert (model_dir / lang / "best" / "config.json").is_file()
        history = json.loads((model_dir / lang / "selection.json").read_text())["history"]
        assert list(history[0]["scores"]) == [lang]  # each model is selected on its language


@pytest.mark.slow
def test_squad_style_mlqa_en_to_six_languages(tmp_path, capsys, spm_model, data_dir):
    model_dir = tmp_path / "mlqa"
    out = finetune(
        capsys,
        "squad_mlqa",
        model_dir,
        spm_model,
        data_dir,
        "--gin.TrainSpec.tasks=['xlmr.mlqa.en.en']",  # MLQA en dev stands in for SQuAD train
        "--gin.Recipe.max_steps=4",
        "--gin.Recipe.max_length=128",  # windows of ~110 context tokens: several per question
        "--gin.Recipe.eval_batch_size=64",
    )
    assert "| mlqa (dev) | " + " | ".join(MLQA_LANGUAGES) + " | avg |" in out
    result = load_results(model_dir / "results.json")
    rows = evaluation_rows(model_dir)
    for lang in MLQA_LANGUAGES:
        gold_file = data_dir / "mlqa" / f"dev-context-{lang}-question-{lang}.json"
        gold = read_squad(gold_file)
        assert rows[lang]["examples"] == len(gold)
        metrics = result.metrics[lang]
        assert 0 <= metrics["exact_match"] <= metrics["f1"] <= 100
        answers = json.loads(Path(rows[lang]["predictions"]).read_text(encoding="utf-8"))
        assert list(answers) == [ex.id for ex in gold]
        # every answer is a span of its context
        assert all(a in ex.context for ex, a in zip(gold, answers.values()))
        scored = score(capsys, "mlqa", gold_file, rows[lang]["predictions"])
        assert scored["f1"] == pytest.approx(metrics["f1"])
        assert scored["exact_match"] == pytest.approx(metrics["exact_match"])


def test_glue_rte_from_an_init_checkpoint(tmp_path, capsys, spm_model, data_dir):
    """INIT_CHECKPOINT's embeddings and encoder are copied (lr 0 keeps them), the head is new,
    the SentencePiece model comes with it; a test spec makes the final evaluation reload the
    selected checkpoints."""
    config = preset("tiny").replace(hidden_size=32, num_heads=2, mlp_dim=64)
    pretrained = nn.unbox(init_params(XLMRoberta(config), jax.random.key(1)))
    save_model(tmp_path / "mlm", pretrained, config, spm_path=spm_model)
    model_dir = tmp_path / "rte"
    test = ["--gin.TEST=@test/EvalSpec()", "--gin.test/EvalSpec.task='xlmr.glue.{lang}'"]
    test += ["--gin.test/EvalSpec.languages=['rte']", "--gin.test/EvalSpec.split='validation'"]
    out = finetune(
        capsys, "glue_rte", model_dir, "", data_dir, f"--gin.INIT_CHECKPOINT='{tmp_path / 'mlm'}'",
        "--gin.SPM_MODEL=None", "--gin.Recipe.learning_rate=0.0", "--gin.Recipe.max_steps=4",
        "--gin.Recipe.eval_every=2", "--gin.Recipe.selection=['joint', 'per_language']",
        *test,
    )  # fmt: skip
    assert "| glue (dev) | rte | avg |" in out
    best = load_model(model_dir / "best")
    assert (best.head, best.id2label) == (
        "sequence_classification",
        {0: "entailment", 1: "not_entailment"},
    )
    for key in ("embeddings", "encoder"):
        jax.tree.map(np.testing.assert_array_equal, best.params[key], pretrained[key])
    assert "lm_head" not in best.params and "classifier" in best.params
    assert Path(best.spm_path).read_bytes() == Path(spm_model).read_bytes()

    result = load_results(model_dir / "results.json")
    per_language = load_results(model_dir / "results_per_language.json")
    selection = json.loads((model_dir / "selection.json").read_text())
    assert selection["joint"]["step"] == 2  # lr 0: both evaluations tie, the first is kept
    assert result.metrics["rte"]["accuracy"] == selection["joint"]["score"]
    assert per_language.metrics["rte"]["accuracy"] == selection["per_language"]["rte"]["score"]
    gold = read_glue(data_dir / "glue" / "RTE" / "dev.tsv", "rte")
    rows = evaluation_rows(model_dir)
    assert rows["rte"]["examples"] == len(gold) == 277
    predictions = Path(rows["rte"]["predictions"]).read_text().split()
    assert set(predictions) <= {"entailment", "not_entailment"} and len(predictions) == 277
    rte = data_dir / "glue" / "RTE" / "dev.tsv"
    scored = score(capsys, "glue-rte", rte, rows["rte"]["predictions"])
    assert scored["accuracy"] == pytest.approx(result.metrics["rte"]["accuracy"])
