"""The block cache built by Apache Beam (`xlmr data cache --runner DirectRunner`): byte-identical
to the local builder's, read into the same batches, and a job stopped half-way rebuilds cleanly."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import seqio

from xlmr_jax.cli import main
from xlmr_jax.data.pipeline import PretrainPipeline
from xlmr_jax.data.sample_corpus import write_sample_corpus

NAME = "beamcache"
# Separate worker processes, as on Dataflow: they must register the tasks themselves.
WORKER_PROCESSES = [
    "--pipeline_option=--direct_running_mode=multi_processing",
    "--pipeline_option=--direct_num_workers=2",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir) -> Path:
    """en, sw, ja; en in two shard files, so one task has two parts."""
    out = tmp_path_factory.mktemp("beam_corpus")
    write_sample_corpus(data_dir / "text", out, ["en", "sw", "ja"])
    docs = (out / "en.txt").read_text().split("\n\n")
    (out / "en.txt").write_text("\n\n".join(docs[: len(docs) // 2]) + "\n")
    (out / "en.1.txt").write_text("\n\n".join(docs[len(docs) // 2 :]))
    return out


@pytest.fixture(scope="module")
def cache_command(corpus, spm_model):
    def command(cache_dir: Path, *extra: str) -> list[str]:
        return [
            *("data", "cache", "--data_dir", str(corpus), "--vocab", spm_model, "--name", NAME),
            *("--validation_fraction", "0.05", "--tokens_per_sample", "64"),
            *("--cache_dir", str(cache_dir), *extra),
        ]

    return command


@pytest.fixture(scope="module")
def caches(tmp_path_factory, cache_command) -> tuple[Path, Path]:
    """The same cache built by the local builder and by the Beam pipeline."""
    local, beam = tmp_path_factory.mktemp("local_cache"), tmp_path_factory.mktemp("beam_cache")
    assert main(cache_command(local)) == 0
    assert main(cache_command(beam, "--runner", "DirectRunner", *WORKER_PROCESSES)) == 0
    return local, beam


def contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_beam_cache_is_byte_identical_to_the_local_one(caches):
    local, beam = caches
    expected = contents(local)
    assert sum(name.endswith("index.json") for name in expected) == 6  # 3 languages x 2 splits
    assert sum(name.endswith("part-1.tokens") for name in expected) == 2  # en's second file
    assert sorted(contents(beam)) == sorted(expected)  # no temporary files left behind
    for name, data in contents(beam).items():
        assert data == expected[name], name


def test_pipeline_reads_the_same_batches_from_either_cache(caches):
    def batches(cache_dir: Path) -> list[dict[str, np.ndarray]]:
        one_host = seqio.ShardInfo(0, 1)
        pipeline = PretrainPipeline(
            NAME, 32, seed=3, shard_info=one_host, cache_dir=cache_dir, build_cache=False
        )
        assert pipeline.tokens_per_sample == 64
        return [next(pipeline) for _ in range(4)]

    local, beam = caches
    for a, b in zip(batches(local), batches(beam), strict=True):
        assert np.array_equal(a["input_ids"], b["input_ids"])
        assert np.array_equal(a["language"], b["language"])


def test_a_stopped_job_reads_as_no_cache_and_is_rebuilt(tmp_path, caches, cache_command, capsys):
    local, beam = caches
    work = tmp_path / "cache"
    shutil.copytree(beam, work)
    stopped = next(work.glob(f"{NAME}.en-*")) / "train"
    # What a job stopped before its GroupByKey leaves: parts (one half-written), no index.json.
    (stopped / "index.json").unlink()
    part = stopped / "part-1.tokens"
    part.write_bytes(part.read_bytes()[:1000])
    with pytest.raises(FileNotFoundError, match="xlmr data cache"):
        PretrainPipeline(
            NAME, 8, shard_info=seqio.ShardInfo(0, 2), cache_dir=work, build_cache=False
        )
    complete = {
        p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file() and stopped not in p.parents
    }
    assert main(cache_command(work, "--runner", "DirectRunner")) == 0
    assert capsys.readouterr().out.startswith("files 8, ")
    assert contents(work) == contents(local)
    assert {p: p.stat().st_mtime_ns for p in complete} == complete  # finished splits are kept


def test_errors_name_the_flag_or_the_extra(tmp_path, cache_command, capsys, monkeypatch):
    assert main(cache_command(tmp_path, "--pipeline_option=--direct_num_workers=2")) == 2
    assert "--pipeline_option needs --runner" in capsys.readouterr().err
    assert main(cache_command(tmp_path, "--runner", "DirectRunner", "--workers", "2")) == 2
    assert "--direct_num_workers" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "xlmr_jax.data.beam_cache", raising=False)
    assert main(cache_command(tmp_path, "--runner", "DirectRunner")) == 2
    assert 'pip install "xlmr-jax[beam]"' in capsys.readouterr().err


def test_a_changed_file_is_the_only_one_packed_again(tmp_path, caches, corpus, cache_command):
    """With separate workers the first to re-pack removes the index; the others still keep
    their unchanged parts (each element carries what the index listed at launch)."""
    _, beam = caches
    work = tmp_path / "cache"
    shutil.copytree(beam, work)
    before = {p: p.stat().st_mtime_ns for p in work.rglob("part-*")}
    changed = corpus / "en.1.txt"
    stat = changed.stat()
    os.utime(changed)  # same text, new mtime: the file's key changes
    try:
        assert main(cache_command(work, "--runner", "DirectRunner", *WORKER_PROCESSES)) == 0
    finally:
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rewritten = {
        (p.parent.name, p.name) for p, mtime in before.items() if p.stat().st_mtime_ns != mtime
    }
    assert rewritten == {
        (split, f"part-1.{ext}")
        for split in ("train", "validation")
        for ext in ("tokens", "offsets")
    }
    assert {k: v for k, v in contents(work).items() if "part-" in k} == {
        k: v for k, v in contents(beam).items() if "part-" in k
    }
