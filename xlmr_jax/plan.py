"""Ahead-of-time plan of a train step: compile on abstract arrays over a simulated mesh (CPU only)
and report per-device memory from the compiled program, FLOPs, and whether it fits a device."""

from __future__ import annotations

import dataclasses
import time

from xlmr_jax import flops, sharding
from xlmr_jax.config import ModelConfig
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
    from xlmr_jax.data.masking import MaskingConfig, mask_tokens

    mesh = sharding.make_mesh(mesh_config)
    sharding.validate_model_on_mesh(cfg, mesh, batch_size, fsdp=mesh_config.fsdp)
    max_predictions = MaskingConfig().max_predictions(seq_len)

    def mask_fn(key, ids):
        return mask_tokens(
            key,
            ids,
            mask_id=_MASK_ID,
            pad_id=cfg.pad_id,
            special_ids=(0, 1, 2, 3),
            vocab_low=_FIRST_REAL_ID,
            vocab_high=_MASK_ID,
            max_predictions=max_predictions,
        )

    model = XLMRoberta(cfg)
    optimizer = make_optimizer(learning_rate_schedule(total_steps=2, warmup_steps=1))
    trainer = mlm_trainer(
        model, optimizer, mesh, mask_fn, StepConfig(microbatches=microbatches), mesh_config.fsdp
    )
    start = time.perf_counter()
    compiled = trainer.compile_abstract(batch_size, seq_len)
    seconds = time.perf_counter() - start
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
        compile_seconds=seconds,
    )


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
