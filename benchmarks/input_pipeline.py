"""Input-pipeline throughput on real text: tokenize + pack (the seqio tasks into the block cache),
batch assembly (PretrainPipeline) and MLM masking (jitted, on the CPU), in tokens per CPU-second.

    python benchmarks/input_pipeline.py [--data_dir ../shared/data] [--repeat 10] [--vocab M]

The corpus is the SIB-200 + UDHR text of 91 CC-100 languages (xlmr_jax.data.sample_corpus),
each language's file repeated --repeat times so per-task start-up is amortized. CPU seconds are
the process's (all threads), so the rates are per core even on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax
import seqio

from xlmr_jax import storage
from xlmr_jax.data import cache
from xlmr_jax.data.masking import MaskIds, bind_masking
from xlmr_jax.data.pipeline import PretrainPipeline
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sentence_sampling import sample_sentences
from xlmr_jax.tasks.pretrain import register_cc100, task_name
from xlmr_jax.vocab import XLMRVocabulary, train_sentencepiece


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def rates(tokens: int, clock: Clock) -> dict[str, float]:
    return {
        "tokens": tokens,
        "wall_s": round(clock.wall, 2),
        "cpu_s": round(clock.cpu, 2),
        "tokens_per_cpu_s": round(tokens / clock.cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data_dir", default=os.environ.get("XLMR_DATA_DIR", default_data))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--vocab", help="SentencePiece model (default: train an 8000-piece one)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument(
        "--gcs",
        action="store_true",
        help="also read the batches from a GCS API server on 127.0.0.1 (fake-gcs-server, from "
        "the test extra), side by side with local disk",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="xlmr_bench_") as tmp:
        results = measure(args, Path(tmp))
    if args.json:
        print(json.dumps(results))
        return
    print(f"{results['date']}, {results['cpu_count']} CPUs, vocabulary {results['vocab_size']} ids")
    print(
        f"corpus: {results['languages']} languages x {args.repeat}; one file: en x {10 * args.repeat}"
    )
    stages = ["tokenize_pack", "tokenize_pack_one_file", "batches", "batches_from_gcs"]
    for stage in [s for s in stages + ["mask_on_cpu"] if s in results]:
        r = results[stage]
        print(
            f"{stage:<22} {r['tokens']:>12,} tokens {r['wall_s']:>7.2f} s wall {r['cpu_s']:>7.2f} s"
            f" CPU  {r['tokens_per_cpu_s'] / 1e6:>6.2f} M tokens/s per core"
            f"  {r['tokens'] / r['wall_s'] / 1e6:>6.2f} M tokens/s wall"
        )


def measure(args: argparse.Namespace, work: Path) -> dict:
    """Runs the three stages in `work`; returns the results."""
    corpus = work / "corpus"
    write_sample_corpus(Path(args.data_dir) / "text", corpus)
    for path in corpus.glob("*.txt"):
        path.write_text("\n".join([path.read_text("utf-8")] * args.repeat), "utf-8")
    vocab_path = args.vocab or train_sentencepiece(
        sample_sentences(corpus, num_sentences=100_000), work / "spm", 8000
    )
    vocab = XLMRVocabulary(vocab_path)
    name = register_cc100(corpus, vocab, name="bench", validation_fraction=0.0)
    tasks = seqio.get_mixture_or_task(name).tasks

    results = {
        "date": datetime.date.today().isoformat(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "vocab_size": vocab.vocab_size,
        "languages": len(tasks),
    }
    with Clock() as clock:
        blocks = [cache.build_cache(task, "train", work / "cache") for task in tasks]
    results["tokenize_pack"] = rates(sum(b.num_tokens for b in blocks), clock)
    # One large file: the per-file rate without the ~0.4 CPU-s start-up of each task.
    big = work / "big"
    big.mkdir()
    text = (corpus / "en.txt").read_text("utf-8")
    (big / "en.txt").write_text("\n".join([text] * 10), "utf-8")  # en x 10 * repeat
    task = seqio.get_mixture_or_task(
        task_name(register_cc100(big, vocab, name="bench_en", validation_fraction=0.0), "en")
    )
    with Clock() as clock:
        en = cache.build_cache(task, "train", work / "cache")
    results["tokenize_pack_one_file"] = rates(en.num_tokens, clock)

    pipeline = PretrainPipeline(name, args.batch, cache_dir=work / "cache", prefetch=0)
    with Clock() as clock:
        batches = [next(pipeline)["input_ids"] for _ in range(args.batches)]
    results["batches"] = rates(args.batch * 512 * args.batches, clock)
    if args.gcs:
        results["batches_from_gcs"] = batches_from_gcs(args, work, name, batches)

    mask = jax.jit(bind_masking(MaskIds.of(vocab), 512))
    jax.block_until_ready(mask(jax.random.key(0), batches[0]))  # compile
    with Clock() as clock:
        for step, ids in enumerate(batches):
            jax.block_until_ready(mask(jax.random.key(step), ids))
    results["mask_on_cpu"] = rates(args.batch * 512 * args.batches, clock)

    return results


def batches_from_gcs(args, work: Path, name: str, local: list) -> dict:
    """The same batches read from the cache copied onto a local GCS API server (byte ranges)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gcs_server import GcsServer

    server = GcsServer(work / "gcs")
    server.start()
    os.environ.update(server.env())
    try:
        for path in (work / "cache").rglob("*"):
            if path.is_file():
                storage.copy_file(path, server.url("cache", str(path.relative_to(work / "cache"))))
        pipeline = PretrainPipeline(name, args.batch, cache_dir=server.url("cache"), prefetch=0)
        with Clock() as clock:
            remote = [next(pipeline)["input_ids"] for _ in range(args.batches)]
        assert all((a == b).all() for a, b in zip(remote, local)), "remote batches differ"
        return rates(args.batch * 512 * args.batches, clock)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
