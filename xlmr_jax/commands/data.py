"""`xlmr data`: a corpus's alpha sampling table, the packed-block cache, corpora from text.

xlmr data stats --table cc100 --alpha 0.3 [--unit gib|tokens] [--languages 15] [--json]
xlmr data stats --data_dir DIR --alpha 0.3 [--unit sentences|documents|bytes|tokens --vocab M]
xlmr data cache --data_dir DIR --vocab M [--tokens_per_sample 512 --break_mode complete]
    [--workers N | --runner DirectRunner [--pipeline_option=--flag=value ...]]
xlmr data sample-corpus --text_dir $XLMR_DATA_DIR/text --out DIR [--languages en,fr,...]
xlmr data wikipedia --extracted WIKIEXTRACTOR_OUT --lang sw --out DIR [--xz]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import json
import multiprocessing

import seqio

from xlmr_jax import logs
from xlmr_jax.data import cache
from xlmr_jax.data.cc100 import cc100_sizes
from xlmr_jax.data.corpus_stats import COUNTS, corpus_stats, sizes
from xlmr_jax.data.languages import resolve_languages
from xlmr_jax.data.mixing import DEFAULT_ALPHA, sampling_table
from xlmr_jax.data.packing import BREAK_MODES
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sources import DEFAULT_VALIDATION_FRACTION, SPLITS, discover, language_files
from xlmr_jax.data.wikipedia import write_wikipedia_corpus
from xlmr_jax.tasks.pretrain import register_cc100, task_name
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
    built.add_argument(
        "--runner",
        help="build with an Apache Beam pipeline on this runner (DirectRunner, DaskRunner, "
        "DataflowRunner, FlinkRunner, SparkRunner, ...) instead of the local processes",
    )
    built.add_argument(
        "--pipeline_option",
        action="append",
        default=[],
        metavar="--FLAG=VALUE",
        help="a Beam pipeline option for --runner, repeatable: --pipeline_option=--project=P",
    )
    sample = sub.add_parser(
        "sample-corpus", help="a small CC-100-layout corpus from SIB-200 + UDHR text (demo, tests)"
    )
    sample.add_argument("--text_dir", required=True, help="folder with sib200/ and udhr2/")
    sample.add_argument("--out", required=True)
    sample.add_argument(
        "--max_sentences", type=int, default=900, help="lines of the largest language"
    )
    sample.add_argument("--xz", action="store_true", help="write <lang>.txt.xz")
    wiki = sub.add_parser(
        "wikipedia", help="WikiExtractor output of one Wikipedia -> <lang>.txt in our layout"
    )
    wiki.add_argument("--extracted", required=True, help="WikiExtractor's --output folder")
    wiki.add_argument("--lang", required=True, help="the file code, e.g. sw or zh_yue (wiki100)")
    wiki.add_argument("--out", required=True, help="corpus folder (DATA_DIR)")
    wiki.add_argument("--xz", action="store_true", help="write <lang>.txt.xz")
    for p in (stats, built, sample):
        p.add_argument(
            "--languages",
            help="codes (en,sw), a set size (7/15/30/60/100) or a named list (cc30, wiki100)",
        )
        p.add_argument("--validation_fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    actions = {
        "stats": _stats,
        "cache": _cache,
        "sample-corpus": _sample_corpus,
        "wikipedia": _wikipedia,
    }
    return actions[args.action](args)


def _sample_corpus(args: argparse.Namespace) -> int:
    written = write_sample_corpus(
        args.text_dir,
        args.out,
        resolve_languages(args.languages),
        max_sentences=args.max_sentences,
        xz=args.xz,
    )
    print(f"{len(written)} languages, {sum(written.values()):,} lines in {args.out}")
    return 0


def _wikipedia(args: argparse.Namespace) -> int:
    written = write_wikipedia_corpus(args.extracted, args.lang, args.out, xz=args.xz)
    print(
        f"{written.path}: {written.articles:,} articles, {written.lines:,} lines "
        f"({written.skipped_empty:,} empty articles skipped)"
    )
    return 0


def _stats(args: argparse.Namespace) -> int:
    languages = resolve_languages(args.languages)
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
    languages = resolve_languages(args.languages) or list(discover(args.data_dir))
    register = functools.partial(
        register_cc100,
        args.data_dir,
        args.vocab,
        languages,
        name=args.name,
        tokens_per_sample=args.tokens_per_sample,
        break_mode=args.break_mode,
        validation_fraction=args.validation_fraction,
    )
    if args.runner or args.pipeline_option:
        return _cache_with_beam(args, register, languages)
    build = functools.partial(_cache_language, register, args.cache_dir)
    with (
        contextlib.ExitStack() as stack,
        logs.progress(total=len(languages), desc="cache", unit="language") as bar,
    ):
        lines = map(build, languages)
        if args.workers > 1:
            context = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
            pool = concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context)
            lines = stack.enter_context(pool).map(build, languages)
        for line in lines:
            bar.write(line)  # stdout, above the bar
            bar.update()
    return 0


def _cache_language(register: functools.partial, cache_dir: str | None, lang: str) -> str:
    """Registers the mixture as training will (statistics are cached) and packs one language."""
    task = seqio.get_mixture_or_task(task_name(register(), lang))
    for split in SPLITS:
        cache.build_cache(task, split, cache_dir)
    return _summary(task, lang, cache_dir)


# Runners Beam knows only by their full name.
BEAM_RUNNERS = {"DaskRunner": "apache_beam.runners.dask.dask_runner.DaskRunner"}


def _cache_with_beam(
    args: argparse.Namespace, register: functools.partial, languages: list[str]
) -> int:
    """The same cache through an Apache Beam pipeline (xlmr_jax/data/beam_cache.py)."""
    if not args.runner:
        raise ValueError("--pipeline_option needs --runner (e.g. --runner DirectRunner).")
    if args.workers != 1:
        raise ValueError(
            "--workers sizes the local process pool; with --runner set the parallelism through "
            "the runner's options (e.g. --pipeline_option=--direct_num_workers=4)."
        )
    try:
        from xlmr_jax.data.beam_cache import build_cache_with_beam
    except ModuleNotFoundError as e:
        if e.name != "apache_beam":
            raise
        raise ValueError(str(e)) from e  # says which extra to install
    runner = BEAM_RUNNERS.get(args.runner, args.runner)
    beam_args = [f"--runner={runner}", *args.pipeline_option]
    totals = build_cache_with_beam(register, args.cache_dir, beam_args)
    print(", ".join(f"{k} {v:,}" for k, v in totals.items()) + f" ({args.runner})")
    for lang in languages:
        task = seqio.get_mixture_or_task(task_name(args.name, lang))
        print(_summary(task, lang, args.cache_dir))
    return 0


def _summary(task: seqio.Task, lang: str, cache_dir: str | None) -> str:
    counts = []
    for split in SPLITS:
        blocks = cache.load_cache(task, split, cache_dir)
        counts.append(f"{split} {len(blocks):,} blocks {blocks.num_tokens:,} tokens")
    return f"{lang}: " + ", ".join(counts) + f" in {cache.task_cache_dir(task, cache_dir)}"
