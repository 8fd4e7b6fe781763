"""Metric writers: MODEL_DIR/metrics.jsonl, TensorBoard event files, and a console progress bar."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import tqdm
from flax.metrics import tensorboard


class MetricWriter:
    """Writes scalars from process 0 only; every process may call it."""

    def __init__(self, model_dir: str | Path, total_steps: int, start_step: int = 0):
        self.enabled = jax.process_index() == 0
        if not self.enabled:
            return
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(model_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._tb = {
            split: tensorboard.SummaryWriter(
                str(model_dir / "tensorboard" / split), auto_flush=False
            )
            for split in ("train", "validation")
        }
        self._bar = tqdm.tqdm(
            total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, desc="train"
        )

    def write(self, step: int, scalars: dict[str, float], split: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, **{k: _py(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        writer = self._tb[split]
        for name, value in scalars.items():
            if isinstance(value, int | float) and math.isfinite(value):
                writer.scalar(name, value, step)
        writer.flush()
        if split == "train" and "loss" in scalars:
            self._bar.set_postfix(loss=f"{scalars['loss']:.3f}", refresh=False)
        elif split == "validation" and "loss" in scalars:
            self._bar.write(f"step {step}: validation loss {scalars['loss']:.4f}")

    def advance(self, steps: int = 1) -> None:
        if self.enabled:
            self._bar.update(steps)

    def close(self) -> None:
        if not self.enabled:
            return
        self._bar.close()
        self._jsonl.close()
        for writer in self._tb.values():
            writer.close()


def _py(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
