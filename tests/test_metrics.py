"""Official metrics against independent references: scikit-learn/scipy, seqeval, and in-test
re-implementations of the SQuAD v1.1 and MLQA v1 evaluation scripts, on real dev data."""

from __future__ import annotations

import json
import random
import re
import string
import sys
import unicodedata
from collections import Counter

import numpy as np
import pytest
import scipy.stats
import seqeval.metrics
import sklearn.metrics
from seqeval.scheme import IOB2

from xlmr_jax.data.formats import iob1_to_iob2, read_conll, read_glue, read_xnli_tsv
from xlmr_jax.metrics.official import (
    BENCHMARK_METRICS,
    GLUE_METRICS,
    accuracy,
    binary_f1,
    chunks,
    classification_scores,
    conlleval,
    matthews_corrcoef,
    mlqa_normalize,
    pearson,
    qa_scores,
    spearman,
    squad_normalize,
)


def _flip(labels, rate, classes, seed):
    rng = random.Random(seed)
    return [rng.choice(classes) if rng.random() < rate else y for y in labels]


# --- classification and regression vs scikit-learn / scipy ----------------------------------


def test_classification_metrics_match_sklearn(data_dir):
    mrpc = [e.label for e in read_glue(data_dir / "glue/MRPC/dev.tsv", "mrpc")]
    rte = [e.label for e in read_glue(data_dir / "glue/RTE/dev.tsv", "rte")]
    xnli = [e.label for e in read_xnli_tsv(data_dir / "xnli/dev-en.tsv")]
    for gold, classes in ((mrpc, [0, 1]), (rte, [0, 1]), (xnli, [0, 1, 2])):
        for seed, rate in enumerate((0.0, 0.1, 0.4, 1.0)):
            pred = _flip(gold, rate, classes, seed)
            assert accuracy(gold, pred) == pytest.approx(
                100 * sklearn.metrics.accuracy_score(gold, pred), abs=1e-10
            )
            mcc = 100 * sklearn.metrics.matthews_corrcoef(gold, pred)
            assert matthews_corrcoef(gold, pred) == pytest.approx(mcc, abs=1e-10)
            if len(classes) == 2:
                f1 = 100 * sklearn.metrics.f1_score(gold, pred)
                assert binary_f1(gold, pred) == pytest.approx(f1, abs=1e-10)
    # Degenerate predictions: one class only.
    assert (
        matthews_corrcoef(mrpc, [1] * len(mrpc))
        == 0.0
        == sklearn.metrics.matthews_corrcoef(mrpc, [1] * len(mrpc))
    )
    assert binary_f1(mrpc, [0] * len(mrpc)) == 0.0
    assert matthews_corrcoef([0, 1, 1, 0], [0, 1, 1, 0]) == 100.0


def test_correlations_match_scipy(data_dir):
    gold = [e.label for e in read_glue(data_dir / "glue/STS-B/dev.tsv", "stsb")]
    rng = np.random.default_rng(0)
    for noise in (0.0, 0.5, 2.0):
        # Rounded predictions have many ties, as does the gold (scores in steps of 0.2).
        pred = np.round(np.asarray(gold) + rng.normal(0, noise, len(gold)), 1)
        assert pearson(gold, pred) == pytest.approx(
            100 * scipy.stats.pearsonr(gold, pred)[0], abs=1e-9
        )
        assert spearman(gold, pred) == pytest.approx(
            100 * scipy.stats.spearmanr(gold, pred)[0], abs=1e-9
        )


def test_benchmark_metric_table():
    assert GLUE_METRICS["cola"] == ("mcc",) and GLUE_METRICS["stsb"] == ("pearson", "spearman")
    assert (
        BENCHMARK_METRICS["glue-mrpc"] == ("accuracy", "f1")
        and BENCHMARK_METRICS["mlqa"][0] == "f1"
    )
    scores = classification_scores("glue-mrpc", [1, 1, 0, 0], [1, 0, 0, 0])
    assert scores == {"accuracy": 75.0, "f1": pytest.approx(200 / 3)}
    with pytest.raises(ValueError, match="not a classification benchmark"):
        classification_scores("mlqa", [1], [1])
    with pytest.raises(ValueError, match="equally long"):
        accuracy([1, 2], [1])


