#!/usr/bin/env bash
# Submit `xlmr train` (or `xlmr finetune`) to SLURM: one process per GPU, jax.distributed reads the SLURM environment.
# Usage: launch/slurm.sh NODES [GPUS_PER_NODE] [--command finetune] [--dry_run] -- FLAGS...
set -euo pipefail
nodes=$1; shift
gpus=8
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then gpus=$1; shift; fi
exec xlmr launch slurm --nodes "$nodes" --gpus_per_node "$gpus" "$@"
