"""`xlmr finetune --gin_file=finetune/<setting>.gin --gin.INIT_CHECKPOINT="'DIR'" --gin.MODEL_DIR="'DIR'"`.

Fine-tunes (one model, or one per language), selects on dev, evaluates and prints the papers'
table; MODEL_DIR holds the results, predictions and the selected checkpoints.
"""

from __future__ import annotations

import argparse
import logging

from xlmr_jax import gin_utils


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    argv, bindings = gin_utils.split_gin_bindings(argv)
    args = parser.parse_args(argv)
    if not args.gin_file:
        parser.error("give the setting with --gin_file=finetune/<setting>.gin")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    gin_utils.parse(args.gin_file, bindings, args.gin_search_path)
    from xlmr_jax.finetuning.loop import finetune

    result = finetune()
    print(result.table)
    print(f"results: {result.model_dir / 'results.json'}")
    return 0
