"""Per-host pretraining batches from a registered mixture: deterministic, resumable, any host count.

The global stream is a function of (mixture, seed) alone: example i comes from the language and
block that sampling.LanguageSampler assigns to i, read from the packed cache (cache.py). Global
batch b holds examples [b * B, (b + 1) * B); host h of H takes the contiguous rows
[h * B / H, (h + 1) * B / H) of every global batch, reading only those blocks. So:

- the position is one integer, the number of global examples consumed; `state()` returns it (with
  a fingerprint of the stream) as a small JSON-able dict and `restore()` jumps there at once;
- the hosts' rows together are exactly the single-host batch, for any H dividing B;
- a run may resume with a different number of hosts, or a different global batch size: the
  stream of examples is the same, only how it is cut into batches and shared out changes.

Masking is not done here: it runs on device inside the train step (masking.py).
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import hashlib
import json
import logging
import os

import gin
import jax
import numpy as np
import seqio

from xlmr_jax import host_env
from xlmr_jax.config import PAD_ID
from xlmr_jax.data import cache
from xlmr_jax.data.preprocessors import pack_blocks
from xlmr_jax.data.sampling import LanguageSampler, epoch_rows

logger = logging.getLogger(__name__)


def task_language(task: seqio.Task) -> str:
    """The CC-100 code a corpus task reads (its files' language)."""
    return task.source.files[0].lang


def tokens_per_sample(task: seqio.Task) -> int:
    """The block length of a task's pack_blocks preprocessor."""
    for p in task.preprocessors:
        if isinstance(p, functools.partial) and p.func is pack_blocks:
            return p.keywords.get("tokens_per_sample", 512)
    raise ValueError(f"Task {task.name} has no pack_blocks preprocessor.")


def mixture_tasks(mixture: str | seqio.Mixture) -> tuple[tuple[seqio.Task, ...], tuple[float, ...]]:
    """A mixture's tasks in name order (the language ids) and their normalized rates."""
    mix = seqio.get_mixture_or_task(mixture) if isinstance(mixture, str) else mixture
    if isinstance(mix, seqio.Task):
        return (mix,), (1.0,)
    rates = [mix.get_rate(t) for t in mix.tasks]
    return tuple(mix.tasks), tuple(r / sum(rates) for r in rates)


@gin.configurable
class PretrainPipeline:
    """Batches {'input_ids': int32 [host_batch, L], 'language': int32 [host_batch]} for this host.

    mixture: a registered mixture (tasks/pretrain.py: register_cc100) or its name. Rows are
    `<s>` ... padded with pad id 1 to L = the tasks' tokens_per_sample; 'language' indexes
    `self.languages` (the mixture's tasks in name order). shard_info defaults to
    (jax.process_index(), jax.process_count()). The packed cache is built on first use when
    running on one host (build_cache=None); with several hosts build it first (`xlmr data cache`).
    """

    def __init__(
        self,
        mixture: str | seqio.Mixture = gin.REQUIRED,
        global_batch_size: int = gin.REQUIRED,
        *,
        seed: int = 0,
        split: str = "train",
        shard_info: seqio.ShardInfo | None = None,
        cache_dir: str | os.PathLike | None = None,
        build_cache: bool | None = None,
        prefetch: int = 2,
    ):
        host_env.hide_accelerators_from_tensorflow()
        self.tasks, self.rates = mixture_tasks(mixture)
        self.shard_info = shard_info or seqio.ShardInfo(jax.process_index(), jax.process_count())
        if global_batch_size % self.shard_info.num_shards:
            raise ValueError(
                f"global_batch_size={global_batch_size} is not divisible by the "
                f"{self.shard_info.num_shards} hosts."
            )
        self.global_batch_size = global_batch_size
        self.host_batch_size = global_batch_size // self.shard_info.num_shards
        self.languages = tuple(task_language(t) for t in self.tasks)
        lengths = {tokens_per_sample(t) for t in self.tasks}
        if len(lengths) != 1:
            raise ValueError(f"The mixture's tasks pack to different lengths: {sorted(lengths)}.")
        self.tokens_per_sample = lengths.pop()
        if build_cache is None:
            build_cache = self.shard_info.num_shards == 1
        get_blocks = cache.build_cache if build_cache else cache.load_cache
        self.blocks: tuple[cache.PackedBlocks, ...] = tuple(
            get_blocks(t, split, cache_dir) for t in self.tasks
        )
        empty = [lang for lang, b in zip(self.languages, self.blocks) if not len(b)]
        if empty and split == "train":
            raise ValueError(
                f"No {split} blocks for {', '.join(empty)}; drop them from the mixture."
            )
        if len(empty) == len(self.blocks):
            raise ValueError(
                f"No {split} blocks in any language of the mixture; raise "
                "register_cc100.validation_fraction or add text."
            )
        if empty:  # small languages may have no validation documents: never sample them
            logger.warning("No %s blocks for %s; they are not sampled.", split, ", ".join(empty))
            self.rates = tuple(0.0 if not len(b) else r for r, b in zip(self.rates, self.blocks))
        self.seed = seed
        self.sampler = LanguageSampler(self.rates, seed)
        self.fingerprint = _fingerprint(
            [split, seed, self.tokens_per_sample, self.rates, [len(b) for b in self.blocks]]
            + [cache.task_fingerprint(t) for t in self.tasks]
        )
        self._position = 0
        self._prefetch = prefetch
        self._pending: collections.deque = collections.deque()
        self._executor = concurrent.futures.ThreadPoolExecutor(1) if prefetch else None

    def __iter__(self) -> PretrainPipeline:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._executor is None:
            batch = self.host_batch(self._position)
        else:
            while len(self._pending) <= self._prefetch:
                start = self._position + len(self._pending) * self.global_batch_size
                self._pending.append(self._executor.submit(self.host_batch, start))
            batch = self._pending.popleft().result()
        self._position += self.global_batch_size
        return batch

    def state(self) -> dict[str, int | str]:
        """The position of the next batch, JSON-able; store it with the checkpoint."""
        return {"position": self._position, "fingerprint": self.fingerprint}

    def restore(self, state: dict[str, int | str]) -> None:
        """Continue from `state()`; the next batch is the one that followed it (any host count)."""
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(
                "The data state was saved for a different stream (mixture, rates, seed, split or "
                f"corpus changed): {state['fingerprint']} != {self.fingerprint}."
            )
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._position = int(state["position"])

    def host_batch(self, position: int) -> dict[str, np.ndarray]:
        """This host's rows of the global batch starting at example `position`."""
        start = position + self.shard_info.index * self.host_batch_size
        langs, draws = self.sampler.draw(start, start + self.host_batch_size)
        ids = np.full((self.host_batch_size, self.tokens_per_sample), PAD_ID, np.int32)
        for lang in np.unique(langs):
            sel = np.flatnonzero(langs == lang)
            blocks = self.blocks[lang]
            rows = epoch_rows(draws[sel], len(blocks), self.seed, int(lang))
            for i, block in zip(sel, blocks.take(rows)):
                ids[i, : len(block)] = block
        return {"input_ids": ids, "language": langs.astype(np.int32)}


def _fingerprint(parts: list) -> str:
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=8).hexdigest()
