"""Converters: HF and fairseq state dicts <-> xlmr-jax params bitwise; exported HF directories load
with transformers' Auto classes with no missing/unexpected keys and reproduce the logits."""

from __future__ import annotations

import argparse
import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from hf_peer import hf_model, hf_outputs, hf_state, padded_batch
from omegaconf import OmegaConf

from xlmr_jax.convert import fairseq, hf
from xlmr_jax.model import XLMRoberta
from xlmr_jax.model_checkpoint import LoadedModel

HEADS = [
    ("mlm", 0),
    ("sequence_classification", 3),
    ("token_classification", 4),
    ("question_answering", 2),
]
AUTO = {
    "mlm": transformers.AutoModelForMaskedLM,
    "sequence_classification": transformers.AutoModelForSequenceClassification,
    "token_classification": transformers.AutoModelForTokenClassification,
    "question_answering": transformers.AutoModelForQuestionAnswering,
}


def _import(model):
    config = hf.config_from_hf(model.config.to_dict())
    params, head = hf.params_from_hf(model.state_dict(), config)
    return config, params, head


def _assert_same_state(ours: dict, theirs: dict):
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key].dtype == np.float32, key
        assert np.array_equal(ours[key], theirs[key]), key


@pytest.mark.parametrize("pre_layer_norm", [False, True])
@pytest.mark.parametrize("head,num_labels", HEADS)
def test_hf_round_trip_is_bitwise(pre_layer_norm, head, num_labels):
    model = hf_model(pre_layer_norm, head, num_labels=num_labels, hidden=48, heads=3)
    config, params, found = _import(model)
    assert found == head
    _assert_same_state(hf.params_to_hf(params, config, head, tied=True), hf_state(model))


# ------------------------------------------------------------------------------- fairseq


def _fairseq_from_hf(state: dict, num_layers: int, pre_ln: bool, old: bool) -> dict:
    """The fairseq names of an HF model's tensors, written out independently of the converter."""
    p = "decoder." if old else "encoder."
    s = p + "sentence_encoder."
    r = "roberta."
    out = {
        s + "embed_tokens.weight": state[r + "embeddings.word_embeddings.weight"],
        s + "embed_positions.weight": state[r + "embeddings.position_embeddings.weight"],
    }
    leaves = ("weight", "bias")
    for leaf in leaves:
        if pre_ln:
            out[f"{s}layer_norm.{leaf}"] = state[f"{r}encoder.LayerNorm.{leaf}"]
        else:
            name = "emb_layer_norm" if old else "layernorm_embedding"
            out[f"{s}{name}.{leaf}"] = state[f"{r}embeddings.LayerNorm.{leaf}"]
    for i in range(num_layers):
        h, f = f"{r}encoder.layer.{i}.", f"{s}layers.{i}."
        attn_ln = "attention.self_attn_layer_norm" if pre_ln else "attention.output.LayerNorm"
        mlp_ln = "LayerNorm" if pre_ln else "output.LayerNorm"
        for leaf in leaves:
            qkv = [state[f"{h}attention.self.{n}.{leaf}"] for n in ("query", "key", "value")]
            if old:
                out[f"{f}self_attn.in_proj_{leaf}"] = np.concatenate(qkv, axis=0)
            else:
                for n, t in zip("qkv", qkv):
                    out[f"{f}self_attn.{n}_proj.{leaf}"] = t
            out[f"{f}self_attn.out_proj.{leaf}"] = state[f"{h}attention.output.dense.{leaf}"]
            out[f"{f}self_attn_layer_norm.{leaf}"] = state[f"{h}{attn_ln}.{leaf}"]
            out[f"{f}fc1.{leaf}"] = state[f"{h}intermediate.dense.{leaf}"]
            out[f"{f}fc2.{leaf}"] = state[f"{h}output.dense.{leaf}"]
            out[f"{f}final_layer_norm.{leaf}"] = state[f"{h}{mlp_ln}.{leaf}"]
    if "lm_head.bias" in state:
        out[p + "lm_head.weight"] = state[r + "embeddings.word_embeddings.weight"]
        out[p + "lm_head.bias"] = state["lm_head.bias"]
        for leaf in leaves:
            out[f"{p}lm_head.dense.{leaf}"] = state[f"lm_head.dense.{leaf}"]
            out[f"{p}lm_head.layer_norm.{leaf}"] = state[f"lm_head.layer_norm.{leaf}"]
    if "classifier.out_proj.weight" in state:
        for part in ("dense", "out_proj"):
            for leaf in leaves:
                key = f"classification_heads.{fairseq.DEFAULT_HEAD_NAME}.{part}.{leaf}"
                out[key] = state[f"classifier.{part}.{leaf}"]
    return out


