"""`xlmr train --gin_file=FILE [--gin_file=...] [--gin.NAME=VALUE ...]`: pretraining."""

from __future__ import annotations

import argparse

from xlmr_jax import gin_utils
from xlmr_jax.training import distributed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)
    distributed.add_arguments(parser)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    argv, bindings = gin_utils.split_gin_bindings(argv)
    args = parser.parse_args(argv)
    distributed.initialize(args)
    gin_utils.parse_args(args, bindings)
    from xlmr_jax.training.loop import train

    result = train()
    print(
        f"trained to step {result.step}"
        + (" (preempted: checkpoint saved)" if result.preempted else "")
    )
    return 0
