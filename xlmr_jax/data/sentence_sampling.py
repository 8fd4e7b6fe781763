"""Alpha-sampled sentences from a CC-100-layout corpus: the text the SentencePiece model learns.

The paper trains its vocabulary on text sampled with the same alpha as pretraining. Language l
gets round(q_l * num_sentences) sentences (lines of its training split): drawn without
replacement when it has that many, otherwise all of them, repeated, plus a sample for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xlmr_jax import logs
from xlmr_jax.data.corpus_stats import corpus_stats, sizes
from xlmr_jax.data.mixing import DEFAULT_ALPHA, mixing_rates
from xlmr_jax.data.sources import (
    DEFAULT_VALIDATION_FRACTION,
    discover,
    iter_documents,
    language_files,
)


def sentence_quotas(
    sentences_per_language: dict[str, int], alpha: float, num_sentences: int
) -> dict[str, int]:
    """Sentences to draw per language: round(q_l * num_sentences)."""
    q = mixing_rates(sentences_per_language, alpha)
    return {lang: round(q[lang] * num_sentences) for lang in sentences_per_language}


def sample_sentences(
    data_dir: str | Path,
    languages: Sequence[str] | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    num_sentences: int = 10_000_000,
    seed: int = 0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> list[str]:
    """About num_sentences training lines, language l's share q_l; deterministic for a seed."""
    files = discover(data_dir) if languages is None else language_files(data_dir, languages)
    stats = corpus_stats(data_dir, languages=list(files), validation_fraction=validation_fraction)
    counts = sizes(stats, "sentences")
    sample: list[str] = []
    quotas = sentence_quotas(counts, alpha, num_sentences)
    bar = logs.progress(quotas.items(), desc="sample sentences", unit="language", leave=False)
    for i, (lang, quota) in enumerate(bar):
        repeats, rest = divmod(quota, counts[lang])
        picks = np.sort(np.random.default_rng([seed, i]).choice(counts[lang], rest, replace=False))
        index, next_pick = 0, 0
        for doc in iter_documents(files[lang], "train", validation_fraction):
            for line in doc:
                take = repeats
                if next_pick < len(picks) and picks[next_pick] == index:
                    take, next_pick = take + 1, next_pick + 1
                sample.extend([line] * take)
                index += 1
    return sample
