"""HuggingFace transformers XLM-R (post-LN) and XLM-R XL (pre-LN) checkpoints <-> xlmr-jax params.

Covers the ForMaskedLM, ForSequenceClassification, ForTokenClassification, ForQuestionAnswering
and bare Model classes of `xlm-roberta` and `xlm-roberta-xl` (keys in XLMR_SPEC.md). Exported
directories load with `from_pretrained` with no missing and no unexpected keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import traverse_util

from xlmr_jax import checksums, logs, storage
from xlmr_jax.config import ModelConfig
from xlmr_jax.convert.hf_tokenizer import write_tokenizer_json
from xlmr_jax.convert.layout import Entry, flax_to_torch, to_numpy, torch_names, torch_to_flax
from xlmr_jax.model_checkpoint import (
    LABEL_HEADS,
    LoadedModel,
    check_params,
    numpy_params,
)

MODEL_TYPES = {False: "xlm-roberta", True: "xlm-roberta-xl"}  # keyed by pre_layer_norm
CLASS_SUFFIX = {
    "mlm": "ForMaskedLM",
    "sequence_classification": "ForSequenceClassification",
    "token_classification": "ForTokenClassification",
    "question_answering": "ForQuestionAnswering",
    "none": "Model",
}
SPM_FILE = "sentencepiece.bpe.model"
CHECKSUM_KEY = "xlmr_jax.sha256"  # safetensors metadata: JSON {tensor name: array_checksum}
TOKENIZER_FILE = "tokenizer.json"
TIED = ("lm_head.decoder.weight", "lm_head.decoder.bias")
# Present in some checkpoints, never part of XLM-R: buffers and the (unused) pooler.
IGNORED_PREFIXES = ("roberta.pooler.", "roberta.embeddings.position_ids")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def architecture(config: ModelConfig, head: str) -> str:
    """The transformers class name for a config and head, e.g. XLMRobertaXLForMaskedLM."""
    return ("XLMRobertaXL" if config.pre_layer_norm else "XLMRoberta") + CLASS_SUFFIX[head]


def key_table(config: ModelConfig, head: str) -> list[Entry]:
    """(HF name, flax path, kind) for every tensor of the model (tied decoder excluded)."""
    r = "roberta."
    table = [
        (r + "embeddings.word_embeddings", "embeddings/word_embeddings", "embedding"),
        (r + "embeddings.position_embeddings", "embeddings/position_embeddings", "embedding"),
        (r + "embeddings.token_type_embeddings", "embeddings/token_type_embeddings", "embedding"),
    ]
    if config.pre_layer_norm:
        attention_ln, mlp_ln = "attention.self_attn_layer_norm", "LayerNorm"
    else:
        table.append((r + "embeddings.LayerNorm", "embeddings/layer_norm", "layer_norm"))
        attention_ln, mlp_ln = "attention.output.LayerNorm", "output.LayerNorm"
    for i in range(config.num_layers):
        h, f = f"{r}encoder.layer.{i}.", f"encoder/layers_{i}/"
        table += [
            (h + "attention.self.query", f + "attention/query", "qkv"),
            (h + "attention.self.key", f + "attention/key", "qkv"),
            (h + "attention.self.value", f + "attention/value", "qkv"),
            (h + "attention.output.dense", f + "attention/out", "out"),
            (h + attention_ln, f + "attention_layer_norm", "layer_norm"),
            (h + "intermediate.dense", f + "mlp/fc1", "dense"),
            (h + "output.dense", f + "mlp/fc2", "dense"),
            (h + mlp_ln, f + "mlp_layer_norm", "layer_norm"),
        ]
    if config.pre_layer_norm:
        table.append((r + "encoder.LayerNorm", "encoder/final_layer_norm", "layer_norm"))
    table += {
        "mlm": [
            ("lm_head.dense", "lm_head/dense", "dense"),
            ("lm_head.layer_norm", "lm_head/layer_norm", "layer_norm"),
            ("lm_head.bias", "lm_head/bias", "param"),
        ],
        "sequence_classification": [
            ("classifier.dense", "classifier/dense", "dense"),
            ("classifier.out_proj", "classifier/out_proj", "dense"),
        ],
        "token_classification": [("classifier", "classifier", "dense")],
        "question_answering": [("qa_outputs", "qa_outputs", "dense")],
        "none": [],
    }[head]
    return table


# ---------------------------------------------------------------------------------------- config


def _require(hf: Mapping[str, Any], key: str, source: str) -> Any:
    if key not in hf:
        raise ValueError(f"{source}: config.json lacks {key!r}.")
    return hf[key]


def config_from_hf(hf: Mapping[str, Any], source: str = "config.json") -> ModelConfig:
    """ModelConfig from an HF config dict; rejects configs that are not XLM-R."""
    model_type = hf.get("model_type")
    if model_type not in MODEL_TYPES.values():
        raise ValueError(
            f"{source}: model_type {model_type!r} is not XLM-R "
            f"(expected one of {sorted(MODEL_TYPES.values())})."
        )
    checks = {
        "hidden_act": ("gelu", "XLM-R uses the exact erf GELU"),
        "layer_norm_eps": (1e-5, "XLM-R's LayerNorm epsilon"),
        "pad_token_id": (1, "XLM-R pads with id 1"),
    }
    for key, (want, why) in checks.items():
        got = _require(hf, key, source)
        if got != want:
            raise ValueError(f"{source}: {key}={got!r}, but {why} ({key}={want!r}).")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{source}: position_embedding_type must be 'absolute'.")
    if hf.get("is_decoder") or hf.get("add_cross_attention"):
        raise ValueError(f"{source}: decoder/cross-attention configs are not XLM-R encoders.")
    hidden_dropout = hf.get("hidden_dropout_prob", 0.1)
    classifier_dropout = hf.get("classifier_dropout")
    return ModelConfig(
        vocab_size=_require(hf, "vocab_size", source),
        hidden_size=_require(hf, "hidden_size", source),
        num_layers=_require(hf, "num_hidden_layers", source),
        num_heads=_require(hf, "num_attention_heads", source),
        mlp_dim=_require(hf, "intermediate_size", source),
        max_positions=_require(hf, "max_position_embeddings", source),
        type_vocab_size=_require(hf, "type_vocab_size", source),
        pad_id=hf["pad_token_id"],
        pre_layer_norm=model_type == MODEL_TYPES[True],
        layer_norm_eps=hf["layer_norm_eps"],
        dropout_rate=hidden_dropout,
        attention_dropout_rate=hf.get("attention_probs_dropout_prob", 0.1),
        classifier_dropout_rate=hidden_dropout
        if classifier_dropout is None
        else classifier_dropout,
        init_std=hf.get("initializer_range", 0.02),
    )


def _labels(head: str, num_labels: int, id2label: Mapping[int, str] | None) -> dict[int, str]:
    if head == "question_answering":
        num_labels = 2
    if id2label and head in LABEL_HEADS:
        return {int(k): v for k, v in id2label.items()}
    return {i: f"LABEL_{i}" for i in range(num_labels)}


def hf_config(
    config: ModelConfig, head: str, num_labels: int = 0, id2label: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """A fully explicit HF config.json for the model (nothing left to transformers' defaults)."""
    labels = _labels(head, num_labels, id2label)
    out = {
        "architectures": [architecture(config, head)],
        "model_type": MODEL_TYPES[config.pre_layer_norm],
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.mlp_dim,
        "hidden_act": "gelu",
        "hidden_dropout_prob": config.dropout_rate,
        "attention_probs_dropout_prob": config.attention_dropout_rate,
        "classifier_dropout": config.classifier_dropout_rate,
        "max_position_embeddings": config.max_positions,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": config.init_std,
        "layer_norm_eps": config.layer_norm_eps,
        "pad_token_id": config.pad_id,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "position_embedding_type": "absolute",
        "is_decoder": False,
        "add_cross_attention": False,
        "use_cache": True,
        "dtype": "float32",
        "id2label": {str(i): name for i, name in labels.items()},
        "label2id": {name: i for i, name in labels.items()},
    }
    if head == "sequence_classification" and num_labels == 1:
        out["problem_type"] = "regression"
    return out


# ------------------------------------------------------------------------------------ state dict


def detect_head(state: Mapping[str, Any]) -> str:
    """The head a state dict carries, from its keys."""
    found = [
        head
        for head, key in (
            ("mlm", "lm_head.dense.weight"),
            ("sequence_classification", "classifier.out_proj.weight"),
            ("token_classification", "classifier.weight"),
            ("question_answering", "qa_outputs.weight"),
        )
        if key in state
    ]
    if len(found) > 1:
        raise ValueError(f"state dict holds several heads {found}; expected at most one.")
    return found[0] if found else "none"


def _with_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """A bare XLMRobertaModel state dict (`embeddings.*`) gets the `roberta.` prefix."""
    if any(k.startswith("roberta.") for k in state):
        return dict(state)
    return {"roberta." + k: v for k, v in state.items()}


def params_from_hf(state: Mapping[str, Any], config: ModelConfig) -> tuple[dict, str]:
    """(params, head) from an HF state dict (torch tensors or arrays).

    The tied `lm_head.decoder.*` copies are checked to equal the word embeddings and the bias;
    keys that belong to no XLM-R tensor are an error (pooler and position_ids buffers excepted).
    """
    state = _with_prefix(state)
    head = detect_head(state)
    table = key_table(config, head)
    if head == "mlm" and "lm_head.bias" not in state and "lm_head.decoder.bias" in state:
        state["lm_head.bias"] = state["lm_head.decoder.bias"]
    flat = torch_to_flax(state, table, config)
    if head == "mlm":
        for name, ours in zip(TIED, ("embeddings/word_embeddings/embedding", "lm_head/bias")):
            if name in state and not np.array_equal(to_numpy(state[name]), flat[ours]):
                raise ValueError(f"{name} differs from {ours}: untied LM heads are not XLM-R.")
    known = set(torch_names(table)) | set(TIED)
    unexpected = sorted(k for k in state if k not in known and not k.startswith(IGNORED_PREFIXES))
    if unexpected:
        raise ValueError(
            f"state dict has {len(unexpected)} tensors that are not part of "
            f"{architecture(config, head)}: {unexpected}"
        )
    params = traverse_util.unflatten_dict(flat, sep="/")
    return params, head


def num_labels_of(params: Mapping, head: str) -> int:
    """Output classes of a classification head (0 for the other heads)."""
    if head == "sequence_classification":
        return int(params["classifier"]["out_proj"]["kernel"].shape[-1])
    if head == "token_classification":
        return int(params["classifier"]["kernel"].shape[-1])
    return 0


def params_to_hf(
    params: Mapping, config: ModelConfig, head: str, *, tied: bool = False
) -> dict[str, np.ndarray]:
    """HF state dict (float32 numpy); `tied` adds the lm_head.decoder copies `state_dict()` has."""
    flat = traverse_util.flatten_dict(dict(params), sep="/")
    state = flax_to_torch(flat, key_table(config, head))
    if head == "mlm" and tied:
        state["lm_head.decoder.weight"] = state["roberta.embeddings.word_embeddings.weight"]
        state["lm_head.decoder.bias"] = state["lm_head.bias"]
    return state


# ---------------------------------------------------------------------------------- directories


def _read_weights(path: storage.Path) -> dict[str, Any]:
    """A weights file's tensors; safetensors we exported are checked against their checksums."""
    if path.suffix != ".safetensors":
        try:
            import torch
        except ImportError:
            raise ValueError(
                f"{path}: reading PyTorch .bin weights needs PyTorch: "
                'pip install "xlmr-jax[fairseq]" (or convert them to safetensors)'
            ) from None
    try:
        with storage.local_file(path) as local:
            if path.suffix == ".safetensors":
                from safetensors import safe_open

                try:
                    from safetensors.torch import load_file
                except ImportError:
                    from safetensors.numpy import load_file

                with safe_open(local, "np") as f:
                    expected = (f.metadata() or {}).get(CHECKSUM_KEY)
                state = load_file(local)
            else:
                return torch.load(local, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"{path}: cannot read weights ({type(e).__name__}: {e}); is it complete?"
        ) from e
    if expected is not None:
        checksums.verify(state, json.loads(expected), path)
    return state


def load_state_dict(directory: storage.PathLike) -> dict[str, Any]:
    """All tensors of an HF model directory (single file or sharded with an index)."""
    directory = storage.as_path(directory, "HF model directory")
    for name in WEIGHT_FILES:
        path = directory / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return _read_weights(path)
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        state = {}
        for shard in shards:
            state.update(_read_weights(directory / shard))
        return state
    raise FileNotFoundError(f"{directory}: none of {list(WEIGHT_FILES)} found.")


def load_hf(directory: storage.PathLike) -> LoadedModel:
    """Import an HF XLM-R directory (config.json + weights [+ sentencepiece.bpe.model])."""
    directory = storage.as_path(directory, "HF model directory")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json (is this an HF model directory?).")
    hf = json.loads(config_path.read_text())
    config = config_from_hf(hf, str(config_path))
    for arch in hf.get("architectures") or []:
        if not any(arch.endswith(suffix) for suffix in CLASS_SUFFIX.values()):
            raise ValueError(f"{config_path}: architecture {arch} is not supported.")
    params, head = params_from_hf(load_state_dict(directory), config)
    num_labels = num_labels_of(params, head)
    id2label = hf.get("id2label")
    if head in LABEL_HEADS and id2label and len(id2label) != num_labels:
        raise ValueError(
            f"{config_path}: id2label has {len(id2label)} labels, the classifier {num_labels}."
        )
    check_params(params, config, head, num_labels)
    spm = directory / SPM_FILE
    return LoadedModel(
        config=config,
        params=params,
        head=head,
        num_labels=num_labels,
        id2label=_labels(head, num_labels, id2label) if head in LABEL_HEADS else None,
        spm_path=str(spm) if spm.is_file() else None,
        meta={"source": f"hf:{directory}", "architectures": hf.get("architectures")},
    )


def _shards(state: Mapping[str, np.ndarray], max_bytes: int) -> list[dict[str, np.ndarray]]:
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for key, value in state.items():
        if shards[-1] and size + value.nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += value.nbytes
    return shards


def save_file(tensors: Mapping[str, np.ndarray], path: storage.Path) -> None:
    """One safetensors file in the layout transformers reads (`format: pt` metadata), with the
    tensors' checksums in its metadata (`CHECKSUM_KEY`; transformers ignores it)."""
    from safetensors.numpy import save

    metadata = {"format": "pt", CHECKSUM_KEY: json.dumps(checksums.checksums(tensors))}
    storage.write_bytes(path, save(dict(tensors), metadata=metadata))


def _tokenizer_files(spm_path: storage.PathLike, out: storage.Path, config: ModelConfig) -> None:
    """The hub's tokenizer files: sentencepiece.bpe.model (slow), tokenizer.json (fast) and the
    JSON that makes AutoTokenizer.from_pretrained load them."""
    storage.copy_file(spm_path, out / SPM_FILE)
    write_tokenizer_json(spm_path, out / TOKENIZER_FILE)
    mask = {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False}
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": {**mask, "single_word": False},
    }
    tokenizer_config = {
        **specials,
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": config.max_tokens,
        "clean_up_tokenization_spaces": False,
    }
    for name, obj in (
        ("special_tokens_map.json", specials),
        ("tokenizer_config.json", tokenizer_config),
    ):
        storage.write_text(out / name, json.dumps(obj, indent=2) + "\n")


