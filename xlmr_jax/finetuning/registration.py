"""`register_task`: one seqio task from split readers, a `TaskInfo` and a vocabulary.

The task kind picks the example conversion and featurizer (classification.py, ner.py, qa.py);
output features are `input_ids` (XLMRVocabulary) plus the kind's targets. tasks/*.py call this
once per benchmark x language; registering a name again replaces it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import seqio
import tensorflow as tf

from xlmr_jax.finetuning import classification, ner, qa
from xlmr_jax.finetuning.preprocessors import INPUT_IDS, featurize
from xlmr_jax.finetuning.sources import RecordReader, RecordSource, TaskInfo
from xlmr_jax.vocab import XLMRVocabulary


def as_vocabulary(vocabulary: XLMRVocabulary | str) -> XLMRVocabulary:
    """A vocabulary, or the path of its SentencePiece model."""
    return vocabulary if isinstance(vocabulary, XLMRVocabulary) else XLMRVocabulary(vocabulary)


def _target(size: int, dtype: tf.DType, rank: int) -> seqio.Feature:
    return seqio.Feature(seqio.PassThroughVocabulary(size), add_eos=False, dtype=dtype, rank=rank)


def _parts(info: TaskInfo, options: dict):
    """(to_example, example signature, featurizer, feature signature, default length, targets)."""
    if info.kind in ("classification", "regression"):
        regression = info.kind == "regression"
        dtype = tf.float32 if regression else tf.int32
        return (
            functools.partial(classification.to_example, regression=regression),
            classification.example_signature(regression),
            functools.partial(classification.featurize, **options),
            classification.feature_signature(regression),
            classification.DEFAULT_MAX_LENGTH,
            {"label": _target(info.num_labels, dtype, 0)},
        )
    if info.kind == "ner":
        return (
            ner.to_example,
            ner.EXAMPLE_SIGNATURE,
            functools.partial(ner.featurize, labels=info.labels, **options),
            ner.FEATURE_SIGNATURE,
            ner.DEFAULT_MAX_LENGTH,
            {"label_ids": _target(info.num_labels, tf.int32, 1)},
        )
    return (
        qa.to_example,
        qa.EXAMPLE_SIGNATURE,
        functools.partial(qa.featurize, **options),
        qa.FEATURE_SIGNATURE,
        qa.DEFAULT_MAX_LENGTH,
        {
            p: _target(qa.DEFAULT_MAX_LENGTH, tf.int32, 0)
            for p in ("start_position", "end_position")
        },
    )


def task_parts(
    info: TaskInfo, vocabulary: XLMRVocabulary, **featurizer_options
) -> tuple[list, dict[str, seqio.Feature]]:
    """(preprocessors after the example conversion, output features) of a task kind; shared by
    the file tasks and the streaming TFDS tasks (tasks/tfds.py)."""
    _, _, featurizer, signature, default_length, targets = _parts(info, featurizer_options)
    preprocessor = functools.partial(
        featurize, featurizer=featurizer, signature=signature, default_length=default_length
    )
    return [preprocessor], {INPUT_IDS: seqio.Feature(vocabulary, add_eos=False), **targets}


def register_task(
    name: str,
    readers: Mapping[str, RecordReader],
    info: TaskInfo,
    vocabulary: XLMRVocabulary,
    **featurizer_options,
) -> seqio.Task:
    """Registers (or replaces) task `name`; featurizer options: classification `pair`, QA
    `doc_stride` / `max_query_length`."""
    to_example, example_signature, *_ = _parts(info, featurizer_options)
    source = RecordSource(readers, info, to_example, example_signature)
    preprocessors, output_features = task_parts(info, vocabulary, **featurizer_options)
    seqio.TaskRegistry.remove(name)
    return seqio.TaskRegistry.add(
        name, source=source, output_features=output_features, preprocessors=preprocessors
    )
