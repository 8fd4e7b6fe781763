"""`xlmr eval --checkpoint DIR --gin_file=finetune/<setting>.gin --output DIR [--split test|dev]`.

Evaluates a fine-tuned model checkpoint on the setting's languages (test spec, or dev) and
writes results.json, results.md, evaluation.json and predictions/ to --output (finished results
there are refused without --overwrite); gin/runs/eval.gin is added after the given gin files.
Several processes (jax.distributed: --coordinator_address, --num_processes, --process_id, or a
TPU pod / SLURM) evaluate together.
"""

from __future__ import annotations

import argparse

from xlmr_jax import gin_utils
from xlmr_jax.training import distributed

EVAL_GIN = "runs/eval.gin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="fine-tuned model checkpoint")
    parser.add_argument("--output", required=True, help="directory for results and predictions")
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--languages", help="comma-separated subset of the setting's languages")
    parser.add_argument("--overwrite", action="store_true", help="replace results in --output")
    gin_utils.add_gin_arguments(parser)
    distributed.add_arguments(parser)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    distributed.initialize(parser.parse_args(gin_utils.split_gin_bindings(argv)[0]))
    # The setting's fine-tuning values (MODEL_DIR, INIT_CHECKPOINT) are not needed here.
    args = gin_utils.parse_setting(parser, argv, extra_files=(EVAL_GIN,), require=False)
    from xlmr_jax.finetuning.model_eval import evaluate_checkpoint

    languages = args.languages.split(",") if args.languages else None
    result = evaluate_checkpoint(
        args.checkpoint,
        args.output,
        split=args.split,
        languages=languages,
        overwrite=args.overwrite,
    )
    print(result.table)
    print(f"results: {result.model_dir / 'results.json'}")
    return 0
