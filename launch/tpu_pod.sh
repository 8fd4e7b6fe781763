#!/usr/bin/env bash
# Run `xlmr train` (or `xlmr finetune`) on every worker of an existing TPU VM pod slice (creates nothing).
# Usage: launch/tpu_pod.sh TPU_NAME ZONE ACCELERATOR_TYPE [--command finetune] [--dry_run] -- FLAGS...
#   e.g. launch/tpu_pod.sh my-v4 us-central2-b v4-32 -- --gin_file=pretrain/xlmr_xl.gin \
#          --gin.MODEL_DIR="'gs://bucket/xl'" --gin.DATA_DIR="'gs://bucket/cc100'" --gin.SPM_MODEL=...
set -euo pipefail
tpu=$1 zone=$2 type=$3; shift 3
exec xlmr launch tpu --tpu "$tpu" --zone "$zone" --accelerator_type "$type" "$@"
