"""Multi-host start-up: `jax.distributed.initialize()` from flags, the launcher or the scheduler."""

from __future__ import annotations

import argparse
import logging
import os

import jax

log = logging.getLogger(__name__)

# Environments in which jax.distributed.initialize() finds the cluster by itself.
_AUTO_DETECT_ENV = ("SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES", "OMPI_COMM_WORLD_SIZE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("multi-host (all default from JAX_* environment variables)")
    group.add_argument(
        "--coordinator_address",
        default=os.environ.get("JAX_COORDINATOR_ADDRESS"),
        help="host:port of process 0; omit on TPU pods and SLURM (detected automatically)",
    )
    group.add_argument("--num_processes", type=int, default=_env_int("JAX_NUM_PROCESSES"))
    group.add_argument("--process_id", type=int, default=_env_int("JAX_PROCESS_ID"))
    group.add_argument(
        "--single_process", action="store_true", help="never initialise jax.distributed"
    )


def initialize(args: argparse.Namespace) -> None:
    """Initialise jax.distributed when this is one process of several; no-op otherwise."""
    if args.single_process:
        return
    if args.coordinator_address:
        if args.num_processes is None or args.process_id is None:
            raise ValueError(
                "--coordinator_address needs --num_processes and --process_id "
                "(or JAX_NUM_PROCESSES / JAX_PROCESS_ID)."
            )
        jax.distributed.initialize(
            coordinator_address=args.coordinator_address,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    elif _multi_process_environment():
        jax.distributed.initialize()
    else:
        return
    log.info(
        "jax.distributed: process %d of %d, %d local / %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )


def _multi_process_environment() -> bool:
    if os.environ.get("SLURM_NTASKS", "1") != "1":
        return True
    return any(v in os.environ for v in _AUTO_DETECT_ENV if v != "SLURM_JOB_ID")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None
