"""The official metrics of every fine-tuning benchmark, as percentages (x100) like the papers.

- classification: accuracy, binary F1, Matthews correlation (CoLA, AX);
- regression: Pearson and Spearman correlation (STS-B);
- extractive QA: SQuAD v1.1 exact match / F1 (`squad` and XQuAD) and the language-aware
  MLQA variant of `mlqa_evaluation_v1.py`;
- NER: conlleval entity-level precision / recall / F1.

`BENCHMARK_METRICS` names the customary metrics of each benchmark (first = headline).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

# --- classification and regression ------------------------------------------------------------


def accuracy(gold: Sequence, pred: Sequence) -> float:
    gold, pred = _pair(gold, pred)
    return 100.0 * float(np.mean(gold == pred))


def binary_f1(gold: Sequence, pred: Sequence, positive=1) -> float:
    """F1 of the positive class (MRPC, QQP: label 1); 0 when there are no true positives."""
    gold, pred = _pair(gold, pred)
    tp = np.sum((gold == positive) & (pred == positive))
    fp = np.sum((gold != positive) & (pred == positive))
    fn = np.sum((gold == positive) & (pred != positive))
    return 100.0 * float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def matthews_corrcoef(gold: Sequence, pred: Sequence) -> float:
    """Matthews correlation (multi-class form of Gorodkin 2004); 0 when undefined."""
    gold, pred = _pair(gold, pred)
    classes, encoded = np.unique(np.concatenate([gold, pred]), return_inverse=True)
    k, n = len(classes), len(gold)
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (encoded[:n], encoded[n:]), 1.0)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, total = np.trace(confusion), confusion.sum()
    cov_tp = correct * total - true_counts @ pred_counts
    cov_pp = total**2 - pred_counts @ pred_counts
    cov_tt = total**2 - true_counts @ true_counts
    denominator = np.sqrt(cov_pp * cov_tt)
    return 100.0 * float(cov_tp / denominator) if denominator else 0.0


def pearson(gold: Sequence[float], pred: Sequence[float]) -> float:
    gold, pred = _finite(gold, pred)
    gold, pred = gold - gold.mean(), pred - pred.mean()
    return 100.0 * float(gold @ pred / np.sqrt((gold @ gold) * (pred @ pred)))


def spearman(gold: Sequence[float], pred: Sequence[float]) -> float:
    """Pearson correlation of the ranks, ties sharing their average rank."""
    gold, pred = _finite(gold, pred)
    return pearson(_average_ranks(gold), _average_ranks(pred))


def _average_ranks(values: Sequence[float]) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, group, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(group, weights=ranks) / counts)[group]


def _finite(gold: Sequence[float], pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Float64 gold and predictions; a nan or inf in either is an error (never a score)."""
    gold, pred = _pair(gold, pred, np.float64)
    for name, values in (("gold", gold), ("prediction", pred)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(f"{name} value {bad[0]} is {values[bad[0]]}: not a finite number")
    return gold, pred


def _pair(gold: Sequence, pred: Sequence, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    gold, pred = np.asarray(gold, dtype=dtype), np.asarray(pred, dtype=dtype)
    if gold.shape != pred.shape or gold.ndim != 1 or not len(gold):
        raise ValueError(
            f"need two equally long non-empty sequences, got {gold.shape} and {pred.shape}"
        )
    return gold, pred


# --- extractive QA: SQuAD v1.1 and MLQA -------------------------------------------------------

_ASCII_PUNCT = frozenset(string.punctuation)


@functools.cache
def _mlqa_punctuation() -> frozenset[str]:
    """mlqa_evaluation_v1.py: every Unicode P* character plus ASCII punctuation (which adds the
    ASCII symbols $+<=>^`|~). Built on first use: it scans all code points."""
    unicode_punct = (
        chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i))[0] == "P"
    )
    return frozenset(unicode_punct) | _ASCII_PUNCT


_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    # As in the official script ('\sال^|ال'): its first branch never matches, so every "ال",
    # even inside a word, becomes a space.
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
MLQA_METRIC_LANGUAGES = tuple(_MLQA_ARTICLES)
_CJK = re.compile("[\u4e00-\u9fa5]")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def mlqa_normalize(text: str, lang: str) -> str:
    """mlqa_evaluation_v1.py: as SQuAD with Unicode punctuation, per-language articles, and
    zh segmentation (each char in U+4E00..U+9FA5 is a token, the rest split on whitespace)."""
    if lang not in _MLQA_ARTICLES:
        raise ValueError(
            f"MLQA metric has no rules for language {lang!r}; use one of {MLQA_METRIC_LANGUAGES}"
        )
    punctuation = _mlqa_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punctuation)
    articles = _MLQA_ARTICLES[lang]
    text = articles.sub(" ", text) if articles else text
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(token for token in tokens if token.strip())


def _mixed_segmentation(text: str) -> list[str]:
    # The script also splits off punctuation here, but it has been removed already.
    tokens, run = [], ""
    for ch in text:
        if _CJK.match(ch) or ch in _mlqa_punctuation():
            tokens.extend(run.split())
            tokens.append(ch)
            run = ""
        else:
            run += ch
    return tokens + run.split()


