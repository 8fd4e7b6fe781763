"""fairseq RoBERTa/XLM-R checkpoints (`model.pt`) <-> xlmr-jax params.

Both key generations are read: new (`encoder.sentence_encoder.*`, separate q/k/v_proj,
`layernorm_embedding`) and old (`decoder.` prefix, fused `in_proj_weight` [3D, D] in q, k, v
order, `emb_layer_norm`). LayerNorm placement is read from the keys, not from
`encoder_normalize_before`: old fairseq stored True there for post-LN models, meaning only the
embedding LayerNorm. fairseq has no token-type embeddings; import adds HF's zero row and export
folds that row into the position table.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import traverse_util

from xlmr_jax import storage
from xlmr_jax.config import ModelConfig
from xlmr_jax.convert.fairseq_pickle import load_checkpoint
from xlmr_jax.convert.layout import Entry, flax_to_torch, to_numpy, torch_names, torch_to_flax
from xlmr_jax.model_checkpoint import LoadedModel, check_params, numpy_params

PREFIXES = ("encoder.", "decoder.")  # new, old
EMBED_LAYER_NORMS = ("layernorm_embedding", "emb_layer_norm")  # new, old
DEFAULT_HEAD_NAME = "sentence_classification_head"
SPM_FILE = "sentencepiece.bpe.model"
# fairseq bookkeeping tensors that carry no weights.
IGNORED_SUFFIXES = (".version", "._float_tensor")


def key_table(
    config: ModelConfig,
    head: str,
    *,
    prefix: str = "encoder.",
    embed_layer_norm: str = "layernorm_embedding",
    head_name: str = DEFAULT_HEAD_NAME,
) -> list[Entry]:
    """(fairseq name, flax path, kind) with separate q/k/v projections; no token-type row."""
    s = prefix + "sentence_encoder."
    table = [
        (s + "embed_tokens", "embeddings/word_embeddings", "embedding"),
        (s + "embed_positions", "embeddings/position_embeddings", "embedding"),
    ]
    if not config.pre_layer_norm:
        table.append((s + embed_layer_norm, "embeddings/layer_norm", "layer_norm"))
    for i in range(config.num_layers):
        f, o = f"{s}layers.{i}.", f"encoder/layers_{i}/"
        table += [
            (f + "self_attn.q_proj", o + "attention/query", "qkv"),
            (f + "self_attn.k_proj", o + "attention/key", "qkv"),
            (f + "self_attn.v_proj", o + "attention/value", "qkv"),
            (f + "self_attn.out_proj", o + "attention/out", "out"),
            (f + "self_attn_layer_norm", o + "attention_layer_norm", "layer_norm"),
            (f + "fc1", o + "mlp/fc1", "dense"),
            (f + "fc2", o + "mlp/fc2", "dense"),
            (f + "final_layer_norm", o + "mlp_layer_norm", "layer_norm"),
        ]
    if config.pre_layer_norm:
        table.append((s + "layer_norm", "encoder/final_layer_norm", "layer_norm"))
    if head == "mlm":
        table += [
            (prefix + "lm_head.dense", "lm_head/dense", "dense"),
            (prefix + "lm_head.layer_norm", "lm_head/layer_norm", "layer_norm"),
            (prefix + "lm_head.bias", "lm_head/bias", "param"),
        ]
    elif head == "sequence_classification":
        c = f"classification_heads.{head_name}."
        table += [
            (c + "dense", "classifier/dense", "dense"),
            (c + "out_proj", "classifier/out_proj", "dense"),
        ]
    elif head != "none":
        raise ValueError(f"fairseq checkpoints have no {head!r} head.")
    return table


# ---------------------------------------------------------------------------------------- layout


def _split_fused(state: Mapping[str, Any]) -> dict[str, Any]:
    """Old `self_attn.in_proj_{weight,bias}` ([3D, ...], q, k, v) -> separate q/k/v_proj."""
    out = {}
    for key, value in state.items():
        for leaf in ("weight", "bias"):
            if key.endswith(f"self_attn.in_proj_{leaf}"):
                base = key[: -len(f"in_proj_{leaf}")]
                q, k, v = np.split(to_numpy(value), 3, axis=0)
                out.update({f"{base}{n}_proj.{leaf}": t for n, t in zip("qkv", (q, k, v))})
                break
        else:
            out[key] = value
    return out


def _fuse(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Separate q/k/v_proj -> old fused in_proj tensors (the inverse of `_split_fused`)."""
    out = {}
    for key, value in state.items():
        if ".self_attn.q_proj." in key:
            base, leaf = key.split("q_proj.")
            parts = [state[f"{base}{n}_proj.{leaf}"] for n in "qkv"]
            out[f"{base}in_proj_{leaf}"] = np.concatenate(parts, axis=0)
        elif ".self_attn.k_proj." not in key and ".self_attn.v_proj." not in key:
            out[key] = value
    return out


