"""`xlmr export --checkpoint CKPT_DIR --to hf --out DIR`: a directory transformers loads."""

from __future__ import annotations

import argparse

from xlmr_jax.checkpoint import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="xlmr-jax checkpoint directory")
    parser.add_argument("--to", required=True, choices=("hf",))
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from xlmr_jax.convert.hf import architecture, save_hf

    args = parser.parse_args(argv)
    model = load_model(args.checkpoint)
    save_hf(args.out, model, overwrite=args.overwrite)
    tokenizer = " + tokenizer" if model.spm_path else ""
    print(
        f"exported {args.checkpoint} -> {args.out} ({architecture(model.config, model.head)}{tokenizer})"
    )
    return 0