def _zero_token_type(model):
    with torch.no_grad():
        model.roberta.embeddings.token_type_embeddings.weight.zero_()
    return model


def _save_fairseq(path, config, state, *, hydra: bool):
    args = fairseq.fairseq_args(config)
    checkpoint = {"model": {k: torch.from_numpy(np.array(v)) for k, v in state.items()}}
    if hydra:  # fairseq >= 0.10: an omegaconf DictConfig
        checkpoint["cfg"] = OmegaConf.create({"model": args, "task": {"_name": "masked_lm"}})
    else:
        checkpoint["args"] = argparse.Namespace(**args)
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("pre_layer_norm", [False, True])
@pytest.mark.parametrize("old", [False, True], ids=["new_keys", "old_keys"])
@pytest.mark.parametrize("head,num_labels", HEADS[:2])
def test_fairseq_to_hf_is_bitwise(pre_layer_norm, old, head, num_labels, tmp_path):
    model = _zero_token_type(hf_model(pre_layer_norm, head, num_labels=num_labels))
    state = hf_state(model)
    num_layers = model.config.num_hidden_layers
    fs_state = _fairseq_from_hf(state, num_layers, pre_layer_norm, old)
    if head != "mlm":  # fine-tuned fairseq checkpoints keep the pretraining LM head
        mlm_state = hf_state(hf_model(pre_layer_norm, "mlm", seed=5))
        lm = _fairseq_from_hf(mlm_state, num_layers, pre_layer_norm, old)
        fs_state.update({k: v for k, v in lm.items() if ".lm_head." in k})
        fs_state[f"{'decoder' if old else 'encoder'}.sentence_encoder.version"] = np.ones(1)
    config = hf.config_from_hf(model.config.to_dict())
    path = _save_fairseq(tmp_path / "model.pt", config, fs_state, hydra=old)

    loaded = fairseq.load_fairseq(path)
    assert (loaded.head, loaded.num_labels) == (head, num_labels)
    assert loaded.config.replace(classifier_dropout_rate=0.1) == config
    _assert_same_state(hf.params_to_hf(loaded.params, loaded.config, head, tied=True), state)
    # ... and back to fairseq, same key style, bitwise.
    back = fairseq.params_to_fairseq(loaded.params, loaded.config, head, old_style=old)
    expected = _fairseq_from_hf(state, num_layers, pre_layer_norm, old)
    _assert_same_state(back, expected)


def test_fairseq_export_folds_token_type_row_into_positions():
    model = hf_model(False)
    assert np.abs(hf_state(model)["roberta.embeddings.token_type_embeddings.weight"]).max() > 0
    config, params, _ = _import(model)
    state = fairseq.params_to_fairseq(params, config, "mlm")
    back, _ = fairseq.params_from_fairseq(state, config)
    assert not back["embeddings"]["token_type_embeddings"]["embedding"].any()
    ids = padded_batch([11, 6], seed=3)
    theirs = hf_outputs(model, ids)["logits"]
    ours = XLMRoberta(config).apply({"params": back}, jnp.asarray(ids))["logits"]
    assert np.abs(np.asarray(ours) - theirs)[ids != 1].max() <= 1e-5