# --- SQuAD v1.1: reference = evaluate-v1.1.py, re-typed ------------------------------------


def ref_squad_normalize(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def ref_f1(prediction_tokens, ground_truth_tokens):
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def ref_evaluate(dataset, predictions, normalize):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(normalize(prediction) == normalize(gt) for gt in ground_truths)
                f1 += max(
                    ref_f1(normalize(prediction).split(), normalize(gt).split())
                    for gt in ground_truths
                )
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


# --- MLQA: reference = mlqa_evaluation_v1.py, re-typed --------------------------------------

PUNCT = {
    chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")
}.union(string.punctuation)
WHITESPACE_LANGS = ["en", "es", "hi", "vi", "de", "ar"]
MIXED_SEGMENTATION_LANGS = ["zh"]


def ref_mixed_segmentation(text):
    segs_out = []
    temp_str = ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in PUNCT:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def ref_mlqa_normalize(s, lang):
    def remove_articles(text, lang):
        if lang == "en":
            return re.sub(r"\b(a|an|the)\b", " ", text)
        elif lang == "es":
            return re.sub(r"\b(un|una|unos|unas|el|la|los|las)\b", " ", text)
        elif lang == "hi":
            return text
        elif lang == "vi":
            return re.sub(r"\b(của|là|cái|chiếc|những)\b", " ", text)
        elif lang == "de":
            return re.sub(
                r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b", " ", text
            )
        elif lang == "ar":
            return re.sub("\\sال^|ال", " ", text)
        elif lang == "zh":
            return text
        raise Exception(f"Unknown Language {lang}")

    def white_space_fix(text, lang):
        if lang in WHITESPACE_LANGS:
            tokens = text.split()
        elif lang in MIXED_SEGMENTATION_LANGS:
            tokens = ref_mixed_segmentation(text)
        else:
            raise Exception(f"Unknown Language {lang}")
        return " ".join([t for t in tokens if t.strip() != ""])

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in PUNCT)

    return white_space_fix(remove_articles(remove_punc(s.lower()), lang), lang)


# --- perturbed predictions on real MLQA dev ---------------------------------------------------

ARTICLES = {
    "en": "The ",
    "es": "los ",
    "de": "der ",
    "vi": "những ",
    "ar": "ال",
    "hi": "",
    "zh": "",
}


