"""`register_task`: one seqio task from split readers, a `TaskInfo` and a vocabulary.

The task kind (`info.task_kind`, finetuning/kinds) gives the example conversion, featurizer
and targets; output features are `input_ids` (XLMRVocabulary) plus the kind's targets. tasks/*.py call this
once per benchmark x language; registering a name again replaces it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import seqio

from xlmr_jax.finetuning.preprocessors import INPUT_IDS, featurize
from xlmr_jax.finetuning.sources import RecordReader, RecordSource, TaskInfo
from xlmr_jax.vocab import XLMRVocabulary


def as_vocabulary(vocabulary: XLMRVocabulary | str) -> XLMRVocabulary:
    """A vocabulary, or the path of its SentencePiece model."""
    return vocabulary if isinstance(vocabulary, XLMRVocabulary) else XLMRVocabulary(vocabulary)


def task_parts(
    info: TaskInfo, vocabulary: XLMRVocabulary, **featurizer_options
) -> tuple[list, dict[str, seqio.Feature]]:
    """(preprocessors after the example conversion, output features) of a task kind; shared by
    the file tasks and the streaming TFDS tasks (tasks/tfds.py)."""
    features = info.task_kind.features(info, featurizer_options)
    preprocessor = functools.partial(
        featurize,
        featurizer=features.featurize,
        signature=features.signature,
        default_length=features.default_length,
    )
    return [preprocessor], {INPUT_IDS: seqio.Feature(vocabulary, add_eos=False), **features.targets}


def register_task(
    name: str,
    readers: Mapping[str, RecordReader],
    info: TaskInfo,
    vocabulary: XLMRVocabulary,
    **featurizer_options,
) -> seqio.Task:
    """Registers (or replaces) task `name`; featurizer options: classification `pair`, QA
    `doc_stride` / `max_query_length`."""
    features = info.task_kind.features(info, featurizer_options)
    source = RecordSource(readers, info, features.to_example, features.example_signature)
    preprocessors, output_features = task_parts(info, vocabulary, **featurizer_options)
    seqio.TaskRegistry.remove(name)
    return seqio.TaskRegistry.add(
        name, source=source, output_features=output_features, preprocessors=preprocessors
    )
