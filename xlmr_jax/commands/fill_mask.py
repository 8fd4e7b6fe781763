"""`xlmr fill-mask --checkpoint CKPT [--top_k 5] TEXT`: the likeliest fills of each <mask>."""

from __future__ import annotations

import argparse

import numpy as np

from xlmr_jax.commands.extract_features import vocabulary
from xlmr_jax.model_checkpoint import LoadedModel, load_model

MASK = "<mask>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="xlmr-jax checkpoint (MLM head)")
    parser.add_argument("--top_k", type=int, default=5)
    parser.add_argument("--spm", help="SentencePiece model (default: the checkpoint's)")
    parser.add_argument("text", help=f"text with one or more {MASK}")


def encode_with_masks(vocab, text: str) -> list[int]:
    """`<s> ... </s>` with `<mask>` ids where the text says <mask>, as HF's tokenizer does
    (it also drops the whitespace before a mask: lstrip)."""
    segments = text.split(MASK)
    if len(segments) < 2:
        raise ValueError(f"the text holds no {MASK}.")
    ids = [vocab.bos_id]
    for i, segment in enumerate(segments):
        if i:
            ids.append(vocab.mask_id)
        if segment.strip():
            ids += vocab.encode(segment)
    return ids + [vocab.eos_id]


def fill_mask(model: LoadedModel, ids: list[int], mask_id: int, num_ids: int, top_k: int):
    """[(position, [(token id, probability)] * top_k)] for every mask, over ids < num_ids."""
    if model.head != "mlm":
        raise ValueError(f"fill-mask needs an MLM checkpoint; this one has head {model.head!r}.")
    positions = [i for i, t in enumerate(ids) if t == mask_id]
    logits = model.predict(np.asarray([ids]), masked_positions=np.asarray([positions]))["logits"][0]
    logits = logits[:, :num_ids]  # XL/XXL tables have padding rows past the tokenizer's ids
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    best = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]
    return [
        (pos, [(int(t), float(p[t])) for t in top]) for pos, p, top in zip(positions, probs, best)
    ]


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.top_k < 1:
        raise ValueError("--top_k must be >= 1")
    model = load_model(args.checkpoint)
    vocab = vocabulary(model, args.spm)
    ids = encode_with_masks(vocab, args.text)
    fills = fill_mask(model, ids, vocab.mask_id, vocab.vocab_size, args.top_k)
    for j, (pos, candidates) in enumerate(fills, 1):
        print(f"{MASK} {j} (token {pos}):")
        for token, prob in candidates:
            filled = vocab.decode([token if i == pos else t for i, t in enumerate(ids)])
            print(f"  {prob:.6f}\t{token}\t{vocab.id_to_piece(token)}\t{filled}")
    return 0
