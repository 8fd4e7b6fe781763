"""A pretraining mixture as the pipeline and the cache read it, kept by registration.

`register_cc100` (tasks/pretrain.py) registers a `PretrainMixture`: a seqio mixture that also
holds each task's language, the normalized rates, the block length and the vocabulary, so
nothing downstream digs them out of seqio's preprocessors or sources.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import seqio

from xlmr_jax.vocab import XLMRVocabulary


class PretrainMixture(seqio.Mixture):
    """Tasks in name order (their index is the language id), with `languages`, `rates`
    (normalized, same order), `tokens_per_sample` and `vocabulary`."""

    def __init__(
        self,
        name: str,
        tasks: Sequence[tuple[str, float]],
        *,
        languages: Mapping[str, str],
        tokens_per_sample: int,
        vocabulary: XLMRVocabulary,
        **kwargs,
    ):
        super().__init__(name, tasks, **kwargs)
        self.languages = tuple(languages[task.name] for task in self.tasks)
        self.tokens_per_sample = tokens_per_sample
        self.vocabulary = vocabulary

    @functools.cached_property
    def rates(self) -> tuple[float, ...]:
        """Normalized rates in task order (a lazy registration reads its statistics here)."""
        rates = [self.get_rate(task) for task in self.tasks]
        return tuple(rate / sum(rates) for rate in rates)


def get_pretrain_mixture(mixture: str | PretrainMixture) -> PretrainMixture:
    """The registered pretraining mixture of that name (or the mixture itself)."""
    mix = seqio.get_mixture_or_task(mixture) if isinstance(mixture, str) else mixture
    if not isinstance(mix, PretrainMixture):
        raise ValueError(
            f"{mix.name} is not a pretraining mixture; register one with register_cc100 "
            "(xlmr_jax.tasks.pretrain)."
        )
    return mix
