"""Model checkpoints: round trip, layout, validation on load, atomic writes; input id checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import traverse_util

from xlmr_jax import model_checkpoint
from xlmr_jax.config import ModelConfig
from xlmr_jax.inputs import pad_batch, validate_input_ids
from xlmr_jax.model import XLMRoberta, stack_layers
from xlmr_jax.model_checkpoint import (
    check_params,
    expected_shapes,
    load_model,
    numpy_params,
    save_model,
)

CONFIG = ModelConfig(vocab_size=1000, hidden_size=32, num_layers=2, num_heads=4, mlp_dim=64)


def _params(config=CONFIG, head="mlm", num_labels=0, seed=0):
    """Random per-layer params of the right shapes (no JAX init: fast on a busy CPU)."""
    rng = np.random.default_rng(seed)
    shapes = expected_shapes(config, head, num_labels)
    flat = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    return traverse_util.unflatten_dict(flat, sep="/")


def _flat(tree):
    return traverse_util.flatten_dict(dict(tree), sep="/")


def _assert_trees_equal(a, b):
    fa, fb = _flat(a), _flat(b)
    assert sorted(fa) == sorted(fb)
    for key in fa:
        assert np.array_equal(np.asarray(fa[key]), np.asarray(fb[key])), key


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_round_trip_keeps_params_config_and_labels(tmp_path):
    params = _params(head="sequence_classification", num_labels=3)
    labels = {0: "neg", 1: "neu", 2: "pos"}
    out = save_model(
        tmp_path / "ckpt",
        params,
        CONFIG,
        head="sequence_classification",
        num_labels=3,
        id2label=labels,
        extra_meta={"source": "test"},
    )
    loaded = load_model(out)
    assert loaded.config == CONFIG
    assert (loaded.head, loaded.num_labels, loaded.id2label) == (
        "sequence_classification",
        3,
        labels,
    )
    assert loaded.meta == {"source": "test"} and loaded.spm_path is None
    _assert_trees_equal(loaded.params, numpy_params(params, CONFIG))
    assert all(v.dtype == np.float32 for v in _flat(loaded.params).values())
    ids = pad_batch([[0, 5, 6, 7, 2], [0, 9, 2]], CONFIG.pad_id)
    expected = XLMRoberta(CONFIG, "sequence_classification", 3).apply({"params": params}, ids)
    np.testing.assert_allclose(
        loaded.predict(ids)["logits"], expected["logits"], rtol=1e-5, atol=1e-5
    )
    assert json.loads((out / "config.json").read_text())["model"] == CONFIG.to_dict()
    assert _siblings(out) == ["ckpt"]  # no temporary directory left behind


def test_boxed_scanned_params_are_stored_unboxed_per_layer(tmp_path):
    """A training tree (logical-axis boxes, scan_layers stacking) is saved in the import layout."""
    config = CONFIG.replace(scan_layers=True)
    per_layer = _params()
    scanned = stack_layers(per_layer, config.num_layers)
    boxed = jax.tree.map(lambda x: nn.Partitioned(x, (None,) * x.ndim), scanned)
    loaded = load_model(save_model(tmp_path / "ckpt", boxed, config))
    assert loaded.config.scan_layers
    assert sorted(loaded.params["encoder"]) == ["layers_0", "layers_1"]
    _assert_trees_equal(loaded.params, per_layer)
    _assert_trees_equal(stack_layers(loaded.params, 2), scanned)


def test_spm_is_copied_and_overwrite_is_explicit(tmp_path):
    spm = tmp_path / "any.model"
    spm.write_bytes(b"spm bytes")
    out = tmp_path / "ckpt"
    save_model(out, _params(), CONFIG, spm_path=spm)
    assert (out / "sentencepiece.model").read_bytes() == b"spm bytes"
    assert load_model(out).spm_path == str(out / "sentencepiece.model")
    with pytest.raises(FileExistsError, match="already exists"):
        save_model(out, _params(seed=1), CONFIG)
    save_model(out, _params(seed=1), CONFIG, overwrite=True)
    _assert_trees_equal(load_model(out).params, numpy_params(_params(seed=1), CONFIG))
    assert _siblings(out) == ["any.model", "ckpt"]


def _edit_config(path, **model_changes):
    meta = json.loads((path / "config.json").read_text())
    meta["model"].update(model_changes)
    (path / "config.json").write_text(json.dumps(meta))


def test_load_names_parameters_whose_shapes_disagree_with_config(tmp_path):
    out = save_model(tmp_path / "ckpt", _params(), CONFIG)
    _edit_config(out, vocab_size=1200)
    with pytest.raises(ValueError) as e:
        load_model(out)
    message = str(e.value)
    assert (
        "embeddings/word_embeddings/embedding: config expects shape (1200, 32), found (1000, 32)"
        in message
    )
    assert "lm_head/bias: config expects shape (1200,), found (1000,)" in message
    _edit_config(out, vocab_size=1000, num_layers=3, mlp_dim=128)
    with pytest.raises(ValueError) as e:
        load_model(out)
    assert "missing parameters ['encoder/layers_2/" in str(e.value)
    assert "encoder/layers_0/mlp/fc1/kernel: config expects shape (32, 128), found (32, 64)" in str(
        e.value
    )


def test_load_lists_missing_and_unexpected_keys(tmp_path):
    good = save_model(tmp_path / "good", _params(), CONFIG)
    flat = _flat(numpy_params(_params(), CONFIG))
    del flat["lm_head/bias"]
    flat["lm_head/extra/kernel"] = np.zeros((2, 2), np.float32)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((good / "config.json").read_text())
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(bad / "params", traverse_util.unflatten_dict(flat, sep="/"))
        ckpt.wait_until_finished()
    with pytest.raises(ValueError, match=r"missing parameters \['lm_head/bias'\]") as e:
        load_model(bad)
    assert "unexpected parameters ['lm_head/extra/kernel']" in str(e.value)


def test_save_refuses_params_that_do_not_fit(tmp_path):
    with pytest.raises(ValueError, match="missing parameters"):
        save_model(
            tmp_path / "ckpt", _params(), CONFIG, head="sequence_classification", num_labels=2
        )
    with pytest.raises(ValueError, match="num_labels >= 1"):
        check_params(_params(), CONFIG, "token_classification", 0)
    assert not (tmp_path / "ckpt").exists()


def test_failed_write_leaves_nothing_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    def disk_full(path, obj):
        path.write_text("{")  # half-written, then the device fills up
        raise OSError(28, "No space left on device")

    old = save_model(tmp_path / "ckpt", _params(seed=1), CONFIG)
    monkeypatch.setattr(model_checkpoint, "_write_json", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_model(tmp_path / "new", _params(), CONFIG)
    with pytest.raises(OSError, match="No space left"):
        save_model(old, _params(), CONFIG, overwrite=True)
    assert _siblings(old) == ["ckpt"]
    monkeypatch.undo()
    _assert_trees_equal(load_model(old).params, numpy_params(_params(seed=1), CONFIG))


def test_load_rejects_directories_that_are_not_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an xlmr-jax checkpoint"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    with pytest.raises(ValueError, match="xlmr import"):
        load_model(tmp_path)


def test_validate_input_ids():
    ok = validate_input_ids(np.ones((2, 512), np.int64), CONFIG)
    assert ok.dtype == np.int32 and ok.shape == (2, 512)
    with pytest.raises(ValueError, match="513 tokens .* longer than the model's 512"):
        validate_input_ids(np.ones(513, np.int32), CONFIG)
    with pytest.raises(ValueError, match=r"token id 1000 at index \(1, 2\) is out of range"):
        validate_input_ids([[0, 5, 2], [0, 6, 1000]], CONFIG)
    with pytest.raises(ValueError, match="token id -1"):
        validate_input_ids([0, -1, 2], CONFIG)
    with pytest.raises(ValueError, match="must be integers"):
        validate_input_ids([0.0, 1.5], CONFIG)
    with pytest.raises(ValueError, match="non-empty"):
        validate_input_ids(np.zeros((1, 0), np.int32), CONFIG)
    np.testing.assert_array_equal(pad_batch([[0, 5, 2], [0, 2]], 1), [[0, 5, 2], [0, 2, 1]])


def test_predict_validates_ids(tmp_path):
    loaded = load_model(save_model(tmp_path / "ckpt", _params(), CONFIG))
    with pytest.raises(ValueError, match="out of range"):
        loaded.predict([[0, 1000, 2]])
    assert loaded.predict(np.array([[0, 5, 2]]))["logits"].shape == (1, 3, 1000)
    assert os.listdir(tmp_path) == ["ckpt"]


def _flip(path, count: int = 64) -> None:
    """Flip `count` bytes in the middle of a file."""
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + count] = bytes(b ^ 0xFF for b in raw[middle : middle + count])
    path.write_bytes(bytes(raw))


def test_flipped_bytes_in_parameters_fail_naming_the_file(tmp_path):
    out = Path(save_model(tmp_path / "ckpt", _params(), CONFIG))
    meta = json.loads((out / "config.json").read_text())
    assert sorted(meta["checksums"]) == sorted(expected_shapes(CONFIG, "mlm", 0))
    data = max(
        (p for p in (out / "params").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    _flip(data)
    with pytest.raises(ValueError, match=f"{out / 'params'}: (checksum mismatch|cannot read)"):
        load_model(out)


def test_checkpoints_without_checksums_still_load(tmp_path):
    out = save_model(tmp_path / "ckpt", _params(), CONFIG)
    meta = json.loads((out / "config.json").read_text())
    del meta["checksums"]
    (out / "config.json").write_text(json.dumps(meta))
    _assert_trees_equal(load_model(out).params, numpy_params(_params(), CONFIG))


def test_hf_export_carries_checksums_and_the_users_permissions(tmp_path):
    from xlmr_jax.convert import hf

    previous = os.umask(0o022)
    try:
        model = load_model(save_model(tmp_path / "c", _params(), CONFIG))
        out = Path(hf.save_hf(tmp_path / "hf", model))
    finally:
        os.umask(previous)
    for path in [out, *out.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path
    weights = out / "model.safetensors"
    assert hf.load_hf(out).config == CONFIG
    _flip(weights)
    with pytest.raises(ValueError, match=f"{weights}: (checksum mismatch|cannot read)"):
        hf.load_hf(out)
