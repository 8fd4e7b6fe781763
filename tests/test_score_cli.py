"""`xlmr score` and `xlmr results` end to end on real gold files, and the result tables."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import scipy.stats
import sklearn.metrics

from xlmr_jax.cli import main
from xlmr_jax.data.formats import NLI_LABELS, read_conll, read_glue, read_squad
from xlmr_jax.metrics.official import conlleval, qa_scores
from xlmr_jax.metrics.tables import (
    RunResult,
    build_tables,
    load_results,
    markdown_tables,
    save_results,
)


def _score(capsys, *argv: str) -> dict:
    assert main(["score", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _score_error(capsys, *argv: str) -> str:
    assert main(["score", *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xlmr score: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def _lines(path: Path, values) -> Path:
    path.write_text("".join(f"{v}\n" for v in values), encoding="utf-8")
    return path


# --- xlmr score ------------------------------------------------------------------------------


def test_score_xnli(data_dir, tmp_path, capsys):
    gold = data_dir / "xnli/dev-fr.tsv"
    labels = [line.split("\t")[2] for line in gold.read_text(encoding="utf-8").splitlines()]
    # The first 249 of 2,490 predictions are wrong: accuracy 90.0 exactly.
    wrong = [
        NLI_LABELS[(NLI_LABELS.index(y) + 1) % 3] if i < 249 else y for i, y in enumerate(labels)
    ]
    out = _score(
        capsys,
        "--benchmark",
        "xnli",
        "--gold",
        gold,
        "--predictions",
        _lines(tmp_path / "p.txt", wrong),
    )
    assert out == {"benchmark": "xnli", "lang": None, "examples": 2490, "accuracy": 90.0}
    indices = _lines(tmp_path / "i.txt", (NLI_LABELS.index(y) for y in wrong))  # indices work too
    assert (
        _score(capsys, "--benchmark", "xnli", "--gold", gold, "--predictions", indices)["accuracy"]
        == 90.0
    )
    err = _score_error(
        capsys,
        "--benchmark",
        "xnli",
        "--gold",
        gold,
        "--predictions",
        _lines(tmp_path / "s.txt", wrong[:-1]),
    )
    assert "2489 predictions for 2490 gold examples" in err
    bad = _lines(tmp_path / "b.txt", [*wrong[:9], "maybe", *wrong[10:]])
    assert "b.txt:10: label 'maybe' is not one of" in _score_error(
        capsys, "--benchmark", "xnli", "--gold", gold, "--predictions", bad
    )


def test_score_glue(data_dir, tmp_path, capsys):
    mrpc = data_dir / "glue/MRPC/dev.tsv"
    gold = [e.label for e in read_glue(mrpc, "mrpc")]
    pred = [y if i % 5 else 1 - y for i, y in enumerate(gold)]
    out = _score(
        capsys,
        "--benchmark",
        "glue-mrpc",
        "--gold",
        mrpc,
        "--predictions",
        _lines(tmp_path / "m.txt", pred),
    )
    assert out["accuracy"] == pytest.approx(100 * sklearn.metrics.accuracy_score(gold, pred))
    assert out["f1"] == pytest.approx(100 * sklearn.metrics.f1_score(gold, pred))
    stsb = data_dir / "glue/STS-B/dev.tsv"
    gold = [e.label for e in read_glue(stsb, "stsb")]
    pred = [round(y * 0.8 + (i % 7) * 0.1, 2) for i, y in enumerate(gold)]
    out = _score(
        capsys,
        "--benchmark",
        "glue-stsb",
        "--gold",
        stsb,
        "--predictions",
        _lines(tmp_path / "s.txt", pred),
    )
    assert out["pearson"] == pytest.approx(100 * scipy.stats.pearsonr(gold, pred)[0])
    assert out["spearman"] == pytest.approx(100 * scipy.stats.spearmanr(gold, pred)[0])


def test_score_qa(data_dir, tmp_path, capsys):
    gold_file = data_dir / "mlqa/dev-context-zh-question-zh.json"
    examples = read_squad(gold_file)
    predictions = {e.id: e.answers[0].text[: 1 + i % 4] for i, e in enumerate(examples) if i % 10}
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    gold = {e.id: [a.text for a in e.answers] for e in examples}
    out = _score(capsys, "--benchmark", "mlqa", "--gold", gold_file, "--predictions", path)
    assert out["lang"] == "zh"  # from the file name
    assert (out["exact_match"], out["f1"]) == pytest.approx(
        tuple(qa_scores(gold, predictions, "zh").values())
    )
    out = _score(capsys, "--benchmark", "squad", "--gold", gold_file, "--predictions", path)
    assert (out["exact_match"], out["f1"]) == pytest.approx(
        tuple(qa_scores(gold, predictions).values())
    )
    assert out["f1"] < qa_scores(gold, predictions, "zh")["f1"]  # SQuAD rules do not segment zh
    perfect = tmp_path / "perfect.json"
    perfect.write_text(json.dumps({e.id: e.answers[0].text for e in examples}), encoding="utf-8")
    out = _score(capsys, "--benchmark", "xquad", "--gold", gold_file, "--predictions", perfect)
    assert (out["exact_match"], out["f1"], out["examples"]) == (100.0, 100.0, 504)
    path.write_text(json.dumps({**predictions, "no-such-id": "x"}), encoding="utf-8")
    assert "unknown question ids" in _score_error(
        capsys, "--benchmark", "squad", "--gold", gold_file, "--predictions", path
    )
    path.write_text(json.dumps(["a list"]), encoding="utf-8")
    assert "expected a JSON object" in _score_error(
        capsys, "--benchmark", "squad", "--gold", gold_file, "--predictions", path
    )
    assert "--gold is required" in _score_error(
        capsys, "--benchmark", "squad", "--predictions", path
    )


def test_score_conll(data_dir, tmp_path, capsys):
    gold_file = data_dir / "conll2003/eng.testb"
    sentences = read_conll(gold_file)
    rng = random.Random(0)
    pred = [
        [t if rng.random() > 0.1 else rng.choice(["O", "I-PER", "B-LOC", "I-ORG"]) for t in s.tags]
        for s in sentences
    ]
    lines = []
    for s, p in zip(sentences, pred):
        lines += [f"{w} {g} {q}" for w, g, q in zip(s.tokens, s.tags, p)] + [""]
    path = tmp_path / "pred.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    expected = conlleval([s.tags for s in sentences], pred).overall
    for argv in ((), ("--gold", gold_file)):
        out = _score(capsys, "--benchmark", "conll", "--predictions", path, *argv)
        assert (out["precision"], out["recall"], out["f1"]) == pytest.approx(
            (expected.precision, expected.recall, expected.f1)
        )
        assert set(out["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    path.write_text("\n".join(lines).replace("SOCCER", "FOOTBALL", 1), encoding="utf-8")
    err = _score_error(capsys, "--benchmark", "conll", "--gold", gold_file, "--predictions", path)
    assert "pred.conll:1: tokens differ from" in err and "eng.testb:3" in err


def test_score_text_output(data_dir, tmp_path, capsys):
    gold = data_dir / "glue/RTE/dev.tsv"
    labels = [e.label for e in read_glue(gold, "rte")]
    assert (
        main(
            [
                "score",
                "--benchmark",
                "glue-rte",
                "--gold",
                str(gold),
                "--predictions",
                str(_lines(tmp_path / "p", labels)),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "glue-rte: 277 examples",
        "  accuracy       100.00",
    ]


# --- results tables and xlmr results --------------------------------------------------------

XNLI_LARGE = {"en": 89.1, "fr": 84.1, "es": 85.1, "de": 83.9, "el": 82.9, "bg": 84.0, "ru": 81.2, "tr": 79.6, "ar": 79.8, "vi": 80.8, "th": 78.1, "zh": 80.2, "hi": 76.9, "sw": 73.9, "ur": 73.8}  # fmt: skip


def _xnli_run(model: str, setting: str | None, languages=XNLI_LARGE) -> RunResult:
    return RunResult("xnli", model, {k: {"accuracy": v} for k, v in languages.items()}, setting)


def test_tables_layout_and_average():
    runs = [
        _xnli_run("large", "translate-train-all"),
        _xnli_run("base", None, {"zh": 70.0, "en": 80.0}),
        RunResult(
            "mlqa",
            "large",
            {"es": {"f1": 70.0, "exact_match": 50.0}, "en": {"f1": 80.0, "exact_match": 60.0}},
            split="dev",
        ),
    ]
    xnli, mlqa = build_tables(runs)
    assert xnli.columns == tuple(
        XNLI_LARGE
    )  # paper order: en fr es de el bg ru tr ar vi th zh hi sw ur
    name, cells, (average,) = xnli.rows[0]
    assert name == "large (translate-train-all)" and average == (
        pytest.approx(sum(XNLI_LARGE.values()) / 15),
    )
    assert xnli.rows[1][2] == (None,) and xnli.rows[1][1][1] is None  # incomplete: no average
    text = markdown_tables(runs)
    assert (
        text.splitlines()[0]
        == "| xnli (test) | en | fr | es | de | el | bg | ru | tr | ar | vi | th | zh | hi | sw | ur | avg |"
    )
    assert text.splitlines()[2].startswith("| large (translate-train-all) | 89.1 | 84.1 |")
    assert text.splitlines()[3].endswith("| 70.0 | - | - | - | - |")
    assert mlqa.columns == ("en", "es") and mlqa.rows[0][1] == ((80.0, 60.0), (70.0, 50.0))
    assert (
        "| mlqa (dev) | en | es | avg |\n|---|---|---|---|\n| large | 80.0 / 60.0 | 70.0 / 50.0 | - |"
        in text
    )


def test_glue_table_averages_of_both_papers():
    metrics = {"mnli": 88.9, "qnli": 93.8, "qqp": 92.3, "sst2": 95.0, "mrpc": 89.5}
    run = RunResult(
        "glue",
        "large",
        {k: {"accuracy": v} for k, v in metrics.items()} | {"stsb": {"pearson": 90.4}},
        split="dev",
    )
    (table,) = build_tables([run])
    assert table.columns == ("mnli", "qnli", "qqp", "sst2", "mrpc", "stsb")
    assert table.averages == ("avg", "avg6")
    # 2021 Table 2 (five tasks): Large 91.9; the 2019 Table 4 average adds STS-B.
    assert table.rows[0][2] == ((pytest.approx(91.9),), (pytest.approx((459.5 + 90.4) / 6),))
    assert table.markdown().splitlines()[0].endswith("| stsb | avg | avg6 |")


def test_results_json_round_trip_and_cli(tmp_path, capsys):
    runs = [_xnli_run("large", "cross-lingual"), _xnli_run("xl", None)]
    for i, run in enumerate(runs):
        (tmp_path / f"run{i}").mkdir()
        save_results(run, tmp_path / f"run{i}" / "results.json")
        assert load_results(tmp_path / f"run{i}" / "results.json") == run
    assert main(["results", str(tmp_path / "run0"), str(tmp_path / "run1" / "results.json")]) == 0
    assert capsys.readouterr().out.strip() == markdown_tables(runs)
    assert main(["results", str(tmp_path / "run0"), str(tmp_path / "run1"), "--json"]) == 0
    (table,) = json.loads(capsys.readouterr().out)["tables"]
    assert table["columns"][-1] == "avg" and [r["name"] for r in table["rows"]] == [
        "large (cross-lingual)",
        "xl",
    ]
    assert table == build_tables(runs)[0].to_dict()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text(
        json.dumps({"benchmark": "xnli", "model": "m", "metric": {}})
    )
    assert main(["results", str(tmp_path / "bad")]) == 2
    assert "not a valid results.json" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert "no results.json" in capsys.readouterr().err