def _prefix(state: Mapping[str, Any]) -> str:
    for prefix in PREFIXES:
        if prefix + "sentence_encoder.embed_tokens.weight" in state:
            return prefix
    raise ValueError(
        "not a fairseq RoBERTa/XLM-R state dict: no {encoder,decoder}.sentence_encoder.embed_tokens."
    )


def _head(state: Mapping[str, Any], prefix: str, head_name: str | None) -> tuple[str, str]:
    """(head, classification head name): a named or the only classification head, else MLM."""
    names = sorted({k.split(".")[1] for k in state if k.startswith("classification_heads.")})
    if head_name is not None:
        if head_name not in names:
            raise ValueError(f"no classification head {head_name!r}; the checkpoint has {names}.")
        return "sequence_classification", head_name
    if len(names) > 1:
        raise ValueError(f"several classification heads {names}: choose one (--head_name).")
    if names:
        return "sequence_classification", names[0]
    if prefix + "lm_head.dense.weight" in state:
        return "mlm", DEFAULT_HEAD_NAME
    return "none", DEFAULT_HEAD_NAME


# ---------------------------------------------------------------------------------------- config


def model_args(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The model arguments of a checkpoint: `args` (argparse) or `cfg["model"]` (hydra)."""
    args = checkpoint.get("args")
    if args is None and checkpoint.get("cfg") is not None:
        args = checkpoint["cfg"]["model"]
    if args is None:
        raise ValueError("fairseq checkpoint has neither `args` nor `cfg`.")
    return dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)


def fairseq_args(config: ModelConfig) -> dict[str, Any]:
    """The fairseq model arguments that describe `config` (the inverse of `config_from_fairseq`)."""
    return {
        "arch": "roberta",
        "encoder_layers": config.num_layers,
        "encoder_embed_dim": config.hidden_size,
        "encoder_ffn_embed_dim": config.mlp_dim,
        "encoder_attention_heads": config.num_heads,
        "encoder_normalize_before": config.pre_layer_norm,
        "activation_fn": "gelu",
        "pooler_activation_fn": "tanh",
        "dropout": config.dropout_rate,
        "attention_dropout": config.attention_dropout_rate,
        "pooler_dropout": config.classifier_dropout_rate,
        "max_positions": config.max_tokens,
    }


def config_from_fairseq(args: Mapping[str, Any], state: Mapping[str, Any]) -> ModelConfig:
    """ModelConfig from fairseq arguments; table rows and LayerNorm placement from the tensors."""
    s = _prefix(state) + "sentence_encoder."
    for key, want in (("activation_fn", "gelu"), ("pooler_activation_fn", "tanh")):
        if args.get(key, want) != want:
            raise ValueError(f"fairseq {key}={args[key]!r}; XLM-R uses {want!r}.")
    missing = [
        k
        for k in (
            "encoder_layers",
            "encoder_embed_dim",
            "encoder_ffn_embed_dim",
            "encoder_attention_heads",
        )
        if k not in args
    ]
    if missing:
        raise ValueError(f"fairseq model arguments lack {missing}.")
    final_ln = s + "layer_norm.weight" in state
    embed_ln = any(f"{s}{name}.weight" in state for name in EMBED_LAYER_NORMS)
    if final_ln == embed_ln:
        raise ValueError(
            "expected exactly one of an embedding LayerNorm (post-LN) and a final LayerNorm "
            f"(pre-LN), found embedding={embed_ln}, final={final_ln}."
        )
    return ModelConfig(
        vocab_size=int(state[s + "embed_tokens.weight"].shape[0]),
        hidden_size=int(args["encoder_embed_dim"]),
        num_layers=int(args["encoder_layers"]),
        num_heads=int(args["encoder_attention_heads"]),
        mlp_dim=int(args["encoder_ffn_embed_dim"]),
        max_positions=int(state[s + "embed_positions.weight"].shape[0]),
        pre_layer_norm=final_ln,
        dropout_rate=float(args.get("dropout", 0.1)),
        attention_dropout_rate=float(args.get("attention_dropout", 0.1)),
        classifier_dropout_rate=float(args.get("pooler_dropout", 0.0)),
    )


# ---------------------------------------------------------------------------------------- params


def params_from_fairseq(
    state: Mapping[str, Any], config: ModelConfig, *, head_name: str | None = None
) -> tuple[dict, str]:
    """(params, head) from a fairseq `model` state dict; unknown tensors are an error."""
    prefix = _prefix(state)
    s = prefix + "sentence_encoder."
    state = _split_fused(state)
    embed_ln = next(
        (n for n in EMBED_LAYER_NORMS if f"{s}{n}.weight" in state), EMBED_LAYER_NORMS[0]
    )
    head, name = _head(state, prefix, head_name)
    table = key_table(config, head, prefix=prefix, embed_layer_norm=embed_ln, head_name=name)
    flat = torch_to_flax(state, table, config)
    tied = prefix + "lm_head.weight"
    if head == "mlm" and tied in state:
        if not np.array_equal(to_numpy(state[tied]), flat["embeddings/word_embeddings/embedding"]):
            raise ValueError(f"{tied} differs from embed_tokens: untied LM heads are not XLM-R.")
    flat["embeddings/token_type_embeddings/embedding"] = np.zeros(
        (1, config.hidden_size), np.float32
    )
    optional = (prefix + "lm_head.", "classification_heads.")  # heads other than the one chosen
    known = set(torch_names(table)) | {tied}
    unexpected = sorted(
        k
        for k in state
        if k not in known and not k.endswith(IGNORED_SUFFIXES) and not k.startswith(optional)
    )
    if unexpected:
        raise ValueError(
            f"fairseq state dict has tensors this converter does not know: {unexpected}"
        )
    return traverse_util.unflatten_dict(flat, sep="/"), head


def params_to_fairseq(
    params: Mapping,
    config: ModelConfig,
    head: str,
    *,
    old_style: bool = False,
    head_name: str = DEFAULT_HEAD_NAME,
) -> dict[str, np.ndarray]:
    """fairseq `model` state dict (new keys, or old ones with `old_style`); tied lm_head.weight
    included, the token-type row folded into every position row."""
    if config.type_vocab_size != 1:
        raise ValueError("fairseq has no token types; only type_vocab_size=1 can be folded.")
    flat = dict(traverse_util.flatten_dict(dict(params), sep="/"))
    token_type = np.asarray(flat.pop("embeddings/token_type_embeddings/embedding"), np.float32)
    if np.any(token_type):
        positions = np.asarray(flat["embeddings/position_embeddings/embedding"], np.float32)
        flat["embeddings/position_embeddings/embedding"] = positions + token_type[0]
    prefix = PREFIXES[1] if old_style else PREFIXES[0]
    embed_ln = EMBED_LAYER_NORMS[1] if old_style else EMBED_LAYER_NORMS[0]
    table = key_table(config, head, prefix=prefix, embed_layer_norm=embed_ln, head_name=head_name)
    state = flax_to_torch(flat, table)
    if head == "mlm":
        state[prefix + "lm_head.weight"] = state[prefix + "sentence_encoder.embed_tokens.weight"]
    return _fuse(state) if old_style else state


def load_fairseq(path: storage.PathLike, *, head_name: str | None = None) -> LoadedModel:
    """Import a fairseq `model.pt` (or a directory holding it and sentencepiece.bpe.model).

    The pickle is read with an allowlist (`fairseq_pickle`): code it carries is refused, not run.
    """
    path = storage.as_path(path, "fairseq checkpoint")
    file = path / "model.pt" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist.")
    with storage.local_file(file) as local:
        checkpoint = load_checkpoint(local, file)
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise ValueError(f"{file}: not a fairseq checkpoint (no `model` state dict).")
    state = checkpoint["model"]
    config = config_from_fairseq(model_args(checkpoint), state)
    params, head = params_from_fairseq(state, config, head_name=head_name)
    num_labels = (
        int(params["classifier"]["out_proj"]["kernel"].shape[-1])
        if head == "sequence_classification"
        else 0
    )
    params = numpy_params(params, config)
    check_params(params, config, head, num_labels)
    spm = file.parent / SPM_FILE
    return LoadedModel(
        config=config,
        params=params,
        head=head,
        num_labels=num_labels,
        spm_path=str(spm) if spm.is_file() else None,
        meta={"source": f"fairseq:{file}"},
    )
