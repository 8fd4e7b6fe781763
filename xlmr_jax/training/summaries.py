"""Metric writers: MODEL_DIR/metrics.jsonl, TensorBoard event files, and a console progress bar.

Both files go through the path layer, so MODEL_DIR may be a gs:// URL. Event files are written
with TensorBoard's own record format and protos (TensorFlow's summary writer would reach GCS
through its own filesystem, which ignores STORAGE_EMULATOR_HOST; see storage.py).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from typing import Any

import jax
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from xlmr_jax import logs, storage

METRICS_FILE = "metrics.jsonl"


class EventFile:
    """One TensorBoard event file of scalars (`events.out.tfevents.*`, as tf.summary names it)."""

    def __init__(self, directory: storage.Path):
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}"
        self._records = RecordWriter(storage.AppendFile(directory / name))
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def _write(self, event: event_pb2.Event) -> None:
        self._records.write(event.SerializeToString())

    def scalar(self, tag: str, value: float, step: int) -> None:
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]
        )
        self._write(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()


class MetricWriter:
    """Writes scalars from process 0 only; every process may call it.

    On resume (`start_step` > 0) records after `start_step` in metrics.jsonl, logged by a run
    that was stopped before its next checkpoint, are dropped: no step appears twice.
    """

    def __init__(self, model_dir: storage.PathLike, total_steps: int, start_step: int = 0):
        self.enabled = jax.process_index() == 0
        if not self.enabled:
            return
        model_dir = storage.as_path(model_dir, "MODEL_DIR")
        model_dir.mkdir(parents=True, exist_ok=True)
        metrics = model_dir / METRICS_FILE
        self._jsonl = storage.AppendFile(metrics, keep=_records_until(metrics, start_step))
        self._events = {
            split: EventFile(model_dir / "tensorboard" / split) for split in ("train", "validation")
        }
        self._bar = logs.progress(
            total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, desc="train"
        )

    def write(self, step: int, scalars: dict[str, float], split: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, **{k: _py(v) for k, v in scalars.items()}}
        self._jsonl.write((json.dumps(record) + "\n").encode("utf-8"))
        self._jsonl.flush()
        events = self._events[split]
        for name, value in scalars.items():
            if isinstance(value, int | float) and math.isfinite(value):
                events.scalar(name, value, step)
        events.flush()
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
        for events in self._events.values():
            events.close()


def _records_until(path: storage.Path, step: int) -> bytes | None:
    """metrics.jsonl's lines up to `step` (None: keep the file as it is)."""
    if not path.exists():
        return None
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if _step(line) is not None and _step(line) <= step]
    return None if len(kept) == len(lines) else b"".join(kept)


def _step(line: bytes) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def _py(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
