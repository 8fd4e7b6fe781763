"""`xlmr train --gin_file=FILE [--gin_file=...] [--gin.NAME=VALUE ...]`: pretraining."""

from __future__ import annotations

import argparse

from xlmr_jax import exit_codes, gin_utils
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
    if result.preempted:
        print(f"trained to step {result.step} (preempted: checkpoint saved; run again to resume)")
        return exit_codes.PREEMPTED
    print(f"trained to step {result.step}")
    return 0
