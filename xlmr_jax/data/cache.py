"""Packed-block cache: a Task's blocks written once per source file, read back by random access.

Layout under `<root>/<task name>-<fingerprint>/<split>/`: for source file i, `part-<i>.tokens`
(int32, the blocks' tokens back to back) and `part-<i>.offsets` (int64, block i spans
offsets[i]:offsets[i + 1]), and `index.json`, written last, listing the parts (source file name,
size and mtime, blocks, tokens). The fingerprint covers the task's source files, preprocessors
and vocabulary, so a changed definition gets a new directory; a changed file is rebuilt.
Blocks never cross source files (fairseq's data shards behave the same).

Two steps: `pack_file` writes one part, `write_index` lists them all. `build_cache` runs them here;
beam_cache.py runs the same two as an Apache Beam pipeline.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os

import numpy as np
import seqio

from xlmr_jax import storage
from xlmr_jax.data.corpus_stats import vocabulary_fingerprint
from xlmr_jax.data.preprocessors import FEATURE
from xlmr_jax.data.sources import CorpusSource

logger = logging.getLogger(__name__)

INDEX = "index.json"


def task_fingerprint(task: seqio.Task) -> str:
    """A short hash of what determines the task's blocks (not of the files' contents)."""
    source = task.source
    if not isinstance(source, CorpusSource):
        raise TypeError(f"Task {task.name} does not read a CC-100-layout corpus.")
    definition = [
        task.name,
        [f.path.name for f in source.files],
        source.validation_fraction,
        [_describe(p) for p in task.preprocessors],
        vocabulary_fingerprint(task.output_features[FEATURE].vocabulary),
    ]
    return hashlib.blake2b(json.dumps(definition).encode(), digest_size=6).hexdigest()


def _describe(fn) -> str:
    """A preprocessor's name and bound arguments (repr() would include memory addresses)."""
    if isinstance(fn, functools.partial):
        return f"{_describe(fn.func)}{sorted(fn.keywords.items())}{list(fn.args)}"
    return f"{fn.__module__}.{fn.__qualname__}"


def task_cache_dir(task: seqio.Task, root: storage.PathLike | None = None) -> storage.Path:
    """Where `task`'s blocks live: `root` or `<corpus dir>/xlmr_cache`, then name-fingerprint."""
    root = storage.as_path(root) if root else task.source.files[0].path.parent / "xlmr_cache"
    return root / f"{task.name}-{task_fingerprint(task)}"


class PackedBlocks:
    """The cached blocks of one task and split, as one indexable sequence of int32 arrays.

    Local parts are memory-mapped; parts on an object store are read by byte ranges (the small
    offsets files whole, then only the blocks asked for), so every host reads just its rows.
    """

    def __init__(self, directory: storage.PathLike):
        self.directory = storage.as_path(directory)
        index = json.loads((self.directory / INDEX).read_text())
        self.parts_info = index["parts"]
        self._remote = storage.is_remote(self.directory)
        self._offsets: list[np.ndarray] = []
        self._tokens: list[np.ndarray | storage.Path] = []
        for i, info in enumerate(self.parts_info):
            offsets = self._array(self.directory / f"part-{i}.offsets", np.int64)
            tokens = self.directory / f"part-{i}.tokens"
            size = storage.fs_info(tokens)["size"]
            if not self._remote:
                tokens = self._array(tokens, np.int32)
            if len(offsets) != info["blocks"] + 1 or size != 4 * info["tokens"]:
                raise ValueError(f"{self.directory}: part {i} does not match {INDEX}; rebuild it.")
            self._offsets.append(offsets)
            self._tokens.append(tokens)
        self._starts = np.cumsum([0] + [p["blocks"] for p in self.parts_info])

    def _array(self, path: storage.Path, dtype) -> np.ndarray:
        if self._remote:
            return np.frombuffer(path.read_bytes(), dtype)
        if os.path.getsize(path) == 0:
            return np.zeros(0, dtype)
        return np.memmap(path, dtype=dtype, mode="r")

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_tokens(self) -> int:
        return sum(p["tokens"] for p in self.parts_info)

    def __getitem__(self, row: int) -> np.ndarray:
        return self.take([row])[0]

    def take(self, rows) -> list[np.ndarray]:
        """The blocks at `rows`, in order (remote: one concurrent range request per block)."""
        rows = [int(r) for r in rows]
        for row in rows:
            if not 0 <= row < len(self):
                raise IndexError(f"block {row} of {len(self)}")
        parts = np.searchsorted(self._starts, rows, side="right") - 1
        spans = []
        for row, part in zip(rows, parts):
            local = row - int(self._starts[part])
            spans.append((int(part), *self._offsets[part][local : local + 2].tolist()))
        if not self._remote:
            return [self._tokens[p][start:end] for p, start, end in spans]
        out: list[np.ndarray] = [np.zeros(0, np.int32)] * len(rows)
        for part in sorted({p for p, _, _ in spans}):
            picked = [i for i, (p, _, _) in enumerate(spans) if p == part]
            data = storage.read_ranges(
                self._tokens[part],
                [4 * spans[i][1] for i in picked],
                [4 * spans[i][2] for i in picked],
            )
            for i, raw in zip(picked, data):
                out[i] = np.frombuffer(raw, np.int32)
        return out


