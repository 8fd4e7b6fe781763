"""What the pretraining loop consumes: a per-host batch source and its on-device masking."""

from __future__ import annotations

import dataclasses
import os

import gin
import jax.numpy as jnp
import seqio

from xlmr_jax.data.masking import MaskIds, MaskingConfig, bind_masking
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
    word_starts = jnp.asarray(vocab.word_starts) if masking.whole_word_masking else None
    mask_fn = bind_masking(MaskIds.of(vocab), source.tokens_per_sample, masking, word_starts)
    return MLMInputs(
        source,
        mask_fn,
        source.tokens_per_sample,
        masking.max_predictions(source.tokens_per_sample),
        vocab.vocab_size,
        str(vocabulary),
    )
