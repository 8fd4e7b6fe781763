"""Bad benchmark files stop `xlmr finetune` before training with the file and line at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlmr_jax import cli

XNLI_ROW = "A man is eating.\tA person eats.\tentailment\n"


def run_finetune(capsys, setting: str, data: Path, spm_model: str, *extra) -> str:
    argv = [
        "finetune",
        f"--gin_file=finetune/{setting}.gin",
        "--gin_file=models/tiny.gin",
        "--gin.INIT_CHECKPOINT=None",
        f"--gin.SPM_MODEL='{spm_model}'",
        f"--gin.DATA_DIR='{data}'",
        f"--gin.MODEL_DIR='{data.parent / 'run'}'",
        "--gin.TEST=None",
        *extra,
    ]
    assert cli.main(argv) == 2
    return capsys.readouterr().err


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def test_label_outside_the_label_set(tmp_path, capsys, spm_model):
    data = tmp_path / "data"
    write(
        data / "XNLI-MT-1.0/multinli/multinli.train.en.tsv",
        "premise\thypo\tlabel\n" + "a\tb\tneutral\n",
    )
    bad = write(data / "xnli/dev-en.tsv", XNLI_ROW * 3 + "A man.\tA dog.\tmaybe\n")
    err = run_finetune(capsys, "xnli_cross_lingual", data, spm_model, "--gin.XNLI_LANGUAGES=['en']")
    assert f"{bad}:4: label 'maybe' is not one of ('entailment', 'neutral', 'contradiction')" in err


def test_qa_answer_start_not_matching_the_context(tmp_path, capsys, spm_model):
    data = tmp_path / "data"
    squad = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "q2", "question": "What?", "answers": [{"text": "Paris", "answer_start": 3}]},
    ]}]}]}  # fmt: skip
    bad = write(data / "mlqa/dev-context-en-question-en.json", json.dumps(squad, indent=1))
    err = run_finetune(
        capsys,
        "squad_mlqa",
        data,
        spm_model,
        "--gin.TrainSpec.tasks=['xlmr.mlqa.en.en']",
        "--gin.TrainSpec.split='validation'",
        "--gin.MLQA_LANGUAGES=['en']",
    )
    lines = json.dumps(squad, indent=1).split("\n")
    line = next(n for n, text in enumerate(lines, start=1) if '"q2"' in text)
    assert f"{bad}:{line}: question 'q2'" in err and "'Paris' is not at answer_start 3" in err


def test_conll_file_with_a_wrong_column_count(tmp_path, capsys, spm_model):
    data = tmp_path / "data"
    rows = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-NP\n"
    bad = write(data / "conll2003/eng.train", "-DOCSTART- -X- -X- O\n\n" + rows, "latin-1")
    err = run_finetune(capsys, "ner_en", data, spm_model, "--gin.NER_LANGUAGES=['en']")
    assert f"{bad}:6: expected 4 columns, got 3" in err


@pytest.mark.parametrize(
    "setting, path, content, message",
    [
        ("ner_en", "conll2002/esp.train", "-DOCSTART- -X- O\n\n", "no examples"),
        ("xnli_cross_lingual", "XNLI-MT-1.0/multinli/multinli.train.es.tsv", "", "empty file"),
    ],
)
def test_empty_split(tmp_path, capsys, spm_model, setting, path, content, message):
    data = tmp_path / "data"
    bad = write(data / path, content)
    task = "xlmr.conll.es" if setting == "ner_en" else "xlmr.xnli.es"
    err = run_finetune(capsys, setting, data, spm_model, f"--gin.TrainSpec.tasks=['{task}']")
    assert f"{bad}: {message}" in err
