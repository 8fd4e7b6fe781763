"""HF export as a HuggingFace user meets it: `tokenizer.json` (fast tokenizer with our ids),
`pipeline("fill-mask")` in this environment without flags, and export of a mid-run train
checkpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import transformers
from hf_peer import hf_model

from xlmr_jax import gin_utils
from xlmr_jax.cli import main
from xlmr_jax.vocab import XLMRVocabulary

HELD_OUT = range(300, 356)  # 56 x 91 = 5,096 sentences the SentencePiece model never saw
MASKED = "The capital of <mask> is Paris, and Berlin is in <mask>."
TOP_K = 5


@pytest.fixture(scope="module")
def exported(spm_model, tmp_path_factory):
    """(our checkpoint, its HF export) of a tiny random MLM over the 8k SentencePiece model."""
    root = tmp_path_factory.mktemp("hf_export")
    model = hf_model(False, vocab_size=8002, hidden=32, heads=4, seed=3)
    model.save_pretrained(root / "hf")
    shutil.copyfile(spm_model, root / "hf" / "sentencepiece.bpe.model")
    assert main(["import", "--from", "hf", str(root / "hf"), "--out", str(root / "ckpt")]) == 0
    assert main(["export", "--checkpoint", str(root / "ckpt"), "--to", "hf", "--out", str(root / "out")]) == 0  # fmt: skip
    return root / "ckpt", root / "out"


def test_tokenizer_json_is_fast_and_gives_our_ids(
    exported, spm_model, multilingual_corpus, tmp_path
):
    _, out = exported
    # Only tokenizer.json and the configs: nothing to convert from SentencePiece.
    fast_only = tmp_path / "fast_only"
    shutil.copytree(out, fast_only, ignore=shutil.ignore_patterns("sentencepiece.bpe.model"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(fast_only)
    assert tokenizer.is_fast and type(tokenizer).__name__ == "XLMRobertaTokenizerFast"
    vocab = XLMRVocabulary(spm_model)
    assert len(tokenizer) == vocab.vocab_size == 8002
    assert tokenizer.mask_token_id == vocab.mask_id and tokenizer.pad_token_id == 1

    held_out = [(lang, s[i]) for i in HELD_OUT for lang, s in multilingual_corpus.items()]
    texts = [t for _, t in held_out]
    assert len(texts) >= 5000 and len({lang for lang, _ in held_out}) >= 50
    assert tokenizer(texts)["input_ids"] == [vocab.encode_single(t) for t in texts]
    a, b = texts[:-1], texts[1:]
    assert tokenizer(a, b)["input_ids"] == [vocab.encode_pair(x, y) for x, y in zip(a, b)]
    assert sum(3 in vocab.encode(t) for t in texts) > 0  # unknown characters are exercised


def _pipeline_top_k(model_dir) -> list[list[tuple[int, float]]]:
    """`pipeline("fill-mask")` in a fresh process of this environment, no USE_TF/framework flags."""
    code = (
        "import json, sys, transformers\n"
        "fill = transformers.pipeline('fill-mask', model=sys.argv[1])\n"
        f"out = fill({MASKED!r}, top_k={TOP_K})\n"
        "print(json.dumps([fill.framework, [[(r['token'], r['score']) for r in m] for m in out]]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("USE_TF", "USE_TORCH")}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(model_dir)],
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    framework, fills = json.loads(proc.stdout.strip().splitlines()[-1])
    assert framework == "pt"  # transformers prefers PyTorch when both frameworks load
    return fills


def test_pipeline_fill_mask_equals_xlmr_fill_mask(exported, capsys):
    ckpt, out = exported
    theirs = _pipeline_top_k(out)
    capsys.readouterr()
    assert main(["fill-mask", "--checkpoint", str(ckpt), "--top_k", str(TOP_K), MASKED]) == 0
    rows = re.findall(r"^  ([0-9.]+)\t(\d+)\t", capsys.readouterr().out, flags=re.M)
    ours = [[(int(t), float(p)) for p, t in rows[i : i + TOP_K]] for i in (0, TOP_K)]
    assert len(theirs) == len(ours) == 2
    for mine, hf in zip(ours, theirs):
        assert [t for t, _ in mine] == [t for t, _ in hf]
        assert np.abs(np.array([p for _, p in mine]) - [p for _, p in hf]).max() <= 1e-5


@pytest.mark.slow
def test_mid_run_train_checkpoint_exports_and_loads(tmp_path, tiny_run_bindings, capsys):
    from xlmr_jax.training.loop import train

    run = tmp_path / "run"
    gin_utils.parse(
        ["pretrain/tiny_cpu.gin"],
        [*tiny_run_bindings, f"MODEL_DIR = '{run}'", "train.stop_after = 3", "CheckpointConfig.period = 2"],
    )  # fmt: skip
    result = train()
    assert result.step == 3 and not (run / "model").exists()  # stopped mid-run: no model/
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "3"]

    out = tmp_path / "hf"
    assert main(["export", "--checkpoint", str(run), "--step", "2", "--to", "hf", "--out", str(out)]) == 0  # fmt: skip
    assert main(["export", "--checkpoint", str(run / "checkpoints" / "3"), "--to", "hf", "--out", str(tmp_path / "hf3")]) == 0  # fmt: skip
    assert {"tokenizer.json", "sentencepiece.bpe.model", "model.safetensors"} <= {
        p.name for p in out.iterdir()
    }
    hf, info = transformers.AutoModelForMaskedLM.from_pretrained(out, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    ids = tokenizer(
        ["Das ist ein kleiner Test.", "这是一个测试。"], padding=True, return_tensors="pt"
    )

    from xlmr_jax.training.exporting import load_train_checkpoint

    ours = load_train_checkpoint(run, 2)
    assert ours.meta["step"] == 2
    expected = ours.predict(ids["input_ids"].numpy())["logits"]
    got = hf(**ids).logits.detach().numpy()
    real = ids["attention_mask"].numpy().astype(bool)
    assert np.abs(got - expected)[real].max() <= 1e-4
    # step 2 and step 3 differ: the step chosen is the step exported
    step3 = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf3")
    assert np.abs(step3(**ids).logits.detach().numpy() - got)[real].max() > 1e-4

    capsys.readouterr()
    assert main(["export", "--checkpoint", str(run), "--step", "7", "--to", "hf", "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "no step 7; saved steps: [2, 3]" in capsys.readouterr().err
