"""Fine-tuning batches over epochs, whose position (epoch, offset) a checkpoint can hold.

Each epoch shuffles the training tasks with a seed fixed by the run seed and the epoch, so the
batches of any epoch can be recomputed after a restart: restoring (epoch, offset) rebuilds that
epoch's order and skips the `offset` batches already trained on. Every process reads the
same global batches and keeps its own rows (`sharding.host_rows`), so any number of processes
trains on the batches of one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import seqio
import tensorflow as tf

from xlmr_jax import sharding
from xlmr_jax.finetuning.batching import batches
from xlmr_jax.finetuning.preprocessors import INPUT_IDS
from xlmr_jax.finetuning.specs import Recipe


def epoch_dataset(
    names: Sequence[str], counts: Mapping[str, int], split: str, recipe: Recipe, epoch: int
) -> tf.data.Dataset:
    """One epoch of every training task, shuffled; several tasks are interleaved at random."""
    seed = recipe.seed * 10_007 + epoch
    datasets = [
        seqio.get_mixture_or_task(name).get_dataset(
            {INPUT_IDS: recipe.max_length}, split=split, shuffle=True, seed=seed
        )
        for name in names
    ]
    if len(datasets) == 1:
        return datasets[0]
    total = sum(counts.values())
    weights = [counts[name] / total for name in names]
    return tf.data.Dataset.sample_from_datasets(datasets, weights, seed=seed)


class EpochBatches:
    """This process's rows of the batches of `recipe.num_epochs` epochs in order; `state()` is
    {"epoch", "offset"} (the same on every process)."""

    def __init__(self, names: Sequence[str], counts: Mapping[str, int], split: str, recipe: Recipe):
        self._names, self._counts, self._split, self._recipe = names, counts, split, recipe
        self.epoch, self.offset = 0, 0
        self._batches: Iterator[dict[str, np.ndarray]] | None = None

    def _epoch_batches(self) -> Iterator[dict[str, np.ndarray]]:
        recipe = self._recipe
        dataset = epoch_dataset(self._names, self._counts, self._split, recipe, self.epoch)
        return batches(dataset, recipe.batch_size, recipe.max_length)

    def __iter__(self) -> EpochBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        while True:
            if self.epoch >= self._recipe.num_epochs:
                raise StopIteration
            if self._batches is None:
                self._batches = self._epoch_batches()
                for _ in range(self.offset):  # restored mid-epoch: skip what was trained
                    next(self._batches)
            batch = next(self._batches, None)
            if batch is not None:
                self.offset += 1
                return sharding.host_rows(batch)
            self.epoch, self.offset, self._batches = self.epoch + 1, 0, None

    def state(self) -> dict[str, int]:
        """The position of the next batch, JSON-able; stored with the checkpoint."""
        return {"epoch": self.epoch, "offset": self.offset}

    def restore(self, state: Mapping[str, int]) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self._batches = None
