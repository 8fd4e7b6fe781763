"""What the pretraining loop consumes: a per-host batch source and its on-device masking."""

from __future__ import annotations

import dataclasses
import functools
import os

import gin
import jax.numpy as jnp
import seqio

from xlmr_jax.data.masking import MaskingConfig, mask_tokens
from xlmr_jax.data.pipeline import PretrainPipeline
from xlmr_jax.training.train_step import MaskFn
from xlmr_jax.vocab import XLMRVocabulary


@dataclasses.dataclass
class MLMInputs:
    source: PretrainPipeline
    mask_fn: MaskFn
    sequence_length: int
    max_predictions: int
    vocab_size: int  # ids the tokenizer produces (the model may have more embedding rows)
    vocabulary_file: str


@gin.configurable
def mlm_inputs(
    split: str,
    global_batch_size: int,
    seed: int,
    *,
    mixture: str | seqio.Mixture = gin.REQUIRED,
    vocabulary: str | os.PathLike = gin.REQUIRED,
    masking: MaskingConfig | None = None,
    cache_dir: str | None = None,
) -> MLMInputs:
    """The mixture's pipeline for `split` and a masking function bound to the vocabulary."""
    masking = masking or MaskingConfig()
    vocab = XLMRVocabulary(vocabulary)
    source = PretrainPipeline(
        mixture, global_batch_size, seed=seed, split=split, cache_dir=cache_dir
    )
    max_predictions = masking.max_predictions(source.tokens_per_sample)
    low, high = vocab.random_token_range
    word_starts = jnp.asarray(vocab.word_starts) if masking.whole_word_masking else None

    def mask_fn(key, input_ids):
        starts = None if word_starts is None else word_starts[input_ids]
        return functools.partial(
            mask_tokens,
            mask_id=vocab.mask_id,
            pad_id=vocab.pad_id,
            special_ids=vocab.special_ids,
            vocab_low=low,
            vocab_high=high,
            mask_prob=masking.mask_prob,
            leave_unmasked_prob=masking.leave_unmasked_prob,
            random_token_prob=masking.random_token_prob,
            max_predictions=max_predictions,
        )(key, input_ids, word_starts=starts)

    return MLMInputs(
        source,
        mask_fn,
        source.tokens_per_sample,
        max_predictions,
        vocab.vocab_size,
        str(vocabulary),
    )
