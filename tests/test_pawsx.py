"""PAWS-X: both layouts (original x-final with header and id; XTREME without either, test files
possibly unlabeled) with exact counts, and `finetune/pawsx_cross_lingual.gin` end to end on CPU."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from train_runs import TINY_FINETUNE

from xlmr_jax import cli
from xlmr_jax.data.formats import FormatError, read_pawsx
from xlmr_jax.data.formats.nli import PAWSX_LANGUAGES
from xlmr_jax.metrics.tables import load_results

SIB200 = {"en": "eng_Latn", "de": "deu_Latn", "es": "spa_Latn", "fr": "fra_Latn",
          "ja": "jpn_Jpan", "ko": "kor_Hang", "zh": "zho_Hans"}  # fmt: skip


def _pairs(sentences: list[str], n: int, seed: int) -> list[tuple[str, str, int]]:
    """PAWS-like pairs of real sentences: a word-swapped copy (1) or another sentence (0)."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        s1 = sentences[i]
        if i % 2:
            words = s1.split(" ")
            j = rng.randrange(max(len(words) - 1, 1))
            words[j : j + 2] = words[j : j + 2][::-1]
            pairs.append((s1, " ".join(words), 1))
        else:
            pairs.append((s1, sentences[(i + 7) % len(sentences)], 0))
    return pairs


def _original(path: Path, pairs, start_id: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{start_id + i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(pairs)]
    path.write_text("id\tsentence1\tsentence2\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _xtreme(path: Path, pairs, labeled: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{a}\t{b}" + (f"\t{label}" if labeled else "") for a, b, label in pairs]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sentences(data_dir: Path) -> dict[str, list[str]]:
    out = {}
    for lang, code in SIB200.items():
        lines = (data_dir / "text" / "sib200" / code / "train.tsv").read_text("utf-8").splitlines()
        out[lang] = [line.split("\t", 2)[2] for line in lines[1:] if line]
    return out


def test_both_layouts_exact_counts(tmp_path, sentences):
    pairs = _pairs(sentences["de"], 37, seed=0)
    original = read_pawsx(_original(tmp_path / "x-final/de/dev_2k.tsv", pairs, 4), "de")
    labeled = read_pawsx(_xtreme(tmp_path / "pawsx/dev-de.tsv", pairs), "de")
    unlabeled = read_pawsx(_xtreme(tmp_path / "pawsx/test-de.tsv", pairs, labeled=False), "de")
    assert len(original) == len(labeled) == len(unlabeled) == 37
    assert [e.id for e in original[:2]] == ["4", "5"] and original[0].line == 2
    assert [e.id for e in labeled[:2]] == ["0", "1"] and labeled[0].line == 1
    assert [e.label for e in labeled] == [p[2] for p in pairs] == [e.label for e in original]
    assert sum(e.label for e in labeled) == 18
    assert {e.label for e in unlabeled} == {None}
    assert [(e.text_a, e.text_b) for e in unlabeled] == [(a, b) for a, b, _ in pairs]
    assert {e.language for e in original + labeled} == {"de"}


def test_bad_pawsx_files_name_the_line(tmp_path):
    bad = tmp_path / "dev-en.tsv"
    bad.write_text("a\tb\t1\nc\td\n")
    with pytest.raises(
        FormatError, match=r"dev-en\.tsv:2: expected 3 tab-separated columns, got 2"
    ):
        read_pawsx(bad)
    bad.write_text("a\tb\tc\td\te\n")
    with pytest.raises(FormatError, match=r"dev-en\.tsv:1: expected the original PAWS-X header"):
        read_pawsx(bad)
    bad.write_text("a\tb\t2\n")
    with pytest.raises(FormatError, match=r"dev-en\.tsv:1: label '2' is not one of"):
        read_pawsx(bad)


def test_pawsx_cross_lingual_end_to_end(tmp_path, capsys, spm_model, sentences):
    """Train on en (XTREME layout), select on the 7 dev sets (ko in the original layout), test
    on the 7 test sets (ja's without labels: predicted, not scored)."""
    data = tmp_path / "data"
    _xtreme(data / "pawsx/train-en.tsv", _pairs(sentences["en"], 64, seed=1))
    for k, lang in enumerate(PAWSX_LANGUAGES):
        dev, test = _pairs(sentences[lang][100:], 20 + k, 2), _pairs(sentences[lang][300:], 30, 3)
        if lang == "ko":
            _original(data / "x-final/ko/dev_2k.tsv", dev)
            _original(data / "x-final/ko/test_2k.tsv", test)
        else:
            _xtreme(data / f"pawsx/dev-{lang}.tsv", dev)
            _xtreme(data / f"pawsx/test-{lang}.tsv", test, labeled=lang != "ja")
    model_dir = tmp_path / "run"
    argv = ["finetune", "--gin_file=finetune/pawsx_cross_lingual.gin", *TINY_FINETUNE]
    argv += [f"--gin.SPM_MODEL='{spm_model}'", f"--gin.DATA_DIR='{data}'"]
    argv += [f"--gin.MODEL_DIR='{model_dir}'", "--gin.Recipe.max_steps=4"]
    argv += ["--gin.Recipe.batch_size=16", "--gin.Recipe.learning_rate=1e-3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "| pawsx (test) | en | de | es | fr | ja | ko | zh | avg |" in out
    result = load_results(model_dir / "results.json")
    assert (result.benchmark, result.split, result.setting) == (
        "pawsx",
        "test",
        "cross-lingual transfer",
    )
    assert result.metrics["ja"] == {}  # unlabeled: no score
    scored = [lang for lang in PAWSX_LANGUAGES if lang != "ja"]
    rows = json.loads((model_dir / "evaluation.json").read_text())["joint"]
    for lang in PAWSX_LANGUAGES:
        predicted = Path(rows[lang]["predictions"]).read_text().splitlines()
        assert rows[lang]["examples"] == len(predicted) == 30
        assert set(predicted) <= {"not_paraphrase", "paraphrase"}
    for lang in scored:
        gold = read_pawsx(
            data / ("x-final/ko/test_2k.tsv" if lang == "ko" else f"pawsx/test-{lang}.tsv")
        )
        predicted = Path(rows[lang]["predictions"]).read_text().splitlines()
        correct = sum(
            p == ("not_paraphrase", "paraphrase")[g.label] for p, g in zip(predicted, gold)
        )
        assert result.metrics[lang]["accuracy"] == pytest.approx(100 * correct / 30)
    selection = json.loads((model_dir / "selection.json").read_text())
    assert set(selection["history"][0]["scores"]) == set(PAWSX_LANGUAGES)
