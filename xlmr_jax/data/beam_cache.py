"""The packed-block cache (cache.py) built by an Apache Beam pipeline, `seqio_cache_tasks` style.

Runs on DirectRunner and on DaskRunner over a dask.distributed cluster (both tested); the same
pipeline is meant for Dataflow, Flink or Spark at CC-100 scale. Elements are (task, split, source-file
index, the split's parts listed at launch), reshuffled over the workers; each packs its file
into part <i> with `cache.pack_file`.
A GroupByKey over (task, split) then waits for all of a split's parts before `cache.write_index`
writes index.json, so a job stopped half-way leaves no index: the split reads as not cached and
the next run packs it again. Files unchanged since a complete build are kept, as with
`cache.build_cache`.

Workers are separate processes: each DoFn registers the tasks in `setup` by calling the same
`register` the launcher called (a picklable callable returning the mixture's name, e.g.
functools.partial(register_cc100, ...)). So every worker needs xlmr-jax installed and the corpus,
its statistics file (written by the launcher's registration), the vocabulary and the cache
directory at the same paths.

Paths may be gs:// URLs (storage.py), which is what Dataflow needs: its workers share no file
system, and reach the corpus, vocabulary and cache in the bucket. Other runners can use a shared
file system mounted at the same path everywhere instead. The exact commands: docs/data.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import seqio

try:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
except ModuleNotFoundError as e:  # an optional extra
    raise ModuleNotFoundError(
        f'Building the cache with Apache Beam needs it: pip install "xlmr-jax[beam]" ({e}).',
        name=e.name,
    ) from e

from xlmr_jax.data import cache
from xlmr_jax.data.mixture import get_pretrain_mixture
from xlmr_jax.data.sources import SPLITS

TOTALS = ("files", "blocks", "tokens")


def build_cache_with_beam(
    register: Callable[[], str], root: str | None, beam_args: Sequence[str]
) -> dict[str, int]:
    """Packs both splits of every task of the mixture `register()` returns into the cache.

    root: the cache directory (None: each corpus's `xlmr_cache`, as cache.task_cache_dir).
    beam_args: pipeline options, e.g. ["--runner=DirectRunner", "--direct_num_workers=2"].
    Returns files, blocks and tokens over all parts, kept ones included.
    """
    tasks = get_pretrain_mixture(register()).tasks
    # What each split's index lists now, read once here: the first worker to re-pack a file
    # removes the index, and the others must still keep their unchanged parts.
    elements = []
    for t in tasks:
        for split in SPLITS:
            listed = cache.indexed_parts(cache.task_cache_dir(t, root) / split)
            elements += [(t.name, split, i, listed) for i in range(len(t.source.files))]
    pipeline = beam.Pipeline(options=PipelineOptions(list(beam_args)))
    _ = (
        pipeline
        | "Files" >> beam.Create(elements)
        | "Spread" >> beam.Reshuffle()
        | "Pack" >> beam.ParDo(_PackFile(register, root))
        | "BySplit" >> beam.GroupByKey()
        | "Index" >> beam.ParDo(_WriteIndex(register, root))
    )
    result = pipeline.run()
    result.wait_until_finish()
    client = getattr(result, "client", None)  # DaskRunner's dask.distributed client
    if client is not None:
        client.close()  # only once the pipeline has finished
    return _totals(tasks, root)


def _totals(tasks: Sequence[seqio.Task], root: str | None) -> dict[str, int]:
    """Files, blocks and tokens over every split's index (some runners, Dask's among them, have
    no metrics; a split left without an index is an error)."""
    totals = dict.fromkeys(TOTALS, 0)
    for t in tasks:
        for split in SPLITS:
            parts = cache.load_cache(t, split, root).parts_info
            totals["files"] += len(parts)
            totals["blocks"] += sum(p["blocks"] for p in parts)
            totals["tokens"] += sum(p["tokens"] for p in parts)
    return totals


class _TaskDoFn(beam.DoFn):
    """Registers the tasks in its worker process, as the launcher did."""

    def __init__(self, register: Callable[[], str], root: str | None):
        self._register = register
        self._root = root

    def setup(self) -> None:
        self._register()


class _PackFile(_TaskDoFn):
    """(task, split, i, the split's indexed parts at launch) -> ((task, split), (i, the part's
    index entry))."""

    def process(self, element: tuple[str, str, int, list[dict]]) -> Iterator[tuple]:
        name, split, i, previous = element
        part = cache.pack_file(seqio.get_mixture_or_task(name), split, i, self._root, previous)
        yield (name, split), (i, part)


class _WriteIndex(_TaskDoFn):
    """((task, split), all its (i, part)) -> index.json, once every part is written."""

    def process(self, element: tuple) -> None:
        (name, split), parts = element
        ordered = [part for _, part in sorted(parts, key=lambda p: p[0])]
        cache.write_index(seqio.get_mixture_or_task(name), split, ordered, self._root)
