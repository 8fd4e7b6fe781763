"""`xlmr export --checkpoint CKPT --to hf --out DIR`: a directory transformers loads.

CKPT is a model checkpoint (`MODEL_DIR/model`, `xlmr import` output, a fine-tuned `best/`) or a
pretraining run's train checkpoint: `MODEL_DIR/checkpoints/N`, or `MODEL_DIR --step N` (the
latest step without --step), so a run stopped before total_steps can be exported.
"""

from __future__ import annotations

import argparse

USER_ERRORS = (ValueError, KeyError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="model checkpoint, MODEL_DIR/checkpoints/N, or a run's MODEL_DIR (with --step)",
    )
    parser.add_argument("--step", type=int, help="train checkpoint step of MODEL_DIR")
    parser.add_argument("--to", required=True, choices=("hf",))
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from xlmr_jax.convert.hf import architecture, save_hf
    from xlmr_jax.training.exporting import load_any

    args = parser.parse_args(argv)
    try:
        model = load_any(args.checkpoint, args.step)
        save_hf(args.out, model, overwrite=args.overwrite)
    except USER_ERRORS as e:
        parser.error(str(e))
    tokenizer = " + tokenizer" if model.spm_path else ""
    print(
        f"exported {args.checkpoint} -> {args.out} ({architecture(model.config, model.head)}{tokenizer})"
    )
    return 0
