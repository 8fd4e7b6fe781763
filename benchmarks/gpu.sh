#!/usr/bin/env bash
# Issue 11's GPU benchmark in one run on one GPU (about 5-10 minutes): one MLM train step of
# base and large at seq 512, bf16 compute, ours with `xla` attention and with cuDNN flash
# attention, beside HF PyTorch (autocast bf16 + SDPA + fused AdamW); tokens/s, MFU and peak
# device memory per implementation. Needs `pip install -e ".[test,gpu]"` plus a CUDA build of
# torch 2.13 for hf_torch. Usage: benchmarks/gpu.sh [OUT.json]; record results in
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-gpu_train_step.json}
"$PY" -c "import jax; assert jax.default_backend() == 'gpu', jax.devices()"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'hf_torch needs a CUDA build of torch'"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" benchmarks/train_step.py --device gpu --shapes base,large \
    --impls ours,ours_cudnn,hf_torch --steps 10 --warmup 2 --timeout 900 --json "$OUT"