def build_cache(task: seqio.Task, split: str, root: storage.PathLike | None = None) -> PackedBlocks:
    """`task`'s `split` packed into the cache (only files new or changed since the last build)."""
    previous = indexed_parts(task_cache_dir(task, root) / split)
    parts = [pack_file(task, split, i, root, previous) for i in range(len(task.source.files))]
    return write_index(task, split, parts, root)


def pack_file(
    task: seqio.Task,
    split: str,
    i: int,
    root: storage.PathLike | None = None,
    previous: list[dict] | None = None,
) -> dict:
    """Packs source file `i` of `task`'s `split` into part i; returns its entry for the index.

    The part is kept when `previous` (the parts listed when the build started) or index.json
    now has the file unchanged at i. Otherwise index.json is removed first, so it never lists a
    part being rewritten; `write_index` puts it back once every part is done. So a pack run
    twice (a retried or duplicated worker) after the index was written changes nothing.
    """
    directory = task_cache_dir(task, root) / split
    directory.mkdir(parents=True, exist_ok=True)
    file = task.source.files[i]
    key = storage.fs_info(file.path)
    for listed in (previous or [], indexed_parts(directory)):
        if i < len(listed) and listed[i]["file"] == file.path.name and listed[i]["key"] == key:
            return listed[i]
    (directory / INDEX).unlink(missing_ok=True)
    logger.info("Packing %s (%s) into %s", file.path.name, split, directory)
    shard = seqio.ShardInfo(i, len(task.source.files))
    ds = task.get_dataset(
        None, split=split, shuffle=False, shard_info=shard, num_epochs=1, try_in_mem_cache=False
    )
    return {"file": file.path.name, "key": key, **_write_part(ds, directory, i)}


def write_index(
    task: seqio.Task, split: str, parts: list[dict], root: storage.PathLike | None = None
) -> PackedBlocks:
    """Writes index.json (atomically) listing `parts`, part i of source file i; call it last.

    An index.json that already lists exactly `parts` is left untouched.
    """
    directory = task_cache_dir(task, root) / split
    names = [f.path.name for f in task.source.files]
    if [p["file"] for p in parts] != names:
        raise ValueError(
            f"{directory}: the parts ({[p['file'] for p in parts]}) are not the task's source "
            f"files in order ({names}); pack every file before writing {INDEX}."
        )
    if indexed_parts(directory) != parts:
        index = {"task": task.name, "split": split, "parts": parts}
        storage.write_text(directory / INDEX, json.dumps(index, indent=1))
    return PackedBlocks(directory)


def indexed_parts(directory: storage.Path) -> list[dict]:
    """The parts index.json lists; [] when it is missing or unreadable."""
    try:
        return json.loads((directory / INDEX).read_text())["parts"]
    except (OSError, ValueError, KeyError):
        return []


def load_cache(task: seqio.Task, split: str, root: storage.PathLike | None = None) -> PackedBlocks:
    """The cached blocks, or a FileNotFoundError saying how to build them."""
    directory = task_cache_dir(task, root) / split
    if not (directory / INDEX).exists():
        raise FileNotFoundError(
            f"No packed cache for {task.name} ({split}) in {directory}; build it with "
            "`xlmr data cache` (or PretrainPipeline(build_cache=True) on one host)."
        )
    return PackedBlocks(directory)


def _write_part(ds, directory: storage.Path, i: int) -> dict[str, int]:
    """Writes part i; each file appears whole or not at all (retried workers may overlap)."""
    lengths = []
    with storage.atomic_writer(directory / f"part-{i}.tokens") as f:
        for ex in ds.as_numpy_iterator():
            block = ex[FEATURE].astype(np.int32)
            f.write(block.tobytes())
            lengths.append(len(block))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    storage.write_bytes(directory / f"part-{i}.offsets", offsets.tobytes())
    return {"blocks": len(lengths), "tokens": int(offsets[-1])}
