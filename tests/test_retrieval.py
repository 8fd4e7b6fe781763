"""`xlmr retrieval` on the parallel SIB-200 text (FLORES-200 sentences, same order in every
language): identical text retrieves itself, shuffled targets fall to chance, real pairs are
scored as an independent computation from `LoadedModel.predict` says."""

from __future__ import annotations

import json
import random
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np
import pytest

from xlmr_jax.cli import main
from xlmr_jax.config import preset
from xlmr_jax.inputs import pad_batch
from xlmr_jax.model import XLMRoberta, init_params
from xlmr_jax.model_checkpoint import load_model, save_model
from xlmr_jax.vocab import XLMRVocabulary

LANGUAGES = ("eng_Latn", "fra_Latn", "deu_Latn", "zho_Hans")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, spm_model) -> Path:
    """A random tiny model (64 wide, 2 layers) over the 8000-piece test SentencePiece model."""
    config = preset("tiny")
    params = nn.unbox(init_params(XLMRoberta(config), jax.random.key(0)))
    return save_model(tmp_path_factory.mktemp("ckpt") / "tiny", params, config, spm_path=spm_model)


@pytest.fixture(scope="module")
def texts(tmp_path_factory, data_dir) -> dict[str, Path]:
    """SIB-200 dev sentences (99 per language), one per line, as `<lang>.txt`."""
    out = tmp_path_factory.mktemp("sib200")
    for lang in LANGUAGES:
        lines = (data_dir / "text/sib200" / lang / "dev.tsv").read_text("utf-8").splitlines()
        sentences = [line.split("\t", 2)[2] for line in lines[1:] if line]
        assert len(sentences) == len(set(sentences)) == 99
        (out / f"{lang}.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return {lang: out / f"{lang}.txt" for lang in LANGUAGES}


def retrieval(capsys, checkpoint, *pairs, layer=None) -> dict:
    argv = ["retrieval", "--checkpoint", str(checkpoint), "--json"]
    for source, target in pairs:
        argv += ["--source", str(source), "--target", str(target)]
    assert main(argv + ([f"--layer={layer}"] if layer is not None else [])) == 0
    return json.loads(capsys.readouterr().out)


def test_identical_text_retrieves_itself(capsys, checkpoint, texts):
    for layer in (0, None):
        out = retrieval(capsys, checkpoint, (texts["zho_Hans"], texts["zho_Hans"]), layer=layer)
        assert out["accuracy"] == 100.0 and out["pairs"][0]["reverse_accuracy"] == 100.0
    assert out["layer"] == 2 and out["pairs"][0]["sentences"] == 99


def test_shuffled_targets_are_chance(capsys, checkpoint, texts, tmp_path):
    lines = texts["fra_Latn"].read_text("utf-8").splitlines()
    cycle = list(range(len(lines)))
    random.Random(0).shuffle(cycle)
    order = [0] * len(lines)
    for k, i in enumerate(cycle):  # one random cycle: no line keeps its partner
        order[i] = cycle[(k + 1) % len(cycle)]
    shuffled = tmp_path / "fra_shuffled.txt"
    shuffled.write_text("\n".join(lines[i] for i in order) + "\n", encoding="utf-8")
    assert all(i != j for i, j in enumerate(order))
    out = retrieval(capsys, checkpoint, (texts["eng_Latn"], shuffled))
    assert out["accuracy"] <= 4.0  # chance: 1 in 99 each, ~1%


def test_real_pairs_match_an_independent_computation(capsys, checkpoint, texts):
    pairs = [(texts["eng_Latn"], texts[lang]) for lang in ("fra_Latn", "deu_Latn", "zho_Hans")]
    out = retrieval(capsys, checkpoint, *pairs)
    model = load_model(checkpoint)
    vocab = XLMRVocabulary(model.spm_path)

    def vectors(path):  # all 99 in one padded batch, in file order
        ids = pad_batch([vocab.encode_single(s) for s in path.read_text("utf-8").splitlines()], 1)
        hidden = model.predict(ids)["last_hidden_state"]
        mask = (ids != 1)[..., None]
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    english = vectors(texts["eng_Latn"])
    expected = []
    for (_, target), reported in zip(pairs, out["pairs"]):
        nearest = np.argmax(english @ vectors(target).T, axis=1)
        expected.append(100 * np.mean(nearest == np.arange(99)))
        assert reported["accuracy"] == pytest.approx(expected[-1])
    assert out["accuracy"] == pytest.approx(np.mean(expected))
    # Even a random model finds French and German partners through shared pieces (names,
    # numbers) over 10x chance (1%): measured 20.2% and 18.2%; Chinese shares fewer.
    fra, deu, zho = (p["accuracy"] for p in out["pairs"])
    assert fra > 10 and deu > 10 and zho < min(fra, deu)


def test_bad_input_is_one_error_line(capsys, checkpoint, texts, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n")
    argv = ["retrieval", "--checkpoint", str(checkpoint), "--source", str(texts["eng_Latn"])]
    assert main([*argv, "--target", str(short)]) == 2
    err = capsys.readouterr().err
    assert "has 99 lines and" in err and "short.txt 2" in err and len(err.splitlines()) == 1
    gap = tmp_path / "gap.txt"
    gap.write_text("one\n\nthree\n")
    assert main([*argv[:3], "--source", str(gap), "--target", str(gap)]) == 2
    assert capsys.readouterr().err.strip().endswith("gap.txt:2: empty line (one sentence per line)")
    assert main([*argv, "--target", str(texts["fra_Latn"]), "--layer", "3"]) == 2
    assert "--layer 3 is outside 0..2" in capsys.readouterr().err
