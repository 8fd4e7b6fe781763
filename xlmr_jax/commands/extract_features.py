"""`xlmr extract-features --checkpoint CKPT (--text T ... | --input_ids IDS.npy) --out OUT.npz`.

Writes `input_ids` [batch, len] (right-padded with 1), `last_hidden_state` [batch, len, D] and,
for MLM checkpoints, `mlm_logits` [batch, len, V].
"""

from __future__ import annotations

import argparse

import numpy as np

from xlmr_jax import storage
from xlmr_jax.inputs import pad_batch
from xlmr_jax.model_checkpoint import LoadedModel, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="xlmr-jax checkpoint directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a sentence (repeat for a batch)")
    source.add_argument("--input_ids", help=".npy of ids, [len] or [batch, len] padded with 1")
    parser.add_argument("--spm", help="SentencePiece model (default: the checkpoint's)")
    parser.add_argument("--out", required=True, help="output .npz")


def vocabulary(model: LoadedModel, spm: str | None):
    """The XLMRVocabulary of `--spm` or the checkpoint, checked against the embedding rows."""
    from xlmr_jax.vocab import XLMRVocabulary

    path = spm or model.spm_path
    if path is None:
        raise ValueError("the checkpoint has no sentencepiece.model; pass --spm.")
    vocab = XLMRVocabulary(path)
    if vocab.vocab_size > model.config.vocab_size:
        raise ValueError(
            f"{path} has {vocab.vocab_size} ids, more than the model's "
            f"{model.config.vocab_size} embedding rows: not this model's tokenizer."
        )
    return vocab


def features(model: LoadedModel, ids: np.ndarray) -> dict[str, np.ndarray]:
    """input_ids, last_hidden_state and (MLM head) mlm_logits."""
    out = model.predict(ids)
    result = {"input_ids": ids, "last_hidden_state": out["last_hidden_state"]}
    if model.head == "mlm":
        result["mlm_logits"] = out["logits"]
    return result


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    model = load_model(args.checkpoint)
    if args.text:
        vocab = vocabulary(model, args.spm)
        ids = pad_batch([vocab.encode_single(t) for t in args.text], model.config.pad_id)
    else:
        with storage.as_path(args.input_ids).open("rb") as f:
            ids = np.load(f)
        ids = ids[None] if ids.ndim == 1 else ids
    arrays = features(model, ids)
    with storage.atomic_writer(args.out) as f:  # no partial output on failure
        np.savez(f, **arrays)
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items())
    print(f"wrote {args.out}: {shapes}")
    return 0
