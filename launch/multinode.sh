#!/usr/bin/env bash
# Hosts without a scheduler: prints the command to run on each node (node i runs line i).
# Usage: launch/multinode.sh COORDINATOR_HOST:PORT NODES [--command finetune] -- FLAGS...
set -euo pipefail
coordinator=$1 nodes=$2; shift 2
exec xlmr launch multinode --coordinator "$coordinator" --nodes "$nodes" "$@"
