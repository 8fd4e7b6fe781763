"""`xlmr finetune --gin_file=finetune/<setting>.gin --gin.INIT_CHECKPOINT="'DIR'" --gin.MODEL_DIR="'DIR'"`.

Fine-tunes (one model, or one per language), selects on dev, evaluates and prints the papers'
table; MODEL_DIR holds the results, predictions and the selected checkpoints.
"""

from __future__ import annotations

import argparse

from xlmr_jax import gin_utils


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    gin_utils.parse_setting(parser, argv)
    from xlmr_jax.finetuning.loop import finetune

    result = finetune()
    print(result.table)
    print(f"results: {result.model_dir / 'results.json'}")
    return 0