def _token_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 of two normalized answers (0 when nothing is shared, even if both are
    empty: v1.1 semantics)."""
    pred_tokens, gold_tokens = prediction.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if not same:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_scores(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str], lang: str | None = None
) -> dict[str, float]:
    """{"exact_match", "f1"} over all gold questions, max over each question's gold answers.

    `lang=None` uses the SQuAD v1.1 rules (SQuAD, XQuAD), a language code the MLQA rules for
    that (answer/context) language. Unanswered questions score 0 (logged, as the official
    scripts print them); a prediction for an id not in `gold` is an error.
    """
    unknown = [qid for qid in predictions if qid not in gold]
    if unknown:
        raise ValueError(f"{len(unknown)} predictions for unknown question ids, e.g. {unknown[:3]}")
    if not gold:
        raise ValueError("no gold questions")
    normalize = squad_normalize if lang is None else (lambda text: mlqa_normalize(text, lang))
    exact = f1 = 0.0
    missing = 0
    for qid, answers in gold.items():
        if qid not in predictions:
            missing += 1
            continue
        if not answers:
            raise ValueError(f"question {qid!r} has no gold answers")
        prediction = normalize(predictions[qid])
        normalized = [normalize(answer) for answer in answers]
        exact += max(float(prediction == answer) for answer in normalized)
        f1 += max(_token_f1(prediction, answer) for answer in normalized)
    if missing:
        logger.warning("%d of %d questions are unanswered and score 0", missing, len(gold))
    return {"exact_match": 100.0 * exact / len(gold), "f1": 100.0 * f1 / len(gold)}


# --- NER: conlleval -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChunkCounts:
    """conlleval's chunk counts for one entity type (or all) and the scores they give."""

    correct: int
    gold: int
    predicted: int

    @property
    def precision(self) -> float:
        return 100.0 * self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return 100.0 * self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclasses.dataclass(frozen=True)
class ConllevalResult:
    overall: ChunkCounts
    per_type: dict[str, ChunkCounts]


def _split_tag(tag: str, sentence: int) -> tuple[str, str]:
    prefix, _, kind = tag.partition("-")
    if tag != "O" and not (prefix in ("B", "I") and kind):
        raise ValueError(f"sentence {sentence}: tag {tag!r} is not O, B-<type> or I-<type>")
    return prefix, kind


def _chunk_start(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    # conlleval.pl startOfChunk, restricted to B/I/O prefixes.
    return tag == "B" or (prev == "O" and tag == "I") or (tag != "O" and prev_type != kind)


def _chunk_end(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    # conlleval.pl endOfChunk, restricted to B/I/O prefixes.
    return prev != "O" and (tag in ("B", "O") or prev_type != kind)


def chunks(tags: Sequence[str], sentence: int = 0) -> set[tuple[str, int, int]]:
    """(type, first, last) of every chunk of one sentence under conlleval's rules: a chunk
    starts at B-, or at I- after O or after another type (so IOB1 and IOB2 both work)."""
    found, start, prev, prev_type = set(), 0, "O", ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = _split_tag(tag, sentence)
        if prev != "O" and _chunk_end(prev, prev_type, prefix, kind):
            found.add((prev_type, start, i - 1))
        if _chunk_start(prev, prev_type, prefix, kind):
            start = i
        prev, prev_type = prefix, kind
    return found


def conlleval(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> ConllevalResult:
    """Entity-level micro precision / recall / F1 of conlleval: a predicted chunk counts only
    if a gold chunk has the same type, first and last token."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    counts: dict[str, list[int]] = {}
    for i, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"sentence {i}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted"
            )
        gold_chunks, pred_chunks = chunks(gold_tags, i), chunks(pred_tags, i)
        for index, group in ((0, gold_chunks & pred_chunks), (1, gold_chunks), (2, pred_chunks)):
            for kind, _, _ in group:
                counts.setdefault(kind, [0, 0, 0])[index] += 1
    per_type = {kind: ChunkCounts(*c) for kind, c in sorted(counts.items())}
    overall = ChunkCounts(*(sum(c[i] for c in counts.values()) for i in range(3)))
    return ConllevalResult(overall, per_type)


# --- which metrics each benchmark reports -------------------------------------------------------

METRIC_FUNCTIONS: dict[str, Callable[[Sequence, Sequence], float]] = {
    "accuracy": accuracy,
    "f1": binary_f1,
    "mcc": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}
GLUE_METRICS: dict[str, tuple[str, ...]] = {
    "cola": ("mcc",),
    "sst2": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "stsb": ("pearson", "spearman"),
    "mnli": ("accuracy",),
    "mnli-mm": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
    "ax": ("mcc",),
}
BENCHMARK_METRICS: dict[str, tuple[str, ...]] = {
    "xnli": ("accuracy",),
    "pawsx": ("accuracy",),
    "conll": ("f1", "precision", "recall"),
    "squad": ("f1", "exact_match"),
    "xquad": ("f1", "exact_match"),
    "mlqa": ("f1", "exact_match"),
    **{f"glue-{task}": names for task, names in GLUE_METRICS.items()},
}


def classification_scores(benchmark: str, gold: Sequence, pred: Sequence) -> dict[str, float]:
    """The customary metrics of a classification/regression benchmark ("xnli", "glue-mrpc")."""
    names = BENCHMARK_METRICS.get(benchmark)
    if names is None or any(name not in METRIC_FUNCTIONS for name in names):
        raise ValueError(f"{benchmark!r} is not a classification benchmark")
    return {name: METRIC_FUNCTIONS[name](gold, pred) for name in names}
