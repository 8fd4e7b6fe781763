"""The per-host pretraining pipeline: batches from the packed cache, resume from a JSON state,
2 hosts == 1 host, a different host count or batch size on restore, and the block cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import seqio
from scipy import stats

from xlmr_jax.cli import main
from xlmr_jax.data import cache
from xlmr_jax.data.pipeline import PretrainPipeline
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sampling import epoch_rows
from xlmr_jax.tasks.pretrain import register_cc100
from xlmr_jax.vocab import BOS_ID, EOS_ID, PAD_ID

LANGUAGES = ["en", "fr", "de", "ru", "zh-Hans", "sw", "ur", "ja", "hi", "ar", "am", "xh"]
BATCH = 64


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, data_dir, spm_model) -> str:
    corpus = tmp_path_factory.mktemp("corpus12")
    write_sample_corpus(data_dir / "text", corpus, LANGUAGES, xz=True)
    return register_cc100(corpus, spm_model, name="pipe", validation_fraction=0.05)


@pytest.fixture(scope="module")
def single(mixture) -> PretrainPipeline:
    return PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1))


def take(pipeline, n):
    return [next(pipeline) for _ in range(n)]


def test_batches(single):
    batch = next(single)
    ids, lang = batch["input_ids"], batch["language"]
    assert ids.shape == (BATCH, 512) and ids.dtype == np.int32
    assert lang.shape == (BATCH,) and lang.dtype == np.int32
    assert sorted(single.languages) == sorted(LANGUAGES)
    assert (ids[:, 0] == BOS_ID).all()
    for row, lang_id in zip(ids, lang):
        blocks = single.blocks[lang_id]
        length = int((row != PAD_ID).sum())
        assert (row[length:] == PAD_ID).all()
        assert any(np.array_equal(row[:length], blocks[i]) for i in range(len(blocks)))


def test_language_distribution_through_the_pipeline(single):
    pipeline = PretrainPipeline("pipe", 512, seed=9, shard_info=seqio.ShardInfo(0, 1))
    langs = np.concatenate([b["language"] for b in take(pipeline, 40)])  # 20,480 examples
    observed = np.bincount(langs, minlength=len(LANGUAGES))
    assert stats.chisquare(observed, np.array(single.rates) * len(langs)).pvalue > 0.01


def test_deterministic_for_a_seed(mixture, single):
    a = take(PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1)), 3)
    b = take(
        PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1), prefetch=0), 3
    )
    c = take(PretrainPipeline(mixture, BATCH, seed=6, shard_info=seqio.ShardInfo(0, 1)), 3)
    assert all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    assert not all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, c))


def test_resume_from_a_saved_state_gives_the_same_batches(mixture):
    def fresh(**kw):
        return PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1), **kw)

    uninterrupted = take(fresh(), 8)
    first = fresh()
    take(first, 5)
    saved = json.loads(json.dumps(first.state()))
    assert saved["position"] == 5 * BATCH
    resumed = fresh()
    resumed.restore(saved)
    for expected, got in zip(uninterrupted[5:], take(resumed, 3)):
        assert np.array_equal(expected["input_ids"], got["input_ids"])
        assert np.array_equal(expected["language"], got["language"])

    other = PretrainPipeline(mixture, BATCH, seed=6, shard_info=seqio.ShardInfo(0, 1))
    with pytest.raises(ValueError, match="different stream"):
        other.restore(saved)


def test_two_hosts_together_read_the_single_host_stream(mixture):
    single = take(PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1)), 4)
    hosts = [
        take(PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(h, 2)), 4)
        for h in range(2)
    ]
    for step, batch in enumerate(single):
        for key in ("input_ids", "language"):
            union = np.concatenate([hosts[0][step][key], hosts[1][step][key]])
            assert np.array_equal(union, batch[key])


def test_restore_with_other_host_count_or_batch_size(mixture):
    one = PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1))
    expected = take(one, 5)[3:]
    saved = PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(0, 1))
    take(saved, 3)
    state = saved.state()

    hosts = []
    for h in range(4):  # saved on 1 host, resumed on 4
        p = PretrainPipeline(mixture, BATCH, seed=5, shard_info=seqio.ShardInfo(h, 4))
        p.restore(state)
        hosts.append(take(p, 2))
    for step in range(2):
        union = np.concatenate([hosts[h][step]["input_ids"] for h in range(4)])
        assert np.array_equal(union, expected[step]["input_ids"])

    half = PretrainPipeline(mixture, BATCH // 2, seed=5, shard_info=seqio.ShardInfo(0, 1))
    half.restore(state)
    halves = take(half, 4)
    assert np.array_equal(
        np.concatenate([b["input_ids"] for b in halves]),
        np.concatenate([b["input_ids"] for b in expected]),
    )


def test_each_block_once_per_epoch():
    n = 37
    rows = epoch_rows(np.arange(3 * n), n, seed=1, language=4)
    epochs = rows.reshape(3, n)
    assert all(sorted(e) == list(range(n)) for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1])


def test_validation_split(mixture):
    p = PretrainPipeline(mixture, 16, seed=0, split="validation", shard_info=seqio.ShardInfo(0, 1))
    assert next(p)["input_ids"].shape == (16, 512)
    train = {
        b.tobytes()
        for blocks in PretrainPipeline(mixture, 16, shard_info=seqio.ShardInfo(0, 1)).blocks
        for b in blocks
    }
    val = {b.tobytes() for blocks in p.blocks for b in blocks}
    assert not train & val


def test_cache_is_built_once_and_rebuilt_for_changed_files(tmp_path, data_dir, spm_model, capsys):
    write_sample_corpus(data_dir / "text", tmp_path, ["en", "sw"])
    with pytest.raises(FileNotFoundError, match="xlmr data cache"):
        name = register_cc100(tmp_path, spm_model, name="cached", validation_fraction=0.0)
        PretrainPipeline(name, 8, shard_info=seqio.ShardInfo(0, 2))
    args = ["data", "cache", "--data_dir", str(tmp_path), "--vocab", spm_model, "--name", "cached"]
    assert main(args + ["--validation_fraction", "0"]) == 0
    assert "en: train" in capsys.readouterr().out
    p = PretrainPipeline(name, 8, shard_info=seqio.ShardInfo(1, 2))  # multi-host: cache exists
    directory = cache.task_cache_dir(p.tasks[1]) / "train"  # sw
    before = {f.name: os.stat(f).st_mtime_ns for f in directory.iterdir()}
    cache.build_cache(p.tasks[1], "train")
    assert {f.name: os.stat(f).st_mtime_ns for f in directory.iterdir()} == before
    (tmp_path / "sw.txt").write_text("Habari ya dunia.\n\nNyingine.\n")
    rebuilt = cache.build_cache(p.tasks[1], "train")
    assert len(rebuilt) == 1  # two short documents: one block, `</s>` after each line + 1 between
    assert rebuilt[0][0] == BOS_ID and (rebuilt[0] == EOS_ID).sum() == 3
