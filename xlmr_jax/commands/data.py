"""`xlmr data stats|cache`: the alpha sampling table of a corpus; the packed-block cache.

xlmr data stats --table cc100 --alpha 0.3 [--unit gib|tokens] [--languages 15] [--json]
xlmr data stats --data_dir DIR --alpha 0.3 [--unit sentences|documents|bytes|tokens --vocab M]
xlmr data cache --data_dir DIR --vocab M [--tokens_per_sample 512 --break_mode complete]
xlmr data sample-corpus --text_dir $XLMR_DATA_DIR/text --out DIR [--languages en,fr,...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing

import seqio

from xlmr_jax.data import cache
from xlmr_jax.data.cc100 import cc100_sizes, language_set
from xlmr_jax.data.corpus_stats import COUNTS, corpus_stats, sizes
from xlmr_jax.data.mixing import DEFAULT_ALPHA, sampling_table
from xlmr_jax.data.packing import BREAK_MODES
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sources import DEFAULT_VALIDATION_FRACTION, SPLITS, discover, language_files
from xlmr_jax.vocab import XLMRVocabulary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    stats = sub.add_parser("stats", help="per language: size, share p, sampling rate q, q/p")
    source = stats.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", choices=["cc100"], help="the paper's Table 6")
    source.add_argument("--data_dir", help="a corpus in CC-100 layout")
    stats.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    stats.add_argument(
        "--unit", help="size unit: gib|tokens for the table (gib), else " + "|".join(COUNTS)
    )
    stats.add_argument("--vocab", help="SentencePiece model, to count tokens")
    stats.add_argument("--json", action="store_true", help="a JSON list of {lang, size, p, q}")
    built = sub.add_parser("cache", help="tokenize and pack a corpus into the block cache")
    built.add_argument("--data_dir", required=True)
    built.add_argument("--vocab", required=True, help="SentencePiece model")
    built.add_argument("--name", default="xlmr.cc100", help="task prefix, as in register_cc100")
    built.add_argument("--cache_dir", help="default: DATA_DIR/xlmr_cache")
    built.add_argument("--tokens_per_sample", type=int, default=512)
    built.add_argument("--break_mode", choices=BREAK_MODES, default="complete")
    built.add_argument("--workers", type=int, default=1, help="processes, one language each")
    sample = sub.add_parser(
        "sample-corpus", help="a small CC-100-layout corpus from SIB-200 + UDHR text (demo, tests)"
    )
    sample.add_argument("--text_dir", required=True, help="folder with sib200/ and udhr2/")
    sample.add_argument("--out", required=True)
    sample.add_argument(
        "--max_sentences", type=int, default=900, help="lines of the largest language"
    )
    sample.add_argument("--xz", action="store_true", help="write <lang>.txt.xz")
    for p in (stats, built, sample):
        p.add_argument("--languages", help="comma-separated codes or a set size (7/15/30/60/100)")
        p.add_argument("--validation_fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)


def _languages(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    return list(language_set(int(spec))) if spec.isdigit() else spec.split(",")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    actions = {"stats": _stats, "cache": _cache, "sample-corpus": _sample_corpus}
    return actions[args.action](args)


def _sample_corpus(args: argparse.Namespace) -> int:
    written = write_sample_corpus(
        args.text_dir,
        args.out,
        _languages(args.languages),
        max_sentences=args.max_sentences,
        xz=args.xz,
    )
    print(f"{len(written)} languages, {sum(written.values()):,} lines in {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    languages = _languages(args.languages)
    if args.table:
        unit = args.unit or "gib"
        table = cc100_sizes(unit, tuple(languages) if languages else None)
    else:
        unit = args.unit or "sentences"
        if languages is not None:
            language_files(args.data_dir, languages)
        vocab = XLMRVocabulary(args.vocab) if args.vocab else None
        stats = corpus_stats(
            args.data_dir,
            languages=languages,
            validation_fraction=args.validation_fraction,
            vocabulary=vocab,
        )
        table = sizes(stats, unit)
    rows = sampling_table(table, args.alpha)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows]))
        return 0
    print(f"{len(rows)} languages, size in {unit}, alpha = {args.alpha}")
    print(f"{'lang':<8} {'size':>14} {'p (%)':>8} {'q (%)':>8} {'q/p':>7}")
    for r in rows:
        print(f"{r.lang:<8} {r.size:>14,.1f} {100 * r.p:>8.3f} {100 * r.q:>8.3f} {r.ratio:>7.2f}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    languages = _languages(args.languages) or list(discover(args.data_dir))
    keys = ("data_dir", "vocab", "name", "cache_dir", "tokens_per_sample", "break_mode")
    options = {k: getattr(args, k) for k in (*keys, "validation_fraction")}
    options["languages"] = languages
    if args.workers == 1:
        for lang in languages:
            print(_cache_language(options, lang))
        return 0
    context = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        for line in pool.map(_cache_language, [options] * len(languages), languages):
            print(line)
    return 0


def _cache_language(options: dict, lang: str) -> str:
    """Registers the mixture as training will (statistics are cached) and packs one language."""
    from xlmr_jax.tasks.pretrain import register_cc100, task_name

    name = register_cc100(
        options["data_dir"],
        options["vocab"],
        options["languages"],
        name=options["name"],
        tokens_per_sample=options["tokens_per_sample"],
        break_mode=options["break_mode"],
        validation_fraction=options["validation_fraction"],
    )
    task = seqio.get_mixture_or_task(task_name(name, lang))
    counts = []
    for split in SPLITS:
        blocks = cache.build_cache(task, split, options["cache_dir"])
        counts.append(f"{split} {len(blocks):,} blocks {blocks.num_tokens:,} tokens")
    return (
        f"{lang}: " + ", ".join(counts) + f" in {cache.task_cache_dir(task, options['cache_dir'])}"
    )
