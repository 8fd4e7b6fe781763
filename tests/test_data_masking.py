"""MLM masking on real token blocks: exact counts, 80/10/10, specials untouched, explicit weights,
whole words, determinism, and the same result with the batch sharded over devices."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from xlmr_jax.data.masking import MaskingConfig, mask_tokens
from xlmr_jax.data.packing import TokenBlockPacker
from xlmr_jax.data.sample_corpus import language_lines
from xlmr_jax.vocab import BOS_ID, EOS_ID, PAD_ID, XLMRVocabulary

LENGTH = 512
LANGUAGES = ["en", "ru", "ja", "hi", "sw", "ar", "zh-Hans", "ka", "th", "tr"]


@pytest.fixture(scope="module")
def vocab(spm_model):
    return XLMRVocabulary(spm_model)


@pytest.fixture(scope="module")
def blocks(vocab, data_dir) -> np.ndarray:
    """Real text of 10 languages in complete-mode 512-token blocks, padded with <pad>."""
    packer = TokenBlockPacker(LENGTH, "complete", bos_id=BOS_ID, eos_id=EOS_ID)
    out = []
    for lang in LANGUAGES:
        doc = [np.array(vocab.encode(line)) for line in language_lines(data_dir / "text", lang)]
        out += list(packer.add_document(doc))
    out += list(packer.finish())
    batch = np.full((len(out), LENGTH), PAD_ID, np.int32)
    for row, block in zip(batch, out):
        row[: len(block)] = block
    return batch


def masker(vocab, cfg: MaskingConfig | None = None):
    cfg = cfg or MaskingConfig()
    low, high = vocab.random_token_range
    return jax.jit(
        functools.partial(
            mask_tokens,
            mask_id=vocab.mask_id,
            pad_id=PAD_ID,
            special_ids=vocab.special_ids,
            vocab_low=low,
            vocab_high=high,
            mask_prob=cfg.mask_prob,
            leave_unmasked_prob=cfg.leave_unmasked_prob,
            random_token_prob=cfg.random_token_prob,
            max_predictions=cfg.max_predictions(LENGTH),
        )
    )


def chosen_mask(out) -> np.ndarray:
    weights, positions = np.asarray(out["masked_weights"]), np.asarray(out["masked_positions"])
    chosen = np.zeros(np.asarray(out["input_ids"]).shape, bool)
    rows = np.broadcast_to(np.arange(len(chosen))[:, None], positions.shape)
    chosen[rows[weights > 0], positions[weights > 0]] = True
    return chosen


def test_masking_statistics(vocab, blocks):
    ids = blocks
    out = jax.tree.map(np.asarray, masker(vocab)(jax.random.key(0), ids))
    maskable = ~np.isin(ids, vocab.special_ids)
    assert maskable.sum() >= 100_000
    chosen = chosen_mask(out)
    weights = out["masked_weights"]

    # Exactly int(0.15 * n + U[0,1)) per sequence, 15% overall.
    n = maskable.sum(1)
    per_row = chosen.sum(1)
    assert np.all((per_row == np.floor(0.15 * n)) | (per_row == np.floor(0.15 * n) + 1))
    assert abs(chosen.sum() / maskable.sum() - 0.15) < 0.003
    assert weights.sum() == chosen.sum()  # a weight on every chosen position, nothing else

    # Never a special token: not chosen, not replaced.
    assert not (chosen & ~maskable).any()
    assert (out["input_ids"][~maskable] == ids[~maskable]).all()
    assert (out["input_ids"][~chosen] == ids[~chosen]).all()

    # 80 / 10 / 10 among the chosen.
    new, old = out["input_ids"][chosen], ids[chosen]
    masked = new == vocab.mask_id
    kept = new == old
    random = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.01
    assert abs(kept.mean() - 0.1) < 0.01
    assert abs(random.mean() - 0.1) < 0.01
    low, high = vocab.random_token_range
    assert ((new[random] >= low) & (new[random] < high)).all()

    # Targets are the original tokens; unused slots point at 0 with the pad target.
    rows = np.broadcast_to(np.arange(len(ids))[:, None], weights.shape)
    used = weights > 0
    assert (out["masked_targets"][used] == ids[rows[used], out["masked_positions"][used]]).all()
    assert (out["masked_positions"][~used] == 0).all()
    assert (out["masked_targets"][~used] == PAD_ID).all()
    assert (np.diff(np.where(used, out["masked_positions"], LENGTH), axis=1) >= 0).all()


def test_deterministic_given_the_key(vocab, blocks):
    f = masker(vocab)
    a, b = f(jax.random.key(3), blocks[:8]), f(jax.random.key(3), blocks[:8])
    c = f(jax.random.key(4), blocks[:8])
    assert all((np.asarray(a[k]) == np.asarray(b[k])).all() for k in a)
    assert (np.asarray(a["masked_positions"]) != np.asarray(c["masked_positions"])).any()


def test_whole_word_masking_chooses_whole_words(vocab, blocks):
    ids = blocks[:64]
    starts = vocab.is_word_start(ids)
    cfg = MaskingConfig(whole_word_masking=True)
    out = masker(vocab, cfg)(jax.random.key(0), ids, word_starts=starts)
    out = jax.tree.map(np.asarray, out)
    chosen = chosen_mask(out)
    maskable = ~np.isin(ids, vocab.special_ids)
    word_start = maskable & (starts | ~np.pad(maskable[:, :-1], ((0, 0), (1, 0))))
    # A continuation token is chosen exactly when its word's start is.
    cont = maskable & ~word_start
    prev_chosen = np.pad(chosen[:, :-1], ((0, 0), (1, 0)))
    assert (chosen[cont] == prev_chosen[cont]).all()
    words = word_start.sum(1)
    chosen_words = (chosen & word_start).sum(1)
    assert np.all(
        (chosen_words == np.floor(0.15 * words)) | (chosen_words == np.floor(0.15 * words) + 1)
    )
    # A word is masked, kept or randomized as a unit.
    new = out["input_ids"]
    is_mask = new == vocab.mask_id
    assert (
        is_mask[cont & chosen] == np.pad(is_mask[:, :-1], ((0, 0), (1, 0)))[cont & chosen]
    ).all()


def test_same_result_with_the_batch_sharded_over_devices(vocab, blocks, tmp_path):
    np.save(tmp_path / "ids.npy", blocks[:8])
    low, high = vocab.random_token_range
    script = textwrap.dedent(f"""
        import functools, jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from xlmr_jax.data.masking import mask_tokens
        ids = np.load({str(tmp_path / "ids.npy")!r})
        f = jax.jit(functools.partial(mask_tokens, mask_id={vocab.mask_id}, pad_id=1,
            special_ids={vocab.special_ids}, vocab_low={low}, vocab_high={high},
            max_predictions=77))
        mesh = Mesh(np.array(jax.devices()), ("data",))
        sharded = jax.device_put(ids, NamedSharding(mesh, P("data")))
        a, b = f(jax.random.key(7), ids), f(jax.random.key(7), sharded)
        assert len(b["input_ids"].sharding.device_set) == 2
        assert all((np.asarray(a[k]) == np.asarray(b[k])).all() for k in a)
        print("same")
    """)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert result.returncode == 0 and "same" in result.stdout, result.stderr[-2000:]