def test_fairseq_rejects_unknown_tensors_and_ambiguous_heads(tmp_path):
    model = _zero_token_type(hf_model(False, "sequence_classification"))
    config = hf.config_from_hf(model.config.to_dict())
    state = _fairseq_from_hf(hf_state(model), 2, False, False)
    extra = dict(state, **{"encoder.sentence_encoder.layers.0.adapter.weight": np.ones(2)})
    with pytest.raises(ValueError, match=r"adapter\.weight"):
        fairseq.params_from_fairseq(extra, config)
    two = dict(state)
    for key in list(state):
        if key.startswith("classification_heads."):
            two[key.replace(fairseq.DEFAULT_HEAD_NAME, "mnli")] = state[key]
    with pytest.raises(ValueError, match="several classification heads"):
        fairseq.params_from_fairseq(two, config)
    _, head = fairseq.params_from_fairseq(two, config, head_name="mnli")
    assert head == "sequence_classification"
    path = _save_fairseq(tmp_path / "model.pt", config, state, hydra=False)
    bad = torch.load(path, weights_only=False)
    bad["args"].activation_fn = "relu"
    torch.save(bad, path)
    with pytest.raises(ValueError, match="activation_fn='relu'"):
        fairseq.load_fairseq(tmp_path)


class _RunsCode:
    """Pickles as a call of os.system, as a malicious model.pt would."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("where", ["args", "model"])
def test_fairseq_pickle_carrying_code_is_refused_and_not_run(where, tmp_path):
    model = _zero_token_type(hf_model(False))
    config = hf.config_from_hf(model.config.to_dict())
    path = _save_fairseq(
        tmp_path / "model.pt",
        config,
        _fairseq_from_hf(hf_state(model), 2, False, False),
        hydra=False,
    )
    marker = tmp_path / "marker"
    checkpoint = torch.load(path, weights_only=False)
    if where == "args":
        checkpoint["args"] = _RunsCode(f"touch {marker}")
    else:
        checkpoint["model"]["encoder.sentence_encoder.version"] = _RunsCode(f"touch {marker}")
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="refused: .*posix.system.*nothing in it was run"):
        fairseq.load_fairseq(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is real: an unrestricted load runs it
    assert marker.exists()


# --------------------------------------------------------------------------- HF directories


@pytest.mark.parametrize("pre_layer_norm", [False, True])
@pytest.mark.parametrize("head,num_labels", HEADS + [("sequence_classification", 1)])
def test_export_loads_with_auto_classes(pre_layer_norm, head, num_labels, tmp_path):
    kw = {"problem_type": "regression"} if num_labels == 1 else {}
    model = hf_model(pre_layer_norm, head, num_labels=num_labels, hidden=48, heads=3, **kw)
    config, params, _ = _import(model)
    ours = num_labels if head in ("sequence_classification", "token_classification") else 0
    labels = {i: f"class_{i}" for i in range(ours)} or None
    out = hf.save_hf(tmp_path / "hf", LoadedModel(config, params, head, ours, labels))

    loaded, info = AUTO[head].from_pretrained(out, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert info["mismatched_keys"] == [] and info["error_msgs"] == []
    assert type(loaded).__name__ == hf.architecture(config, head)
    written = json.loads((out / "config.json").read_text())
    assert written["layer_norm_eps"] == 1e-5 and written["type_vocab_size"] == 1
    assert (written["pad_token_id"], written["bos_token_id"], written["eos_token_id"]) == (1, 0, 2)
    if labels:
        assert loaded.config.id2label == labels
    if num_labels == 1:
        assert loaded.config.problem_type == "regression"
    _assert_same_state(hf_state(loaded), hf_state(model))
    ids = padded_batch([12, 7, 3], seed=6)  # from_pretrained may pick another attention kernel
    before, after = hf_outputs(model, ids), hf_outputs(loaded.eval(), ids)
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, rtol=0, atol=1e-6, err_msg=key)


def test_import_reads_hf_writers_and_sharded_exports(tmp_path):
    model = hf_model(True, hidden=48, heads=3)
    expected = hf_state(model)
    model.save_pretrained(tmp_path / "st")  # safetensors without the tied decoder
    model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    for name in ("st", "bin"):
        loaded = hf.load_hf(tmp_path / name)
        assert loaded.head == "mlm" and loaded.config.pre_layer_norm
        state = hf.params_to_hf(loaded.params, loaded.config, "mlm", tied=True)
        _assert_same_state(state, expected)
    sharded = hf.save_hf(tmp_path / "sharded", hf.load_hf(tmp_path / "st"), max_shard_bytes=50_000)
    assert len(list(sharded.glob("model-*-of-*.safetensors"))) > 2
    assert (sharded / "model.safetensors.index.json").is_file()
    again = hf.load_hf(sharded)
    _assert_same_state(hf.params_to_hf(again.params, again.config, "mlm", tied=True), expected)
    _, info = transformers.AutoModelForMaskedLM.from_pretrained(sharded, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []


def test_import_bare_model_ignores_pooler(tmp_path):
    torch.manual_seed(0)
    from hf_peer import hf_config

    bare = transformers.XLMRobertaModel(hf_config(False)).eval()
    bare.save_pretrained(tmp_path)
    loaded = hf.load_hf(tmp_path)
    assert loaded.head == "none"
    ids = padded_batch([9, 5], seed=8)
    theirs = hf_outputs(bare, ids)["last_hidden_state"]
    ours = loaded.module().apply({"params": loaded.params}, jnp.asarray(ids))["last_hidden_state"]
    assert np.abs(np.asarray(ours) - theirs)[ids != 1].max() <= 1e-5


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("model_type", "bert", "model_type 'bert' is not XLM-R"),
        ("layer_norm_eps", 1e-12, "layer_norm_eps=1e-12"),
        ("hidden_act", "gelu_new", "hidden_act='gelu_new'"),
        ("pad_token_id", 0, "pad_token_id=0"),
    ],
)
def test_config_from_hf_rejects_non_xlmr(field, value, message):
    config = hf_model(False).config.to_dict()
    config[field] = value
    with pytest.raises(ValueError, match=message):
        hf.config_from_hf(config)
    del config[field]
    with pytest.raises(ValueError):
        hf.config_from_hf(config)


def test_import_rejects_untied_decoder_and_foreign_tensors():
    model = hf_model(False)
    config = hf.config_from_hf(model.config.to_dict())
    state = hf_state(model)
    untied = dict(state, **{"lm_head.decoder.weight": state["lm_head.decoder.weight"] + 1})
    with pytest.raises(ValueError, match="untied"):
        hf.params_from_hf(untied, config)
    foreign = dict(
        state, **{"roberta.encoder.layer.0.attention.self.distance_embedding.weight": np.ones(3)}
    )
    with pytest.raises(ValueError, match="distance_embedding"):
        hf.params_from_hf(foreign, config)
    short = {k: v for k, v in state.items() if "layer.1.output.dense" not in k}
    with pytest.raises(ValueError, match=r"layer\.1\.output\.dense\.weight"):
        hf.params_from_hf(short, config)


def test_export_writes_a_tokenizer_transformers_reads(spm_model, tmp_path):
    import sentencepiece

    model = hf_model(False)
    config, params, _ = _import(model)
    out = hf.save_hf(tmp_path / "hf", LoadedModel(config, params, "mlm", spm_path=str(spm_model)))
    tokenizer = transformers.XLMRobertaTokenizer.from_pretrained(out)
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(spm_model)).get_piece_size()
    assert tokenizer.mask_token_id == pieces + 1 and tokenizer.pad_token_id == 1
    ids = tokenizer("Hello world <mask>")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and tokenizer.mask_token_id in ids
    assert tokenizer.model_max_length == 512


def test_config_width_that_disagrees_with_the_weights_is_one_clear_error():
    model = hf_model(False)
    config = hf.config_from_hf(model.config.to_dict())
    wider = config.replace(hidden_size=2 * config.hidden_size)
    with pytest.raises(ValueError, match=r"query\.weight has shape .* does not fit the config"):
        hf.params_from_hf(hf_state(model), wider)
