"""Ahead-of-time plan of a train step: compile on abstract arrays over a simulated mesh (CPU only)
and report per-device memory from the compiled program, FLOPs, and whether it fits a device."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from xlmr_jax import flops, sharding
from xlmr_jax.config import ModelConfig
from xlmr_jax.data.masking import MaskIds, MaskingConfig, bind_masking
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
from xlmr_jax.training.train_step import StepConfig
from xlmr_jax.training.trainer import mlm_trainer

GIB = 1024**3
# Memory per device in bytes (HBM as the vendors state it).
DEVICE_MEMORY = {
    "h100": 80 * GIB,
    "h200": 141 * 10**9,
    "a100": 80 * GIB,
    "a100-40": 40 * GIB,
    "v4": 32 * GIB,
    "v5e": 16 * GIB,
    "v5p": 95 * GIB,
}
# XLM-R's <mask> and the real-token range: planning needs no vocabulary file.
_MASK_ID, _FIRST_REAL_ID = 250001, 4


@dataclasses.dataclass
class Plan:
    model: dict
    mesh: dict
    batch_size: int
    seq_len: int
    microbatches: int
    remat_policy: str
    per_device_bytes: dict[str, int]
    flops_per_step: float
    model_flops_per_token: float
    device_kind: str | None
    device_bytes: int | None
    fits: bool | None
    compile_seconds: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def plan_train_step(
    cfg: ModelConfig,
    mesh_config: sharding.MeshConfig,
    *,
    batch_size: int,
    seq_len: int = 512,
    microbatches: int = 1,
    device_kind: str | None = None,
    headroom: float = 0.9,
) -> Plan:
    """Compile the real train step on abstract arrays over the available (simulated) devices."""
    mesh = sharding.make_mesh(mesh_config)
    sharding.validate_model_on_mesh(cfg, mesh, batch_size, fsdp=mesh_config.fsdp)
    trainer = _trainer(cfg, mesh_config, mesh, seq_len, microbatches)
    compiled = trainer.compile_abstract(batch_size, seq_len)
    memory = compiled.memory_analysis()
    per_device = {
        "arguments": int(memory.argument_size_in_bytes),
        "outputs": int(memory.output_size_in_bytes),
        "aliased": int(memory.alias_size_in_bytes),
        "temporaries": int(memory.temp_size_in_bytes),
    }
    per_device["total"] = (
        per_device["arguments"]
        + per_device["outputs"]
        - per_device["aliased"]
        + per_device["temporaries"]
    )
    max_predictions = MaskingConfig().max_predictions(seq_len)
    step_flops = batch_size * flops.train_flops_per_sequence(cfg, seq_len, max_predictions)
    capacity = DEVICE_MEMORY.get(device_kind) if device_kind else None
    return Plan(
        model={
            k: getattr(cfg, k)
            for k in ("num_layers", "hidden_size", "num_heads", "mlp_dim", "vocab_size", "dtype")
        },
        mesh={**dict(mesh.shape), "fsdp": mesh_config.fsdp, "devices": sharding.num_devices(mesh)},
        batch_size=batch_size,
        seq_len=seq_len,
        microbatches=microbatches,
        remat_policy=cfg.remat_policy,
        per_device_bytes=per_device,
        flops_per_step=step_flops,
        model_flops_per_token=step_flops / (batch_size * seq_len),
        device_kind=device_kind,
        device_bytes=capacity,
        fits=None if capacity is None else per_device["total"] <= headroom * capacity,
        compile_seconds=trainer.compile_seconds,
    )


def _trainer(cfg, mesh_config, mesh, seq_len: int, microbatches: int):
    """The pretraining Trainer for XLM-R's vocabulary layout (planning needs no vocabulary)."""
    mask_fn = bind_masking(MaskIds.fairseq_layout(_MASK_ID + 1), seq_len)
    optimizer = make_optimizer(learning_rate_schedule(total_steps=2, warmup_steps=1))
    step_config = StepConfig(microbatches=microbatches)
    return mlm_trainer(XLMRoberta(cfg), optimizer, mesh, mask_fn, step_config, mesh_config.fsdp)


