"""seqio data sources over the benchmark readers' records, and what a task is to the loop.

A `RecordSource` reads a split's records (`PairExample`, `NerSentence`, `QAExample`) when a
dataset is requested, so reader errors ("file:line: ...") surface in the caller, and keeps
them available to evaluation (gold labels, words, contexts) through `records(split)`. Files are
found by `LocalFiles` (the first existing of the official layouts under a data directory) or,
for users with prepared tensorflow-datasets, `finetuning.tfds_records`, whose records are
streamed: a reader may return a list (files) or any other iterable, read again per iteration
(TFDS), which `get_dataset` never lists into memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import seqio
import tensorflow as tf

from xlmr_jax import storage
from xlmr_jax.metrics.official import BENCHMARK_METRICS

if TYPE_CHECKING:
    from xlmr_jax.finetuning.kinds.base import TaskKind

# () -> the split's records: a list, or an iterable that streams them (read again per iteration).
RecordReader = Callable[[], Iterable]

# Examples in the shuffle buffer of a streamed (not listed) split: our choice, a few MB of
# examples; a split up to this size is still permuted whole.
STREAM_SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """What the fine-tuning loop needs to know about a task beyond its features.

    kind: a name in `finetuning.kinds.KINDS` (classification, regression, ner, qa). benchmark: the results.json benchmark (xnli,
    conll, mlqa, xquad, squad, glue); column: its table column (a language, or the GLUE task).
    metric_benchmark: the key of `metrics.BENCHMARK_METRICS` that scores it (xnli, conll, mlqa,
    squad, xquad, glue-<task>). labels: class names or IOB2 tags (None for regression and QA).
    metric_language: MLQA's language-specific normalisation (the context language).
    """

    kind: str
    benchmark: str
    column: str
    metric_benchmark: str
    labels: tuple[str, ...] | None = None
    metric_language: str | None = None

    def __post_init__(self):
        _ = self.task_kind  # an unknown kind fails here
        if self.metric_benchmark not in BENCHMARK_METRICS:
            raise ValueError(f"unknown metric benchmark {self.metric_benchmark!r}")

    @property
    def metric(self) -> str:
        """The headline metric (model selection, table cells): the first customary one."""
        return BENCHMARK_METRICS[self.metric_benchmark][0]

    @property
    def task_kind(self) -> TaskKind:
        """The kind's object: head, features, loss, decoding, scoring (finetuning/kinds)."""
        from xlmr_jax.finetuning.kinds import get_kind  # the kinds import the featurizers

        return get_kind(self.kind)

    @property
    def num_labels(self) -> int:
        """The head's `num_labels`."""
        return self.task_kind.num_labels(self)


@dataclasses.dataclass(frozen=True)
class LocalFiles:
    """Read a split from the first existing of several layouts (path relative to data_dir)."""

    data_dir: str | os.PathLike
    options: Sequence[tuple[str, Callable[[storage.Path], list]]]

    def __call__(self) -> list:
        paths = [storage.as_path(self.data_dir, "DATA_DIR") / rel for rel, _ in self.options]
        for path, (_, reader) in zip(paths, self.options):
            if path.is_file():
                return reader(path)
        raise FileNotFoundError(
            f"benchmark file not found; looked for {', '.join(map(str, paths))} "
            "(set DATA_DIR; layouts in docs/finetuning.md)"
        )


class RecordSource(seqio.DataSource):
    """Examples `to_example(index, record)` of a split's records, shuffled by `seed` on request.

    A listed split (files) is permuted whole (not just a buffer), so seqio's warning about
    uncached function sources does not apply; its examples are built in memory and sliced by
    tf.data (no Python per element). A streamed split (TFDS) is converted one record at a time
    as tf.data asks for it and shuffled in a buffer of STREAM_SHUFFLE_BUFFER examples; `index`
    is still the record's position in the split.
    """

    def __init__(
        self,
        readers: Mapping[str, RecordReader],
        info: TaskInfo,
        to_example: Callable[[int, Any], dict],
        example_signature: Mapping[str, tf.TensorSpec],
    ):
        self._readers = dict(readers)
        self._to_example = to_example
        self._signature = dict(example_signature)
        self.info = info
        super().__init__(splits=tuple(self._readers), performs_internal_shuffling=True)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def list_shards(self, split: str) -> list[str]:
        return [split]

    def _read(self, split: str) -> Iterable:
        if split not in self._readers:
            raise ValueError(f"no split {split!r}; this task has {sorted(self._readers)}")
        return self._readers[split]()

    def records(self, split: str) -> list:
        """The records of `split` as a list (read again on every call), indexed by `index`: for
        evaluation, whose dev and test sets are small; a streamed split is listed here only."""
        records = self._read(split)
        return records if isinstance(records, list) else list(records)

    def get_dataset(
        self,
        split: str = "train",
        shuffle: bool = True,
        seed: int | None = None,
        shard_info: seqio.ShardInfo | None = None,  # one shard: seqio shards the examples
        *,
        sequence_length: Mapping[str, int] | None = None,  # unused, as in seqio's sources
        use_cached: bool = False,
        num_epochs: int | None = 1,
    ) -> tf.data.Dataset:
        records = self._read(split)
        if not isinstance(records, list):
            return self._streamed(records, shuffle, seed)
        order = np.arange(len(records))
        if shuffle:
            order = np.random.default_rng(seed).permutation(len(records))
        examples = [self._to_example(int(i), records[i]) for i in order]
        columns = {k: _column([ex[k] for ex in examples], s) for k, s in self._signature.items()}
        # Slicing the ragged columns gives ragged-rank-0 elements; the identity map makes them
        # plain variable-length tensors.
        return tf.data.Dataset.from_tensor_slices(columns).map(lambda ex: ex)

    def _streamed(self, records: Iterable, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        def examples():
            for index, record in enumerate(records):
                example = self._to_example(index, record)
                yield {k: example[k] for k in self._signature}

        dataset = tf.data.Dataset.from_generator(examples, output_signature=self._signature)
        if shuffle:
            dataset = dataset.shuffle(STREAM_SHUFFLE_BUFFER, seed=seed)
        return dataset


def _column(values: list, spec: tf.TensorSpec) -> tf.Tensor | tf.RaggedTensor:
    """One field of all examples: a tensor, or a ragged tensor for list fields ([None])."""
    if not spec.shape.rank:
        return tf.constant(values, spec.dtype, shape=[len(values)])
    flat = [v for row in values for v in row]
    flat_values = tf.constant(flat, spec.dtype, shape=[len(flat)])
    return tf.RaggedTensor.from_row_lengths(flat_values, [len(row) for row in values])
