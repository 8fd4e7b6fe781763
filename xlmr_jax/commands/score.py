"""`xlmr score --benchmark B --gold FILE --predictions FILE [--lang L] [--json]`.

Predictions, per benchmark:
- squad, xquad, mlqa: a JSON object {question id: answer text} (the official scripts' input);
  gold is the SQuAD-format file. MLQA scores with the rules of the context language: `--lang`,
  else taken from an MLQA file name (`*-context-<lang>-question-*.json`).
- xnli, pawsx, glue-<task>: one label per line in gold order (class name, class index, or a
  number for glue-stsb); gold is the benchmark file (XTREME or XNLI-1.0 tsv/jsonl, where
  `--lang` selects a language; PAWS-X tsv; GLUE tsv).
- conll: conlleval's input, "token ... gold pred" per line, blank line between sentences. With
  `--gold` (a CoNLL file) tokens must match it and its tags are the gold tags.
"""

from __future__ import annotations

import argparse
import json
import re

from xlmr_jax import storage
from xlmr_jax.data.formats.common import (
    FormatError,
    PairExample,
    label_index,
    parse_number,
    read_text,
    tsv_rows,
)
from xlmr_jax.data.formats.conll import read_conll
from xlmr_jax.data.formats.glue import glue_task, read_glue
from xlmr_jax.data.formats.nli import (
    NLI_LABELS,
    PAWSX_LABELS,
    read_pawsx,
    read_xnli_original,
    read_xnli_tsv,
)
from xlmr_jax.data.formats.squad import read_squad
from xlmr_jax.metrics.official import (
    BENCHMARK_METRICS,
    classification_scores,
    conlleval,
    qa_scores,
)

QA_BENCHMARKS = ("squad", "xquad", "mlqa")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARK_METRICS))
    parser.add_argument(
        "--gold", type=storage.as_path, help="gold file in the benchmark's official format"
    )
    parser.add_argument("--predictions", type=storage.as_path, required=True)
    parser.add_argument("--lang", help="language (MLQA metric rules; XNLI-1.0 file filter)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.gold is None and args.benchmark != "conll":
        raise ValueError(f"--gold is required for {args.benchmark}")
    if args.benchmark in QA_BENCHMARKS:
        scores, count = _score_qa(args)
    elif args.benchmark == "conll":
        scores, count = _score_conll(args)
    else:
        scores, count = _score_labels(args)
    if args.json:
        print(
            json.dumps(
                {"benchmark": args.benchmark, "lang": args.lang, "examples": count, **scores}
            )
        )
    else:
        print(f"{args.benchmark}{f' ({args.lang})' if args.lang else ''}: {count} examples")
        for name, value in scores.items():
            if not isinstance(value, dict):
                print(f"  {name:<12} {value:8.2f}")
        for kind, values in scores.get("per_type", {}).items():
            print(f"  {kind:<12} " + "  ".join(f"{k} {v:6.2f}" for k, v in values.items()))
    return 0


def _score_qa(args: argparse.Namespace) -> tuple[dict, int]:
    gold = {ex.id: [a.text for a in ex.answers] for ex in read_squad(args.gold, on_mismatch="keep")}
    try:
        predictions = json.loads(read_text(args.predictions, "utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError(args.predictions, e.lineno, f"invalid JSON: {e.msg}") from None
    if not isinstance(predictions, dict) or not all(
        isinstance(v, str) for v in predictions.values()
    ):
        raise FormatError(
            args.predictions, None, "expected a JSON object {question id: answer text}"
        )
    if args.benchmark == "mlqa" and args.lang is None:
        match = re.search(r"context-([a-z]+)-question-", args.gold.name)
        if not match:
            raise ValueError("--lang is required for MLQA unless the gold file name gives it")
        args.lang = match.group(1)
    lang = args.lang if args.benchmark == "mlqa" else None
    return qa_scores(gold, predictions, lang), len(gold)


def _score_conll(args: argparse.Namespace) -> tuple[dict, int]:
    predicted = read_conll(args.predictions)
    if args.gold is None:
        gold = [s.tags for s in read_conll(args.predictions, tag_column=-2)]
    else:
        gold_sentences = read_conll(args.gold)
        if len(gold_sentences) != len(predicted):
            raise ValueError(f"{len(predicted)} predicted sentences for {len(gold_sentences)} gold")
        for g, p in zip(gold_sentences, predicted):
            if g.tokens != p.tokens:
                raise FormatError(
                    args.predictions, p.line, f"tokens differ from {args.gold}:{g.line}"
                )
        gold = [s.tags for s in gold_sentences]
    result = conlleval(gold, [s.tags for s in predicted])
    per_type = {kind: counts.as_dict() for kind, counts in result.per_type.items()}
    return {**result.overall.as_dict(), "per_type": per_type}, len(predicted)


def _score_labels(args: argparse.Namespace) -> tuple[dict, int]:
    examples, labels = _gold_examples(args)
    if any(ex.label is None for ex in examples):
        raise FormatError(args.gold, None, "has no labels (a test file?)")
    rows = list(tsv_rows(args.predictions, 1))
    if len(rows) != len(examples):
        raise ValueError(
            f"{args.predictions}: {len(rows)} predictions for {len(examples)} gold examples"
        )
    if labels is None:
        predicted = [parse_number(value, args.predictions, line) for line, (value,) in rows]
    else:
        predicted = [label_index(value, labels, args.predictions, line) for line, (value,) in rows]
    return classification_scores(args.benchmark, [ex.label for ex in examples], predicted), len(
        examples
    )


def _gold_examples(args: argparse.Namespace) -> tuple[list[PairExample], tuple[str, ...] | None]:
    if args.benchmark == "pawsx":
        return read_pawsx(args.gold, args.lang, labeled=True), PAWSX_LABELS
    if args.benchmark.startswith("glue-"):
        task = glue_task(args.benchmark.removeprefix("glue-"))
        return read_glue(args.gold, task.name, labeled=True), task.labels
    first_line = read_text(args.gold).split("\n", 1)[0]
    if args.gold.suffix == ".jsonl" or first_line.startswith("language\tgold_label"):
        languages = None if args.lang is None else [args.lang]
        return read_xnli_original(args.gold, languages), NLI_LABELS
    return read_xnli_tsv(args.gold, args.lang), NLI_LABELS
