"""The pretraining loop: data -> sharded step -> metrics -> orbax checkpoints, with exact resume."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import gin
import jax
import numpy as np
from jax.experimental import multihost_utils

from xlmr_jax import flops, model_checkpoint, sharding, storage
from xlmr_jax.config import ModelConfig, check_same_sizes
from xlmr_jax.model import XLMRoberta, stack_layers, unstack_layers
from xlmr_jax.training import core
from xlmr_jax.training.mlm_data import MLMInputs, mlm_inputs
from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
from xlmr_jax.training.profiling import StepProfiler
from xlmr_jax.training.run_lock import RunLock
from xlmr_jax.training.summaries import MetricWriter
from xlmr_jax.training.train_checkpoints import CheckpointConfig, TrainCheckpoints
from xlmr_jax.training.train_step import StepConfig
from xlmr_jax.training.trainer import Trainer, mlm_trainer

log = logging.getLogger(__name__)


# (split, global batch size, seed) -> MLMInputs (per-host source + on-device masking).
DataFn = Callable[[str, int, int], MLMInputs]


@dataclasses.dataclass
class TrainResult:
    step: int
    train_losses: dict[int, float]
    validation_losses: dict[int, float]
    preempted: bool
    state: Any


@gin.configurable
def train(
    model_dir: str = gin.REQUIRED,
    *,
    model_config: ModelConfig = gin.REQUIRED,
    data_fn: DataFn = mlm_inputs,
    total_steps: int = gin.REQUIRED,
    batch_size: int = 8192,
    microbatches: int = 1,
    seed: int = 0,
    mesh_config: sharding.MeshConfig | None = None,
    checkpoint_config: CheckpointConfig | None = None,
    log_every: int = 100,
    eval_every: int = 1000,
    eval_batches: int = 20,
    init_checkpoint: str | None = None,
    on_nonfinite: str = "skip",
    stop_after: int | None = None,
    export_model: bool = True,
    profile_steps: tuple[int, int] | None = None,
) -> TrainResult:
    """Pretrain (or continue pretraining) an MLM; resumes from MODEL_DIR/checkpoints if present.

    on_nonfinite: "skip" drops an update whose loss/gradients are not finite (and counts it);
    "stop" raises with the step and writes the offending batch to MODEL_DIR.
    stop_after: end after this many steps in this process (the schedule still spans total_steps).
    export_model: when training reaches total_steps, also write MODEL_DIR/model, a model
    checkpoint (parameters, config, SentencePiece model) for fine-tuning, fill-mask and export.
    profile_steps: (first, last) steps to trace with jax.profiler into MODEL_DIR/tensorboard.
    """
    if on_nonfinite not in ("skip", "stop"):
        raise ValueError(f"train.on_nonfinite must be 'skip' or 'stop', got {on_nonfinite!r}.")
    model_dir = storage.as_path(model_dir, "MODEL_DIR (train.model_dir)")
    mesh_config = mesh_config or sharding.MeshConfig()
    checkpoint_config = checkpoint_config or CheckpointConfig()
    mesh = sharding.make_mesh(mesh_config)
    sharding.validate_model_on_mesh(model_config, mesh, batch_size, fsdp=mesh_config.fsdp)
    log.info("%s", describe_devices(mesh, model_config))
    if batch_size % microbatches:
        raise ValueError(
            f"batch_size={batch_size} is not divisible by microbatches={microbatches}."
        )

    inputs = data_fn("train", batch_size, seed)
    if inputs.vocab_size > model_config.vocab_size:
        raise ValueError(
            f"The vocabulary has {inputs.vocab_size} ids but the model only "
            f"{model_config.vocab_size} embedding rows; set ModelConfig.vocab_size."
        )
    train_data = inputs.source
    validation = data_fn("validation", batch_size, seed) if eval_every else None
    model = XLMRoberta(model_config)
    schedule = learning_rate_schedule(total_steps)
    optimizer = make_optimizer(schedule)
    step_config = StepConfig(
        num_languages=len(train_data.languages),
        microbatches=microbatches,
        skip_nonfinite=on_nonfinite == "skip",
    )
    trainer = mlm_trainer(
        model, optimizer, mesh, inputs.mask_fn, step_config, fsdp=mesh_config.fsdp
    )
    with RunLock(model_dir):  # one job per MODEL_DIR, before orbax touches it
        checkpoints = TrainCheckpoints(model_dir, checkpoint_config)
        writer = profiler = None
        try:
            resumed = core.resume(trainer, checkpoints, train_data)
            if resumed:
                state = resumed[0]
            else:
                state = trainer.init_state(seed, _initial_params(init_checkpoint, model_config))

            start = int(state.step)
            last = total_steps if stop_after is None else min(total_steps, start + stop_after)
            writer = MetricWriter(model_dir, total_steps, start)
            profiler = StepProfiler(model_dir, profile_steps)
            result = TrainResult(start, {}, {}, False, None)
            step_flops = batch_size * flops.train_flops_per_sequence(
                model_config, inputs.sequence_length, inputs.max_predictions
            )
            progress = _Progress(
                model_dir,
                trainer,
                writer,
                schedule,
                train_data.languages,
                result,
                start,
                last,
                log_every,
                batch_size,
                tokens_per_step=batch_size * inputs.sequence_length,
                step_flops=step_flops,
                num_devices=sharding.num_devices(mesh),
            )
            hooks = [core.Hook(progress, every=1)]
            if eval_every:

                def run_validation(step, state, metrics):
                    val = validate(trainer, state, validation.source, seed, eval_batches)
                    result.validation_losses[step] = val["loss"]
                    writer.write(step, val, split="validation")

                hooks.append(core.Hook(run_validation, every=eval_every))
            end = core.run_steps(
                trainer,
                state,
                train_data,
                last_step=last,
                checkpoints=checkpoints,
                writer=writer,
                hooks=hooks,
                nonfinite_dir=model_dir if on_nonfinite == "stop" else None,
                profiler=profiler,
            )
            state, result.preempted = end.state, end.preempted
            result.step, result.state = int(state.step), state
            exported = start == total_steps and (model_dir / "model" / "config.json").exists()
            if export_model and result.step == total_steps and not exported:  # never re-written
                _export(model_dir / "model", state.params, model_config, inputs.vocabulary_file)
        finally:
            core.close_run(checkpoints, writer, profiler)
    return result


@dataclasses.dataclass
class _Progress:
    """Train scalars every `log_every` steps (and the last), with throughput and MFU; after
    the first step (the compiled one) it writes the operative config and restarts the clock."""

    model_dir: storage.Path
    trainer: Trainer
    writer: MetricWriter
    schedule: Callable[[int], Any]
    languages: list[str]
    result: TrainResult
    start: int
    last: int
    log_every: int
    batch_size: int
    tokens_per_step: int
    step_flops: float
    num_devices: int
    peak: float | None = dataclasses.field(
        default_factory=lambda: flops.peak_flops(jax.devices()[0].device_kind)
    )
    interval_start: float = dataclasses.field(default_factory=time.perf_counter)
    interval_steps: int = 0

    def __call__(self, step: int, state, metrics: dict) -> None:
        self.interval_steps += 1
        if step == self.start + 1:
            _write_operative_config(self.model_dir)
            self.interval_start, self.interval_steps = time.perf_counter(), 0  # no compile
        if step % self.log_every and step != self.last:
            return
        scalars = _train_scalars(metrics, self.languages)
        self.result.train_losses[step] = scalars["loss"]
        elapsed = time.perf_counter() - self.interval_start
        if self.interval_steps and elapsed > 0:
            step_time = elapsed / self.interval_steps
            scalars.update(
                step_time=step_time,
                tokens_per_second=self.tokens_per_step / step_time,
                seqs_per_second=self.batch_size / step_time,
            )
            if self.peak:
                scalars["mfu"] = self.step_flops / step_time / (self.num_devices * self.peak)
        scalars.update(device_memory_stats())
        scalars.update(
            learning_rate=float(self.schedule(step - 1)),
            skipped_steps=int(state.skipped_steps),
            compile_seconds=self.trainer.compile_seconds,
        )
        self.writer.write(step, scalars)
        self.interval_start, self.interval_steps = time.perf_counter(), 0


def _export(directory: storage.Path, params, cfg: ModelConfig, spm_path: str) -> None:
    """The final parameters as a model checkpoint (per-layer layout, float32 numpy)."""
    if jax.process_count() > 1:
        params = multihost_utils.process_allgather(params, tiled=True)
    if cfg.scan_layers:
        params = unstack_layers(params, cfg.num_layers)
    if jax.process_index() == 0:
        model_checkpoint.save_model(
            directory, jax.device_get(params), cfg, spm_path=spm_path, overwrite=True
        )
        log.info("Model checkpoint written to %s.", directory)


def validate(trainer: Trainer, state, data, seed: int, num_batches: int) -> dict[str, float]:
    """Validation MLM loss, accuracy and perplexity, overall and per language.

    The same batches and masks every time: the source restarts from its first batch.
    """
    data.restore({**data.state(), "position": 0})
    key = jax.random.fold_in(jax.random.key(seed), 2**31 - 1)
    totals = None
    for i in range(num_batches):
        try:
            batch = next(data)
        except StopIteration:
            break
        sums = jax.device_get(trainer.eval_step(state, batch, jax.random.fold_in(key, i)))
        totals = sums if totals is None else jax.tree.map(np.add, totals, sums)
    if totals is None:
        raise ValueError(
            "The validation split yielded no batch; check the data's validation split."
        )
    count = max(float(totals["count"]), 1.0)
    out = {
        "loss": float(totals["loss_sum"]) / count,
        "accuracy": float(totals["correct"]) / count,
    }
    out["perplexity"] = float(np.exp(out["loss"]))
    for lang, loss_sum, n in zip(
        data.languages, totals["language_loss_sum"], totals["language_count"]
    ):
        if n > 0:
            out[f"loss/{lang}"] = float(loss_sum / n)
            out[f"perplexity/{lang}"] = float(np.exp(loss_sum / n))
    return out


def _train_scalars(metrics: dict, languages: list[str]) -> dict[str, float]:
    m = jax.device_get(metrics)
    scalars = {k: float(m[k]) for k in ("loss", "accuracy", "grad_norm", "masked_tokens")}
    for lang, loss_sum, n in zip(languages, m["language_loss_sum"], m["language_count"]):
        if n > 0:
            scalars[f"loss/{lang}"] = float(loss_sum / n)
    return scalars


def _initial_params(init_checkpoint: str | None, cfg: ModelConfig):
    """Parameters of an imported/exported model checkpoint (encoder + MLM head), or None."""
    if not init_checkpoint:
        return None
    loaded = model_checkpoint.load_model(init_checkpoint)
    check_same_sizes(loaded.config, cfg, f"init_checkpoint {init_checkpoint}")
    params = loaded.params
    return stack_layers(params, cfg.num_layers) if cfg.scan_layers else params


def _write_operative_config(model_dir: storage.Path) -> None:
    if jax.process_index() == 0:
        storage.write_text(model_dir / "config.gin", gin.operative_config_str())


def describe_devices(mesh, cfg: ModelConfig) -> str:
    """Device kind and count, processes, mesh, attention kernel, peak FLOP/s and memory."""
    device = jax.local_devices()[0]
    peak = flops.peak_flops(device.device_kind)
    stats = device.memory_stats() or {}
    limit = stats.get("bytes_limit")
    return (
        f"{jax.device_count()} x {device.device_kind} ({device.platform}) in "
        f"{jax.process_count()} process(es); mesh {dict(mesh.shape)}; attention "
        f"{cfg.attention_impl}; "
        + (f"peak {peak / 1e12:.0f} TFLOP/s per device (MFU logged); " if peak else "")
        + (f"{limit / 2**30:.1f} GiB per device for JAX." if limit else "no memory statistics.")
    )


def device_memory_stats() -> dict[str, float]:
    """This process's first device: memory in use, its peak and the limit in GiB (GPU/TPU)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    names = {"bytes_in_use": "in_use", "peak_bytes_in_use": "peak", "bytes_limit": "limit"}
    return {f"device_memory_{v}_gib": stats[k] / 2**30 for k, v in names.items() if k in stats}
