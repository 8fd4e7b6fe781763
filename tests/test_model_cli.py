"""`xlmr import / fill-mask / extract-features / export` end to end against HF PyTorch + tokenizer."""

from __future__ import annotations

import argparse
import re
import shutil

import numpy as np
import pytest
import torch
import transformers
from hf_peer import VOCAB, hf_model, hf_outputs, hf_state

from xlmr_jax.cli import main
from xlmr_jax.convert import fairseq
from xlmr_jax.convert import hf as hf_convert
from xlmr_jax.model_checkpoint import load_model

TEXTS = ["The capital of France is Paris.", "Der Hund schläft."]
MASKED = "The capital of <mask> is <mask>!"
TOL = 1e-5


def _import(pre_layer_norm: bool, spm_model: str, root):
    """(HF model, its tokenizer, root with hf/ (model + tokenizer) and ckpt/ (our import))."""
    tokenizer = transformers.XLMRobertaTokenizer(spm_model)
    model = hf_model(pre_layer_norm, vocab_size=len(tokenizer), hidden=32, heads=4, seed=11)
    model.save_pretrained(root / "hf")
    shutil.copyfile(spm_model, root / "hf" / "sentencepiece.bpe.model")
    assert main(["import", "--from", "hf", str(root / "hf"), "--out", str(root / "ckpt")]) == 0
    return model, tokenizer, root


@pytest.fixture(scope="module", params=[False, True], ids=["post_ln", "pre_ln"])
def imported(request, spm_model, tmp_path_factory):
    return _import(request.param, spm_model, tmp_path_factory.mktemp("cli"))


