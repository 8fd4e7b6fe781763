"""`xlmr export --to saved_model` of a fine-tuned classifier: reloaded with tf.saved_model.load,
its serving signature gives the JAX model's logits; fine-tuning's profile_steps writes a trace."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_finetune_sanity import write_sst2

from xlmr_jax import cli
from xlmr_jax.convert.saved_model import outputs
from xlmr_jax.inputs import pad_batch
from xlmr_jax.model_checkpoint import load_model
from xlmr_jax.vocab import XLMRVocabulary

# float32, the same XLA computation lowered twice (JAX jit vs TF's XlaCallModule): only
# floating-point reassociation can differ.
TOL = 1e-5


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, data_dir, spm_model):
    """A tiny SST-2-layout classifier fine-tuned for 12 steps (profiling steps 3..4)."""
    root = tmp_path_factory.mktemp("saved_model")
    rows = (data_dir / "text" / "sib200" / "eng_Latn" / "train.tsv").read_text().splitlines()
    sentences = [row.split("\t", 2)[2] for row in rows[1:]]
    rng = random.Random(0)
    write_sst2(root / "data" / "glue" / "SST-2" / "train.tsv", sentences[:400], rng)
    write_sst2(root / "data" / "glue" / "SST-2" / "dev.tsv", sentences[400:480], rng)
    argv = [
        "finetune", "--gin_file=finetune/glue_sst2.gin", "--gin_file=models/tiny.gin",
        "--gin.ModelConfig.hidden_size=32", "--gin.ModelConfig.num_heads=2",
        "--gin.ModelConfig.mlp_dim=64", "--gin.INIT_CHECKPOINT=None",
        f"--gin.SPM_MODEL='{spm_model}'", f"--gin.DATA_DIR='{root / 'data'}'",
        f"--gin.MODEL_DIR='{root / 'run'}'", "--gin.Recipe.learning_rate=2e-3",
        "--gin.Recipe.num_epochs=1", "--gin.Recipe.max_steps=12", "--gin.Recipe.batch_size=16",
        "--gin.finetune.profile_steps=(3, 4)",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    return root / "run"


def test_saved_model_gives_the_jax_logits(finetuned, tmp_path, spm_model, capsys):
    model = load_model(finetuned / "best")
    assert model.head == "sequence_classification" and model.num_labels == 2
    out = tmp_path / "sm"
    argv = ["export", "--checkpoint", str(finetuned / "best"), "--to", "saved_model"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert "serving_default" in capsys.readouterr().out
    assert (out / "saved_model.pb").is_file() and (out / "assets" / "sentencepiece.model").is_file()

    vocab = XLMRVocabulary(spm_model)
    texts = ["A short one.", "Der Hund schläft unter dem Tisch, und die Katze auch.", "zebra"]
    batch = pad_batch([vocab.encode_single(t) for t in texts], vocab.pad_id)
    wider = np.pad(batch, ((0, 0), (0, 40 - batch.shape[1])), constant_values=vocab.pad_id)
    for ids in (batch, wider):  # the signature takes any batch and length
        tf_logits = outputs(out, ids)["logits"]
        jax_logits = model.predict(ids)["logits"]
        assert tf_logits.shape == jax_logits.shape == (3, 2)
        assert np.abs(tf_logits - jax_logits).max() <= TOL
    assert not np.allclose(jax_logits[0], jax_logits[1])  # a real classifier, not constants


def test_finetune_profile_steps_write_a_trace(finetuned):
    traces = list((finetuned / "tensorboard" / "plugins" / "profile").glob("*/*.xplane.pb"))
    assert len(traces) == 1 and b"finetune" in traces[0].read_bytes()
