"""Evaluate a model on one task split: predictions per gold record and the official metrics.

Features are batched by length (a few padded shapes), run through `predict` (a jitted eval step)
and mapped back to the reader's records by the task kind (finetuning/kinds: a class or value per
example, an IOB2 tag per word, an answer span per question), which also scores them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping

import jax
import numpy as np
import seqio

from xlmr_jax import logs
from xlmr_jax.config import PAD_ID
from xlmr_jax.finetuning.batching import PAD_VALUES, WEIGHT, sorted_batches
from xlmr_jax.finetuning.preprocessors import INPUT_IDS
from xlmr_jax.finetuning.sources import RecordSource, TaskInfo

EVAL_SHAPES = 4  # evaluation batches are padded to a multiple of max_length / EVAL_SHAPES
PredictFn = Callable[[dict[str, np.ndarray]], dict]
# (task, split, batch size, length) -> its evaluation batches, reused by later evaluations.
BatchCache = MutableMapping[tuple[str, str, int, int], list[dict[str, np.ndarray]]]
_LOGITS = ("start_logits", "end_logits")


@dataclasses.dataclass(frozen=True)
class TaskEvaluation:
    """One task split: its gold records, a prediction per record and the metrics (percent)."""

    task: str
    split: str
    info: TaskInfo
    records: list
    predictions: list
    metrics: dict[str, float]

    @property
    def examples(self) -> int:
        return len(self.records)


def task_source(task: seqio.Task) -> RecordSource:
    if not isinstance(task.source, RecordSource):
        raise ValueError(f"task {task.name} is not a fine-tuning task (xlmr_jax.tasks)")
    return task.source


def eval_batches(
    task: seqio.Task, split: str, batch_size: int, max_length: int, cache: BatchCache | None
) -> list[dict[str, np.ndarray]]:
    key = (task.name, split, batch_size, max_length)
    if cache is not None and key in cache:
        return cache[key]
    dataset = task.get_dataset({INPUT_IDS: max_length}, split=split, shuffle=False)
    result = sorted_batches(dataset, batch_size, max_length, -(-max_length // EVAL_SHAPES))
    if cache is not None:
        cache[key] = result
    return result


def run_features(
    task: seqio.Task,
    split: str,
    predict: PredictFn,
    batch_size: int,
    max_length: int,
    cache: BatchCache | None = None,
) -> dict[str, np.ndarray]:
    """Model outputs and the decoding fields of every feature (padding rows removed).

    Token axes are padded back to `max_length`; QA logits of padding tokens are -inf, so span
    decoding does not depend on how a batch was padded.
    """
    kind = task_source(task).info.task_kind
    columns: dict[str, list] = {}
    batches = eval_batches(task, split, batch_size, max_length, cache)
    for batch in logs.progress(batches, desc=f"{task.name} {split}", unit="batch", leave=False):
        real = batch[WEIGHT] > 0
        outputs = jax.device_get(predict(batch))
        padding = batch[INPUT_IDS] == PAD_ID
        outputs = {
            k: np.where(padding, -np.inf, v) if k in _LOGITS else v for k, v in outputs.items()
        }
        fields = {"index": batch["index"], **{k: batch[k] for k in kind.decode_fields}}
        for name, values in {**fields, **outputs}.items():
            columns.setdefault(name, []).append(
                _pad_tokens(name, np.asarray(values)[real], max_length)
            )
    if not columns:
        raise ValueError(f"task {task.name} split {split!r} gave no features")
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def _pad_tokens(name: str, values: np.ndarray, length: int) -> np.ndarray:
    if values.ndim < 2:
        return values
    widths = [(0, 0), (0, length - values.shape[1])] + [(0, 0)] * (values.ndim - 2)
    fill = -np.inf if name in _LOGITS else PAD_VALUES.get(name, 0)
    return np.pad(values, widths, constant_values=fill)


def evaluate_task(
    task_name: str,
    split: str,
    predict: PredictFn,
    batch_size: int,
    max_length: int,
    cache: BatchCache | None = None,
) -> TaskEvaluation:
    """Predictions and metrics of a registered fine-tuning task on `split`."""
    task = seqio.get_mixture_or_task(task_name)
    info = task_source(task).info
    records = task_source(task).records(split)
    features = run_features(task, split, predict, batch_size, max_length, cache)
    kind = info.task_kind
    predictions = kind.decode(info, records, features)
    metrics = kind.score(info, records, predictions)
    return TaskEvaluation(task_name, split, info, records, predictions, metrics)
