"""Launch `xlmr train`, `finetune` or `eval` on TPU pods, SLURM GPU clusters, plain multi-node
hosts or local processes.

Each launcher first checks the mesh against the device count, then prints what it will run
(dry run) and, unless told to only print, runs it. jax.distributed finds the cluster by itself
on TPU VMs and under SLURM; plain multi-node and local runs pass the coordinator explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import time

from xlmr_jax import host_env

# The commands a launcher starts, one process per host (TPU) or per GPU.
COMMANDS = ("train", "finetune", "eval")
# Chips (JAX devices) per TPU VM host.
TPU_CHIPS_PER_HOST = {"v4": 4, "v5p": 4, "v5e": 8, "v6e": 8}


@dataclasses.dataclass(frozen=True)
class Job:
    hosts: int
    devices_per_host: int
    processes: int
    model_parallel: int
    coordinator: str | None

    @property
    def devices(self) -> int:
        return self.hosts * self.devices_per_host

    def validate(self) -> None:
        if self.model_parallel < 1 or self.devices % self.model_parallel:
            raise ValueError(
                f"model parallel {self.model_parallel} does not divide the {self.devices} devices "
                f"({self.hosts} hosts x {self.devices_per_host})."
            )
        if self.model_parallel > self.devices_per_host:
            raise ValueError(
                f"model parallel {self.model_parallel} exceeds the {self.devices_per_host} devices "
                "of one host: keep tensor parallelism inside a host (fast links)."
            )

    def describe(self) -> str:
        data = self.devices // self.model_parallel
        return (
            f"{self.hosts} hosts x {self.devices_per_host} devices = {self.devices} devices in "
            f"{self.processes} processes; mesh data={data} x model={self.model_parallel}; "
            f"coordinator {self.coordinator or 'auto-detected'}"
        )


def tpu_pod_command(
    tpu_name: str, zone: str, workdir: str, command: str, args: list[str]
) -> list[str]:
    """One `gcloud ... ssh --worker=all` running the same `xlmr COMMAND` on every TPU VM worker."""
    remote = f"cd {shlex.quote(workdir)} && xlmr {command} " + " ".join(map(shlex.quote, args))
    return [
        "gcloud", "compute", "tpus", "tpu-vm", "ssh", tpu_name,
        f"--zone={zone}", "--worker=all", f"--command={remote}",
    ]  # fmt: skip


def tpu_job(accelerator_type: str, model_parallel: int) -> Job:
    """Job shape of a TPU slice name like 'v4-32' (cores) or 'v5p-64'."""
    generation, _, size = accelerator_type.partition("-")
    if generation not in TPU_CHIPS_PER_HOST or not size.isdigit():
        raise ValueError(f"Unknown TPU type {accelerator_type!r}; expected e.g. v4-32 or v5p-64.")
    # v4/v5p names count TensorCores (2 per chip); v5e/v6e names count chips.
    chips = int(size) // 2 if generation in ("v4", "v5p") else int(size)
    per_host = min(TPU_CHIPS_PER_HOST[generation], chips)
    hosts = chips // per_host
    return Job(hosts, per_host, hosts, model_parallel, None)


def slurm_script(
    nodes: int,
    gpus_per_node: int,
    command: str,
    args: list[str],
    time_limit: str,
    partition: str | None,
) -> str:
    """An sbatch script: one task per GPU; jax.distributed reads the SLURM environment."""
    header = [
        "#!/bin/bash",
        f"#SBATCH --job-name=xlmr-{command}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks-per-node={gpus_per_node}",
        f"#SBATCH --gpus-per-node={gpus_per_node}",
        "#SBATCH --cpus-per-task=8",
        f"#SBATCH --time={time_limit}",
        "#SBATCH --signal=TERM@120  # SIGTERM 2 minutes before the limit: save and exit",
    ]
    if partition:
        header.append(f"#SBATCH --partition={partition}")
    body = [
        "set -euo pipefail",
        "# One process per GPU: each sees only its own GPU.",
        "srun --kill-on-bad-exit=1 bash -c 'CUDA_VISIBLE_DEVICES=$SLURM_LOCALID exec xlmr "
        + shlex.join([command, *args])
        + "'",
    ]
    return "\n".join(header + ["", *body]) + "\n"


def multinode_commands(
    coordinator: str, nodes: int, command: str, args: list[str]
) -> list[list[str]]:
    """The command for each node (run node i's on host i), one process per host."""
    return [
        [
            "xlmr",
            command,
            f"--coordinator_address={coordinator}",
            f"--num_processes={nodes}",
            f"--process_id={i}",
            *args,
        ]  # fmt: skip
        for i in range(nodes)
    ]


def local_commands(
    processes: int, devices_per_process: int, port: int, command: str, args: list[str]
) -> tuple[list[list[str]], dict[str, str]]:
    """N CPU processes on this machine (for testing multi-host code paths)."""
    commands = [
        [
            sys.executable,
            "-m",
            "xlmr_jax.cli",
            command,
            f"--coordinator_address=127.0.0.1:{port}",
            f"--num_processes={processes}",
            f"--process_id={i}",
            *args,
        ]  # fmt: skip
        for i in range(processes)
    ]
    env = {
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}",
    }
    return commands, env


def run_local(commands: list[list[str]], env: dict[str, str], log_dir: str | None = None) -> int:
    """Start all processes and wait; if one fails, stop the rest (they would wait forever)."""
    full_env = {**os.environ, **env}
    if host_env.malloc_hugepages_available() and not full_env.get("XLMR_NO_HUGEPAGES"):
        full_env = host_env.with_malloc_hugepages(full_env)  # as the `xlmr` command does
    procs, logs = [], []
    for i, cmd in enumerate(commands):
        log = open(os.path.join(log_dir, f"process_{i}.log"), "w") if log_dir else None  # noqa: SIM115
        logs.append(log)
        procs.append(
            subprocess.Popen(
                cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT if log else None
            )
        )
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
        for log in logs:
            if log:
                log.close()
    return failed[0] if failed else 0