def _fails(argv, capsys) -> str:
    """Run a command that must fail with one error line and exit 2; return the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(f"{argv[0]}:")]  # progress redraws
    assert len(lines) == 1 and lines[0].startswith(f"xlmr {argv[0]}: error: "), err
    return lines[0]


def test_import_keeps_config_and_tokenizer(imported):
    model, _, root = imported
    loaded = load_model(root / "ckpt")
    assert loaded.head == "mlm" and loaded.config.pre_layer_norm == (
        model.config.model_type == "xlm-roberta-xl"
    )
    assert loaded.spm_path and loaded.meta["source"] == f"hf:{root / 'hf'}"
    state = hf_convert.params_to_hf(loaded.params, loaded.config, "mlm", tied=True)
    assert all(np.array_equal(state[k], v) for k, v in hf_state(model).items())


def test_fill_mask_matches_hf(imported, capsys):
    model, tokenizer, root = imported
    capsys.readouterr()
    assert main(["fill-mask", "--checkpoint", str(root / "ckpt"), "--top_k", "3", MASKED]) == 0
    printed = capsys.readouterr().out
    rows = re.findall(r"^  ([0-9.]+)\t(\d+)\t", printed, flags=re.M)
    assert len(rows) == 6 and printed.count("<mask> ") == 2

    ids = tokenizer(MASKED, return_tensors="np")["input_ids"]
    logits = hf_outputs(model, ids)["logits"][0, ids[0] == tokenizer.mask_token_id]
    probs = torch.softmax(torch.from_numpy(logits[:, : len(tokenizer)]), -1).numpy()
    for j, p in enumerate(probs):
        top = np.argsort(-p)[:3]
        ours = rows[3 * j : 3 * j + 3]
        assert [int(t) for _, t in ours] == top.tolist()
        assert np.abs(np.array([float(q) for q, _ in ours]) - p[top]).max() <= 1e-6


def test_extract_features_from_text_and_ids_match_hf(imported, tmp_path):
    model, tokenizer, root = imported
    ckpt = str(root / "ckpt")
    argv = ["extract-features", "--checkpoint", ckpt, "--text", TEXTS[0], "--text", TEXTS[1]]
    assert main([*argv, "--out", str(tmp_path / "text.npz")]) == 0
    text = np.load(tmp_path / "text.npz")
    expected_ids = tokenizer(TEXTS, padding=True, return_tensors="np")["input_ids"]
    np.testing.assert_array_equal(text["input_ids"], expected_ids)
    real = expected_ids != 1
    assert real.sum() < real.size  # the batch has padding
    theirs = hf_outputs(model, expected_ids)
    assert text["mlm_logits"].shape == (2, expected_ids.shape[1], len(tokenizer))
    assert np.abs(text["last_hidden_state"] - theirs["last_hidden_state"])[real].max() <= TOL
    assert np.abs(text["mlm_logits"] - theirs["logits"])[real].max() <= TOL

    np.save(tmp_path / "ids.npy", expected_ids)
    argv = ["extract-features", "--checkpoint", ckpt, "--input_ids", str(tmp_path / "ids.npy")]
    assert main([*argv, "--out", str(tmp_path / "ids.npz")]) == 0
    ids = np.load(tmp_path / "ids.npz")
    for key in ("last_hidden_state", "mlm_logits"):
        np.testing.assert_allclose(ids[key], text[key], rtol=0, atol=1e-6)


def test_export_loads_in_transformers(imported, tmp_path):
    model, tokenizer, root = imported
    out = tmp_path / "exported"
    assert (
        main(["export", "--checkpoint", str(root / "ckpt"), "--to", "hf", "--out", str(out)]) == 0
    )
    loaded, info = transformers.AutoModelForMaskedLM.from_pretrained(out, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert type(loaded) is type(model)
    assert all(np.array_equal(v, hf_state(model)[k]) for k, v in hf_state(loaded).items())
    exported_tokenizer = transformers.XLMRobertaTokenizer.from_pretrained(out)
    assert exported_tokenizer(MASKED)["input_ids"] == tokenizer(MASKED)["input_ids"]


def test_fairseq_import_via_cli_matches_hf_import(imported, tmp_path):
    model, _, root = imported
    ours = load_model(root / "ckpt")
    state = fairseq.params_to_fairseq(ours.params, ours.config, "mlm", old_style=True)
    checkpoint = {
        "args": argparse.Namespace(**fairseq.fairseq_args(ours.config)),
        "model": {k: torch.from_numpy(v) for k, v in state.items()},
    }
    torch.save(checkpoint, tmp_path / "model.pt")
    shutil.copyfile(ours.spm_path, tmp_path / "sentencepiece.bpe.model")
    argv = ["import", "--from", "fairseq", str(tmp_path), "--out", str(tmp_path / "ckpt")]
    assert main(argv) == 0
    argv = ["extract-features", "--checkpoint", str(tmp_path / "ckpt"), "--text", TEXTS[0]]
    assert main([*argv, "--out", str(tmp_path / "f.npz")]) == 0
    features = np.load(tmp_path / "f.npz")
    theirs = hf_outputs(model, features["input_ids"])  # token-type row folded into positions
    assert np.abs(features["mlm_logits"] - theirs["logits"]).max() <= TOL


# ------------------------------------------------------------------------------ bad input


@pytest.fixture(scope="module")
def post_ln(spm_model, tmp_path_factory):
    return _import(False, spm_model, tmp_path_factory.mktemp("errors"))


def test_bad_input_ids_are_clear_errors(post_ln, tmp_path, capsys):
    _, tokenizer, root = post_ln
    argv = [
        "extract-features",
        "--checkpoint",
        str(root / "ckpt"),
        "--out",
        str(tmp_path / "o.npz"),
    ]
    np.save(tmp_path / "big.npy", np.array([0, 5, len(tokenizer), 2]))
    message = _fails([*argv, "--input_ids", str(tmp_path / "big.npy")], capsys)
    assert f"token id {len(tokenizer)} at index (0, 2) is out of range" in message
    np.save(tmp_path / "long.npy", np.full((1, 513), 5))
    message = _fails([*argv, "--input_ids", str(tmp_path / "long.npy")], capsys)
    assert "513 tokens (including <s> and </s>) is longer than the model's 512" in message
    message = _fails([*argv, "--text", "word " * 600], capsys)
    assert "is longer than the model's 512" in message
    assert not (tmp_path / "o.npz").exists()
    message = _fails(["fill-mask", "--checkpoint", str(root / "ckpt"), "no mask here"], capsys)
    assert "holds no <mask>" in message


def test_import_errors_are_clear_and_leave_nothing(post_ln, tmp_path, capsys):
    _, _, root = post_ln
    out = tmp_path / "ckpt"
    truncated = shutil.copytree(root / "hf", tmp_path / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    message = _fails(["import", "--from", "hf", str(truncated), "--out", str(out)], capsys)
    assert f"{weights}: cannot read weights" in message

    wrong_rows = shutil.copytree(root / "hf", tmp_path / "rows")
    config = (wrong_rows / "config.json").read_text()
    (wrong_rows / "config.json").write_text(
        re.sub(r'"vocab_size": \d+', '"vocab_size": 9000', config)
    )
    message = _fails(["import", "--from", "hf", str(wrong_rows), "--out", str(out)], capsys)
    assert "embeddings/word_embeddings/embedding: config expects shape (9000, 32)" in message

    small = tmp_path / "small"  # VOCAB rows: too few for the tokenizer's ids
    hf_model(False, hidden=32, heads=4).save_pretrained(small)
    argv = ["import", "--from", "hf", str(small), "--out", str(out)]
    message = _fails([*argv, "--spm", str(root / "hf" / "sentencepiece.bpe.model")], capsys)
    assert f"model has {VOCAB} embedding rows: not this model's tokenizer" in message
    assert not out.exists()


def test_export_failures_leave_nothing_half_written(post_ln, tmp_path, capsys, monkeypatch):
    _, _, root = post_ln
    ckpt = str(root / "ckpt")
    out = tmp_path / "exported"
    (tmp_path / "taken").mkdir()
    message = _fails(
        ["export", "--checkpoint", ckpt, "--to", "hf", "--out", str(tmp_path / "taken")], capsys
    )
    assert "already exists; pass --overwrite" in message

    (tmp_path / "a_file").write_text("")
    message = _fails(
        ["export", "--checkpoint", ckpt, "--to", "hf", "--out", str(tmp_path / "a_file" / "x")],
        capsys,
    )
    assert "a_file" in message

    def disk_full(tensors, path):
        path.write_bytes(b"\0" * 100)  # a partial shard, then the device fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hf_convert, "save_file", disk_full)
    message = _fails(["export", "--checkpoint", ckpt, "--to", "hf", "--out", str(out)], capsys)
    assert "No space left on device" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "taken"]
