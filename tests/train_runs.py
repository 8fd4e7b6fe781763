"""Helpers for tests that run `xlmr train` (tiny_cpu.gin) in subprocesses and read the results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
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
    """Flattened parameters of a train checkpoint, as numpy (any saving mesh and processes)."""
    path = model_dir / "checkpoints" / str(step) / "state"
    checkpointer = ocp.PyTreeCheckpointer()
    stored = checkpointer.metadata(path).item_metadata.tree
    as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), stored)
    tree = checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=as_numpy))
    flat = {}

    def visit(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                visit(f"{prefix}/{k}", v)
        else:
            flat[prefix] = np.asarray(node)

    visit("", tree["params"])
    return flat


def kill_inside_save(proc: subprocess.Popen, checkpoints: Path, last_step: int) -> str | None:
    """SIGKILLs `proc` inside a save of a step before `last_step`, once one step is saved.

    The kill lands at an observed point: the process is frozen (SIGSTOP) and a save's
    temporary directory is seen while it is; a save that completed before the freeze is let go
    (SIGCONT) and the next one is awaited. Returns the interrupted directory's name, or None if
    the run ended first.
    """
    while proc.poll() is None:
        if _complete_steps(checkpoints) and _partial_saves(checkpoints, last_step):
            proc.send_signal(signal.SIGSTOP)
            partial = _partial_saves(checkpoints, last_step)
            if partial:
                proc.kill()
                proc.wait()
                return partial[0]
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.001)  # a polling interval; nothing depends on its length
    return None


def _complete_steps(checkpoints: Path) -> list[int]:
    return sorted(int(p.name) for p in checkpoints.glob("*") if p.name.isdigit())


def _partial_saves(checkpoints: Path, last_step: int) -> list[str]:
    """Orbax's temporary directories (`<step>.orbax-checkpoint-tmp-*`) of steps < last_step."""
    return [
        p.name
        for p in checkpoints.glob("*.orbax-checkpoint-tmp*")
        if int(p.name.split(".")[0]) < last_step
    ]