def search(
    cfg: ModelConfig,
    mesh_config: sharding.MeshConfig,
    *,
    batch_size: int,
    seq_len: int,
    device_kind: str,
    max_microbatches: int = 16,
) -> tuple[Plan, list[Plan]]:
    """The cheapest setting that fits: remat none -> dots_saveable -> full, then microbatches."""
    tried = []
    microbatches = 1
    while microbatches <= max_microbatches:
        for policy in ("none", "dots_saveable", "full"):
            plan = plan_train_step(
                cfg.replace(remat_policy=policy),
                mesh_config,
                batch_size=batch_size,
                seq_len=seq_len,
                microbatches=microbatches,
                device_kind=device_kind,
            )
            tried.append(plan)
            if plan.fits:
                return plan, tried
        microbatches *= 2
    return tried[-1], tried


def measure_peak_bytes(
    cfg: ModelConfig, *, batch_size: int, seq_len: int, microbatches: int = 1
) -> dict[str, int]:
    """Host memory of one real train step on one CPU device, to check `plan_train_step` against.

    `arguments`: the bytes of the state and batch actually allocated; `step_peak`: the kernel's
    resident-set high-water mark during one step above the resident set before it (Linux
    /proc; the mark is reset through /proc/self/clear_refs). Meaningful only in a process
    whose malloc touches every block it hands out and unmaps large blocks on free, so that
    resident memory is allocated memory: use `measure_peak_bytes_in_new_process`.
    """
    import jax
    import numpy as np

    mesh_config = sharding.MeshConfig()
    mesh = sharding.make_mesh(mesh_config)
    trainer = _trainer(cfg, mesh_config, mesh, seq_len, microbatches)
    trainer.compile_abstract(batch_size, seq_len)
    ids = np.random.default_rng(0).integers(_FIRST_REAL_ID, _MASK_ID, (batch_size, seq_len))
    ids[:, 0], ids[:, -1] = 0, 2  # <s> ... </s>
    batch = {"input_ids": ids.astype(np.int32), "language": np.zeros(batch_size, np.int32)}
    state = jax.block_until_ready(trainer.init_state(0))
    arguments = sum(x.nbytes for x in jax.tree.leaves((state, batch)))
    Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current resident set
    before = _resident_bytes("VmRSS")
    jax.block_until_ready(trainer.train_step(state, batch))
    step_peak = _resident_bytes("VmHWM") - before
    return {"arguments": arguments, "step_peak": step_peak, "total": arguments + step_peak}


def measure_peak_bytes_in_new_process(
    cfg: ModelConfig, *, batch_size: int, seq_len: int, microbatches: int = 1
) -> dict[str, int]:
    """`measure_peak_bytes` in a fresh process with one CPU device, whose glibc malloc fills
    every block it hands out (MALLOC_PERTURB_: no untouched pages, which the resident set would
    miss) and serves blocks of 64 KiB or more with their own mmap, unmapped on free."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "MALLOC_PERTURB_": "165",
        "MALLOC_MMAP_THRESHOLD_": str(64 * 1024),
        "MALLOC_TRIM_THRESHOLD_": str(64 * 1024),
    }
    env.pop("GLIBC_TUNABLES", None)
    code = (
        "import json, sys; from xlmr_jax import plan; from xlmr_jax.config import ModelConfig; "
        "a = json.loads(sys.argv[1]); "
        "print(json.dumps(plan.measure_peak_bytes(ModelConfig.from_dict(a['cfg']), "
        "batch_size=a['batch_size'], seq_len=a['seq_len'], microbatches=a['microbatches'])))"
    )
    arg = json.dumps(
        {
            "cfg": cfg.to_dict(),
            "batch_size": batch_size,
            "seq_len": seq_len,
            "microbatches": microbatches,
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", code, arg], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"Measuring the step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _resident_bytes(field: str) -> int:
    """VmRSS (current) or VmHWM (peak) of this process from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}: measuring needs Linux.")