def _perturb(answer: str, context: str, start: int, other: str, lang: str, rng: random.Random):
    """A plausible model answer near `answer`; None means "no prediction"."""
    end = start + len(answer)
    choice = rng.randrange(14)
    words = answer.split()
    return [
        answer,
        answer.upper(),
        ARTICLES[lang] + answer,
        f"{answer}.",
        f"¿{answer}?」",
        " ".join(words[:-1]) if len(words) > 1 else answer[: max(1, len(answer) // 2)],
        context[start : min(len(context), end + 15)],
        context[max(0, start - 12) : end],
        other,
        "",
        None,
        answer[1:],
        "  ".join(words) + " ,",
        f"{answer} ({answer})",
    ][choice]


def _predictions(dataset, lang, seed, second_gold=False):
    rng = random.Random(seed)
    qas = [(p["context"], qa) for a in dataset for p in a["paragraphs"] for qa in p["qas"]]
    predictions = {}
    for i, (context, qa) in enumerate(qas):
        gold = qa["answers"][0]
        other = qas[(i + 7) % len(qas)][1]["answers"][0]["text"]
        prediction = _perturb(gold["text"], context, gold["answer_start"], other, lang, rng)
        if prediction is not None:
            predictions[qa["id"]] = prediction
        if second_gold and i % 3 == 0:  # a second gold answer: max over gold answers matters
            start = gold["answer_start"]
            qa["answers"].append(
                {"text": context[max(0, start - 12) : start + len(gold["text"])], "answer_start": 0}
            )
    return predictions


def _gold(dataset):
    return {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for a in dataset
        for p in a["paragraphs"]
        for qa in p["qas"]
    }


def test_squad_metric_matches_official_semantics(data_dir):
    dataset = json.loads(
        (data_dir / "mlqa/dev-context-en-question-en.json").read_text(encoding="utf-8")
    )["data"]
    for seed in range(3):
        predictions = _predictions(dataset, "en", seed, second_gold=seed == 2)
        expected = ref_evaluate(dataset, predictions, ref_squad_normalize)
        got = qa_scores(_gold(dataset), predictions)
        assert got == pytest.approx(expected, abs=1e-9)
        assert 20 < got["exact_match"] < got["f1"] < 90  # the perturbations give a spread


@pytest.mark.parametrize("context_lang", ["ar", "de", "en", "es", "hi", "vi", "zh"])
def test_mlqa_metric_matches_official_script(data_dir, context_lang):
    for path in sorted((data_dir / "mlqa").glob(f"dev-context-{context_lang}-question-*.json")):
        dataset = json.loads(path.read_text(encoding="utf-8"))["data"]
        predictions = _predictions(dataset, context_lang, seed=len(path.name), second_gold=True)
        expected = ref_evaluate(dataset, predictions, lambda s: ref_mlqa_normalize(s, context_lang))
        assert qa_scores(_gold(dataset), predictions, context_lang) == pytest.approx(
            expected, abs=1e-9
        ), path.name


def test_qa_normalization_cases():
    assert squad_normalize("The Cat's  hat!") == "cats hat"
    assert squad_normalize("¿Dónde?") == "¿dónde"  # SQuAD drops ASCII punctuation only
    assert mlqa_normalize("¿Dónde está la casa?", "es") == "dónde está casa"
    assert (
        mlqa_normalize("Das ist 北京大学, der beste Ort", "zh")
        == "das ist 北 京 大 学 der beste ort"
    )
    assert mlqa_normalize("الكتاب والقلم", "ar") == "كتاب و قلم"  # every ال goes, as in the script
    assert mlqa_normalize("Die Katze", "de") == "katze"
    assert mlqa_normalize("$5 + 3", "hi") == "5 3"  # ASCII symbols count as punctuation
    with pytest.raises(ValueError, match="no rules for language 'fr'"):
        mlqa_normalize("le chat", "fr")
    # F1 = 2PR/(P+R) with P = 1/2, R = 1; empty-vs-empty is EM 1 but F1 0 (v1.1 semantics).
    assert qa_scores({"q": ["the cat sat"]}, {"q": "cat"}) == {
        "exact_match": 0.0,
        "f1": pytest.approx(200 / 3),
    }
    assert qa_scores({"q": ["a"]}, {"q": "the"}) == {"exact_match": 100.0, "f1": 0.0}
    assert qa_scores({"q": ["x"], "r": ["y"]}, {"q": "x"}) == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(ValueError, match="unknown question ids"):
        qa_scores({"q": ["x"]}, {"q": "x", "zz": "y"})


# --- conlleval vs seqeval ---------------------------------------------------------------------

TYPES = ("PER", "LOC", "ORG", "MISC")


def _perturb_tags(sentences, rate, seed):
    """Predictions with wrong types, shifted boundaries, and malformed I- after O / other type."""
    rng = random.Random(seed)
    out = []
    for tags in sentences:
        pred = list(tags)
        for i, tag in enumerate(pred):
            if rng.random() >= rate:
                continue
            kind = rng.choice(TYPES)
            pred[i] = rng.choice(
                [
                    "O",
                    f"I-{kind}",
                    f"B-{kind}",
                    f"{tag[0]}-{kind}" if tag != "O" else "O",
                    "I-" + tag[2:] if tag != "O" else f"I-{kind}",
                ]
            )
        out.append(pred)
    return out


def _seqeval(gold, pred, **kwargs):
    """seqeval's classification report (micro average and per type), in percent."""
    report = seqeval.metrics.classification_report(
        gold, pred, output_dict=True, zero_division=0, **kwargs
    )
    micro = report.pop("micro avg")
    per_type = {k: (v["support"], 100 * v["f1-score"]) for k, v in report.items() if "avg" not in k}
    return (100 * micro["precision"], 100 * micro["recall"], 100 * micro["f1-score"]), per_type


def _scores(result):
    return (result.overall.precision, result.overall.recall, result.overall.f1)


GOLD_CHUNKS_OPENED_BY_I = {"conll2003/eng.testa": 5938, "conll2002/esp.testb": 1}  # of 5942, 3559


@pytest.mark.parametrize("name", sorted(GOLD_CHUNKS_OPENED_BY_I))
def test_conlleval_matches_seqeval(data_dir, name):
    gold = [list(s.tags) for s in read_conll(data_dir / name)]
    for seed, rate in enumerate((0.05, 0.3)):
        pred = _perturb_tags(gold, rate, seed)
        result = conlleval(gold, pred)
        # seqeval's default mode is a port of conlleval: identical for IOB1 and IOB2, malformed
        # sequences included.
        overall, per_type = _seqeval(gold, pred)
        assert _scores(result) == pytest.approx(overall, abs=1e-9)
        assert per_type == {
            k: (c.gold, pytest.approx(c.f1, abs=1e-9)) for k, c in result.per_type.items()
        }
        # IOB1 -> IOB2 keeps every chunk, so conlleval's scores do not change ...
        gold2, pred2 = [list(iob1_to_iob2(t)) for t in gold], [list(iob1_to_iob2(t)) for t in pred]
        assert _scores(conlleval(gold2, pred2)) == pytest.approx(_scores(result), abs=1e-9)
        # ... and on well-formed IOB2 seqeval's strict mode agrees with conlleval too.
        assert _seqeval(gold2, pred2, mode="strict", scheme=IOB2)[0] == pytest.approx(
            _scores(result), abs=1e-9
        )
        # On malformed sequences strict IOB2 drops every chunk opened by I- (conlleval keeps it):
        # on raw IOB1 gold that is nearly all of them, on Spanish the one annotation slip.
        strict, strict_types = _seqeval(gold, pred, mode="strict", scheme=IOB2)
        assert strict == pytest.approx(_b_opened_scores(gold, pred), abs=1e-9)
        dropped = result.overall.gold - sum(n for n, _ in strict_types.values())
        assert dropped == GOLD_CHUNKS_OPENED_BY_I[name]


def _b_opened_scores(gold, pred):
    """conlleval's P/R/F1 counting only chunks whose first tag is B- (seqeval strict IOB2)."""

    def kept(tags):
        return {c for c in chunks(tags) if tags[c[1]].startswith("B-")}

    correct = sum(len(kept(g) & kept(p)) for g, p in zip(gold, pred))
    n_gold, n_pred = sum(len(kept(g)) for g in gold), sum(len(kept(p)) for p in pred)
    precision, recall = 100 * correct / n_pred, 100 * correct / n_gold
    return precision, recall, 2 * precision * recall / (precision + recall)


def test_conlleval_cases():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "I-ORG", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "I-ORG"]]
    result = conlleval(gold, pred)
    # gold chunks: PER(0-1), LOC(3), ORG(0-1), ORG(2); predicted: PER(0-1), ORG(3), ORG(0-2).
    assert (result.overall.correct, result.overall.gold, result.overall.predicted) == (1, 4, 3)
    assert result.overall.f1 == pytest.approx(2 * (100 / 3) * 25 / (100 / 3 + 25))
    assert chunks(["O", "I-PER", "I-LOC", "B-LOC", "I-LOC"]) == {
        ("PER", 1, 1),
        ("LOC", 2, 2),
        ("LOC", 3, 4),
    }
    with pytest.raises(ValueError, match="sentence 1: 1 gold tags but 2 predicted"):
        conlleval([["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="tag 'X-PER' is not O"):
        conlleval([["X-PER"]], [["O"]])
