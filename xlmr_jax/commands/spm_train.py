"""`xlmr spm-train --data_dir DIR --model_prefix OUT [...]`: SentencePiece on alpha-sampled text."""

from __future__ import annotations

import argparse
import os

from xlmr_jax.data.corpus_stats import corpus_stats, sizes
from xlmr_jax.data.mixing import DEFAULT_ALPHA
from xlmr_jax.data.sentence_sampling import sample_sentences
from xlmr_jax.data.sources import DEFAULT_VALIDATION_FRACTION
from xlmr_jax.vocab import XLMRVocabulary, train_sentencepiece


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data_dir", required=True, help="corpus in CC-100 layout")
    parser.add_argument("--model_prefix", required=True, help="writes PREFIX.model, PREFIX.vocab")
    parser.add_argument("--languages", help="comma-separated codes (default: all in data_dir)")
    parser.add_argument(
        "--vocab_size", type=int, default=250_000, help="SentencePiece pieces (paper: 250K)"
    )
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument(
        "--model_type", choices=["unigram", "bpe"], default="unigram", help="paper: unigram (SPM)"
    )
    parser.add_argument(
        "--input_sentence_size",
        type=int,
        default=None,
        help="sentences sampled (default: the corpus' training lines, at most 10M)",
    )
    parser.add_argument("--character_coverage", type=float, default=0.9995)
    parser.add_argument("--num_threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation_fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    languages = args.languages.split(",") if args.languages else None
    if args.input_sentence_size is None:
        stats = corpus_stats(
            args.data_dir, languages=languages, validation_fraction=args.validation_fraction
        )
        args.input_sentence_size = min(sum(sizes(stats, "sentences").values()), 10_000_000)
    sentences = sample_sentences(
        args.data_dir,
        languages,
        alpha=args.alpha,
        num_sentences=args.input_sentence_size,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
    )
    path = train_sentencepiece(
        sentences,
        args.model_prefix,
        args.vocab_size,
        model_type=args.model_type,
        character_coverage=args.character_coverage,
        num_threads=args.num_threads,
        seed=args.seed,
    )
    print(f"{path}: {XLMRVocabulary(path).vocab_size} ids from {len(sentences):,} sentences")
    return 0
