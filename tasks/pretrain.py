"""seqio registrations for pretraining: one task per CC-100-layout language, alpha-rate mixtures."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

import gin
import seqio

from xlmr_jax.data.corpus_stats import corpus_stats, sizes
from xlmr_jax.data.languages import resolve_languages
from xlmr_jax.data.mixing import DEFAULT_ALPHA, mixing_rates
from xlmr_jax.data.mixture import PretrainMixture
from xlmr_jax.data.preprocessors import FEATURE, pack_blocks, tokenize_sentences
from xlmr_jax.data.sources import (
    DEFAULT_VALIDATION_FRACTION,
    CorpusError,
    CorpusSource,
    discover,
    language_files,
)
from xlmr_jax.vocab import XLMRVocabulary

logger = logging.getLogger(__name__)


def task_name(prefix: str, lang: str) -> str:
    """`<prefix>.<lang>`, with '-' as '_' (seqio names allow [\\w.:]): xlmr.cc100.zh_Hans."""
    return f"{prefix}.{lang.replace('-', '_')}"


def _add(registry, name: str, *args, **kwargs) -> None:
    if name in registry.names():
        registry.remove(name)
    registry.add(name, *args, **kwargs)


@gin.configurable
def register_cc100(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str | os.PathLike = gin.REQUIRED,
    languages: Sequence[str] | str | int | None = None,
    *,
    name: str = "xlmr.cc100",
    alpha: float = DEFAULT_ALPHA,
    size_unit: str = "sentences",
    tokens_per_sample: int = 512,
    break_mode: str = "complete",
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    lazy: bool = False,
) -> str:
    """Registers tasks `<name>.<lang>` and the mixture `<name>`; returns the mixture's name.

    languages: codes, a set size or a named list (`data.languages`: 7..100 and cc<N> in CC-100
    codes, wiki<N> in Wikipedia codes), or None for every language in data_dir. Rates are q_i ~ n_i^alpha with n_i the language's
    training-split size in `size_unit` ("sentences" as in the paper's section 5.1; also
    "documents", "bytes", "tokens"). Registering a name again replaces it. lazy: list the files only; read the
    statistics (rates, example counts) when the mixture is first used (`import xlmr_jax.tasks`).
    """
    vocab = vocabulary if isinstance(vocabulary, XLMRVocabulary) else XLMRVocabulary(vocabulary)
    vocab.load()
    languages = resolve_languages(languages)
    files = discover(data_dir) if languages is None else language_files(data_dir, languages)
    if not files:
        raise CorpusError(f"{data_dir}: no languages to register (`<lang>.txt[.xz]` files).")
    rates = _Rates(name, data_dir, tuple(files), validation_fraction, size_unit, alpha, vocab)
    output_features = {FEATURE: seqio.Feature(vocab, add_eos=False, dtype="int32")}
    preprocessors = [
        tokenize_sentences,
        functools.partial(pack_blocks, tokens_per_sample=tokens_per_sample, break_mode=break_mode),
    ]
    for lang, shards in files.items():
        counts = None if lazy else {s: c.documents for s, c in rates.stats[lang].splits.items()}
        _add(
            seqio.TaskRegistry,
            task_name(name, lang),
            source=CorpusSource(shards, validation_fraction, counts),
            output_features=output_features,
            preprocessors=preprocessors,
        )
    _add(
        seqio.MixtureRegistry,
        name,
        [(task_name(name, lang), rates if lazy else rates(lang)) for lang in files],
        mixture_cls=PretrainMixture,
        languages={task_name(name, lang): lang for lang in files},
        tokens_per_sample=tokens_per_sample,
        vocabulary=vocab,
    )
    logger.info("Registered %s: %d languages, alpha=%s by %s.", name, len(files), alpha, size_unit)
    return name


class _Rates:
    """q_i ~ n_i^alpha of the mixture's languages, from corpus statistics read on first use.

    Called with a language code or (as a seqio rate function) with the language's task.
    """

    def __init__(self, name, data_dir, languages, validation_fraction, size_unit, alpha, vocab):
        self._args = (data_dir, languages, validation_fraction, size_unit, alpha, vocab)
        self._by_task = {task_name(name, lang): lang for lang in languages}

    @functools.cached_property
    def stats(self) -> dict:
        data_dir, languages, validation_fraction, size_unit, _, vocab = self._args
        return corpus_stats(
            data_dir,
            languages=list(languages),
            validation_fraction=validation_fraction,
            vocabulary=vocab if size_unit == "tokens" else None,
        )

    @functools.cached_property
    def rates(self) -> dict[str, float]:
        data_dir, languages, _, size_unit, alpha, _ = self._args
        train_sizes = sizes(self.stats, size_unit)
        empty = sorted(lang for lang, n in train_sizes.items() if not n)
        if empty:
            raise CorpusError(
                f"{data_dir}: no training text for {', '.join(empty)} (empty files or every "
                "line invalid UTF-8); remove them from the mixture."
            )
        return mixing_rates(train_sizes, alpha)

    def __call__(self, lang_or_task: str | seqio.Task) -> float:
        if isinstance(lang_or_task, seqio.Task):
            lang_or_task = self._by_task[lang_or_task.name]
        return self.rates[lang_or_task]
