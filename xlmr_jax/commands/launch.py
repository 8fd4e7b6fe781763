"""`xlmr launch {tpu,slurm,multinode,local} [options] -- ARGS`: start `xlmr train` (or, with
`--command finetune` or `eval`, that command) at scale, ARGS being that command's flags.

Every launcher validates the mesh (MeshConfig.model from the gin flags in ARGS) against the
device count and prints what it will run; --dry_run stops there.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import tempfile

from xlmr_jax import gin_utils, launching


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", required=True)
    tpu = sub.add_parser("tpu", help="TPU VM pod slice (gcloud ssh --worker=all)")
    tpu.add_argument("--tpu", required=True, help="TPU VM name")
    tpu.add_argument("--zone", required=True)
    tpu.add_argument("--accelerator_type", required=True, help="e.g. v4-32, v5p-128")
    tpu.add_argument("--workdir", default="~/xlmr-jax", help="checkout on every worker")
    slurm = sub.add_parser("slurm", help="SLURM GPU cluster (one process per GPU)")
    slurm.add_argument("--nodes", type=int, required=True)
    slurm.add_argument("--gpus_per_node", type=int, default=8)
    slurm.add_argument("--time", default="48:00:00")
    slurm.add_argument("--partition", default=None)
    multi = sub.add_parser("multinode", help="hosts without a scheduler (one process per host)")
    multi.add_argument("--coordinator", required=True, help="host:port of node 0")
    multi.add_argument("--nodes", type=int, required=True)
    multi.add_argument("--gpus_per_node", type=int, default=8)
    local = sub.add_parser("local", help="N CPU processes on this machine (testing)")
    local.add_argument("--processes", type=int, default=2)
    local.add_argument("--devices_per_process", type=int, default=4)
    local.add_argument("--port", type=int, default=12355)
    local.add_argument("--log_dir", default=None)
    for p in (tpu, slurm, multi, local):
        p.add_argument(
            "--command", choices=launching.COMMANDS, default="train", help="what every process runs"
        )
        p.add_argument("--dry_run", action="store_true", help="print, validate, run nothing")
        p.add_argument("args", nargs=argparse.REMAINDER, help="-- then that command's flags")


def _model_parallel(args: list[str]) -> int:
    """MeshConfig.model as the run will see it (parses the same gin flags)."""
    import gin

    rest, bindings = gin_utils.split_gin_bindings(args)
    files = [a.split("=", 1)[1] for a in rest if a.startswith("--gin_file=")]
    gin_utils.parse(files, bindings, require=False)  # each process checks its own
    try:
        return int(gin.query_parameter("MeshConfig.model"))
    except ValueError:
        return 1


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    run_args = [a for a in args.args if a != "--"]
    model_parallel = _model_parallel(run_args)
    if args.target == "tpu":
        job = launching.tpu_job(args.accelerator_type, model_parallel)
        commands = [
            launching.tpu_pod_command(args.tpu, args.zone, args.workdir, args.command, run_args)
        ]
    elif args.target == "slurm":
        job = launching.Job(
            args.nodes, args.gpus_per_node, args.nodes * args.gpus_per_node, model_parallel, None
        )
        script = launching.slurm_script(
            args.nodes, args.gpus_per_node, args.command, run_args, args.time, args.partition
        )
    elif args.target == "multinode":
        job = launching.Job(
            args.nodes, args.gpus_per_node, args.nodes, model_parallel, args.coordinator
        )
        commands = launching.multinode_commands(
            args.coordinator, args.nodes, args.command, run_args
        )
    else:
        job = launching.Job(
            1,
            args.processes * args.devices_per_process,
            args.processes,
            model_parallel,
            f"127.0.0.1:{args.port}",
        )
        commands, env = launching.local_commands(
            args.processes, args.devices_per_process, args.port, args.command, run_args
        )
    job.validate()
    print(f"[xlmr launch {args.target}] {job.describe()}")
    if args.target == "slurm":
        print(script, end="")
    else:
        for i, cmd in enumerate(commands):
            prefix = f"  node {i}: " if args.target == "multinode" else "  "
            print(prefix + shlex.join(cmd))
    if args.dry_run or args.target == "multinode":
        return 0
    if args.target == "slurm":
        with tempfile.NamedTemporaryFile("w", suffix=".sbatch", delete=False) as f:
            f.write(script)
        return subprocess.call(["sbatch", f.name])
    if args.target == "tpu":
        return subprocess.call(commands[0])
    return launching.run_local(commands, env, args.log_dir)
