#!/usr/bin/env bash
# N CPU processes on this machine talking through jax.distributed (tests multi-host code paths).
# Usage: launch/local.sh [PROCESSES] [DEVICES_PER_PROCESS] [--command finetune] -- FLAGS...
set -euo pipefail
processes=2 devices=4
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then processes=$1; shift; fi
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then devices=$1; shift; fi
exec xlmr launch local --processes "$processes" --devices_per_process "$devices" "$@"
