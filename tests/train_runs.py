"""Helpers for tests that run `xlmr train` (tiny_cpu.gin) in subprocesses and read the results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

# Fine-tuning flags for a 32-wide, 2-layer model over the 8000-piece test SentencePiece model.
TINY_FINETUNE = [
    "--gin_file=models/tiny.gin",
    "--gin.ModelConfig.hidden_size=32",
    "--gin.ModelConfig.num_heads=2",
    "--gin.ModelConfig.mlp_dim=64",
    "--gin.INIT_CHECKPOINT=None",
]


def train_command(model_dir: Path, bindings: list[str], *extra: str) -> list[str]:
    flags = [f"--gin.{b.replace(' = ', '=', 1)}" for b in bindings]
    return [
        sys.executable, "-m", "xlmr_jax.cli", "train", "--gin_file=pretrain/tiny_cpu.gin",
        f"--gin.MODEL_DIR='{model_dir}'", *flags, *extra,
    ]  # fmt: skip


def device_env(devices: int) -> dict[str, str]:
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }


def run_train(model_dir: Path, bindings: list[str], devices: int = 1, *extra: str) -> None:
    proc = subprocess.run(
        train_command(model_dir, bindings, *extra),
        env=device_env(devices),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def losses(model_dir: Path) -> dict[int, float]:
    """Per-step train loss from metrics.jsonl (a resumed run's later lines win)."""
    out = {}
    for line in (model_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["split"] == "train":
            out[record["step"]] = record["loss"]
    return out


def saved_params(model_dir: Path, step: int) -> dict[str, np.ndarray]:
    """Flattened parameters of a train checkpoint, as numpy (any saving mesh)."""
    path = model_dir / "checkpoints" / str(step) / "state"
    tree = ocp.PyTreeCheckpointer().restore(path)
    flat = {}

    def visit(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                visit(f"{prefix}/{k}", v)
        else:
            flat[prefix] = np.asarray(node)

    visit("", tree["params"])
    return flat
