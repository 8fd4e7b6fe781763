"""`xlmr export --checkpoint CKPT --to hf|saved_model --out DIR`: a directory transformers loads,
or a TensorFlow SavedModel (jax2tf) with a serving signature over token ids.

CKPT is a model checkpoint (`MODEL_DIR/model`, `xlmr import` output, a fine-tuned `best/`) or a
pretraining run's train checkpoint: `MODEL_DIR/checkpoints/N`, or `MODEL_DIR --step N` (the
latest step without --step), so a run stopped before total_steps can be exported.
"""

from __future__ import annotations

import argparse

from xlmr_jax import logs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="model checkpoint, MODEL_DIR/checkpoints/N, or a run's MODEL_DIR (with --step)",
    )
    parser.add_argument("--step", type=int, help="train checkpoint step of MODEL_DIR")
    parser.add_argument(
        "--to",
        required=True,
        choices=("hf", "saved_model"),
        help="hf: transformers directory with tokenizer.json; saved_model: TensorFlow SavedModel",
    )
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from xlmr_jax.convert.hf import architecture, save_hf
    from xlmr_jax.convert.saved_model import SIGNATURE, save_saved_model
    from xlmr_jax.training.exporting import load_any

    args = parser.parse_args(argv)
    steps = ["read checkpoint", f"write {args.to}"]
    with logs.progress(total=len(steps), desc="export", unit="stage", leave=False) as bar:
        bar.set_postfix_str(steps[0])
        model = load_any(args.checkpoint, args.step)
        bar.update()
        bar.set_postfix_str(steps[1])
        if args.to == "hf":
            save_hf(args.out, model, overwrite=args.overwrite)
        else:
            save_saved_model(args.out, model, overwrite=args.overwrite)
        bar.update()
    if args.to == "hf":
        what = architecture(model.config, model.head) + (" + tokenizer" if model.spm_path else "")
    else:
        what = f"SavedModel, signature {SIGNATURE!r} over input_ids"
    print(f"exported {args.checkpoint} -> {args.out} ({what})")
    return 0