def save_hf(
    out: storage.PathLike,
    model: LoadedModel,
    *,
    overwrite: bool = False,
    max_shard_bytes: int = 5 * 2**30,
) -> storage.Path:
    """Write an HF directory atomically: safetensors (sharded past max_shard_bytes), config.json
    and, when the model has a SentencePiece file, the tokenizer files.

    Head "none" becomes XLMRobertaModel, whose pooler (not part of XLM-R) transformers then
    initialises at random; every other head loads with no missing keys.
    """
    params = numpy_params(model.params, model.config)
    check_params(params, model.config, model.head, model.num_labels)
    state = params_to_hf(params, model.config, model.head)
    config = hf_config(model.config, model.head, model.num_labels, model.id2label)
    shards = _shards(state, max_shard_bytes)
    out = storage.as_path(out, "export directory")
    with storage.atomic_directory(out, "config.json", overwrite=overwrite) as tmp:
        if model.spm_path is not None:
            _tokenizer_files(model.spm_path, tmp, model.config)
        if len(shards) == 1:
            save_file(shards[0], tmp / "model.safetensors")
        else:
            weight_map = {}
            for i, shard in enumerate(logs.progress(shards, desc="write shards", leave=False), 1):
                name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
                save_file(shard, tmp / name)
                weight_map.update(dict.fromkeys(shard, name))
            index = {"metadata": {"total_size": sum(v.nbytes for v in state.values())}}
            index["weight_map"] = weight_map
            storage.write_text(
                tmp / "model.safetensors.index.json", json.dumps(index, indent=2) + "\n"
            )
        # last: it marks the directory complete
        storage.write_text(tmp / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return out
