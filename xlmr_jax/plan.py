"""Ahead-of-time plan of a train step: compile on abstract arrays for a target (TPU topology via
libtpu, GPUs via the CUDA plugin, or simulated CPU devices) and report per-device memory from
that compiler, FLOPs, and whether it fits a device."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from xlmr_jax import flops, sharding, targets
from xlmr_jax.config import ModelConfig
from xlmr_jax.data.masking import MaskingConfig, mask_tokens
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
    "v6e": 32 * GIB,
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
    target: str = "cpu"
    compiler: str = "XLA:CPU (simulated devices)"
    budget_bytes: int | None = None  # what `fits` compares the total with
    error: str | None = None  # the compiler's message when the program does not fit

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
    target: targets.Target | None = None,
) -> Plan:
    """Compile the real train step on abstract arrays for `target` (default: the available,
    simulated CPU devices; `device_kind` and `headroom` then give the capacity to fit)."""
    target = target or targets.Target("cpu", "cpu")
    on_device = target.platform != "cpu"
    error, start = None, time.perf_counter()
    try:
        compiled, mesh = compile_train_step(
            cfg,
            mesh_config,
            batch_size=batch_size,
            seq_len=seq_len,
            microbatches=microbatches,
            target=target,
        )
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
    except Exception as e:  # the TPU compiler refuses a program over the chip's memory
        if "RESOURCE_EXHAUSTED" not in str(e):
            raise
        mesh = sharding.make_mesh(mesh_config, targets.devices(target) if on_device else None)
        error = str(e).strip().splitlines()[0][:600]
        needed = _exhausted_bytes(error)  # temporaries alone: a lower bound of the total
        per_device = {"temporaries": needed, "total": needed}
    max_predictions = MaskingConfig().max_predictions(seq_len)
    step_flops = batch_size * flops.train_flops_per_sequence(cfg, seq_len, max_predictions)
    if on_device:
        device_kind, capacity, budget = target.kind, target.device_bytes, target.budget_bytes
    else:
        capacity = DEVICE_MEMORY.get(device_kind) if device_kind else None
        budget = None if capacity is None else int(headroom * capacity)
    fits = None if budget is None else error is None and per_device["total"] <= budget
    return Plan(
        model={
            k: getattr(cfg, k)
            for k in (
                "num_layers",
                "hidden_size",
                "num_heads",
                "mlp_dim",
                "vocab_size",
                "dtype",
                "attention_impl",
            )
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
        fits=fits,
        compile_seconds=time.perf_counter() - start,
        target=target.spec,
        compiler=_compiler_name(target, mesh),
        budget_bytes=budget,
        error=error,
    )


def compile_train_step(
    cfg: ModelConfig,
    mesh_config: sharding.MeshConfig,
    *,
    batch_size: int,
    seq_len: int = 512,
    microbatches: int = 1,
    target: targets.Target | None = None,
):
    """(compiled pretraining step, mesh) for abstract inputs on the target's devices (default:
    the available ones); `.memory_analysis()` and `.as_text()` are the target compiler's."""
    target = target or targets.Target("cpu", "cpu")
    devices = targets.devices(target) if target.platform != "cpu" else None
    mesh = sharding.make_mesh(mesh_config, devices)
    sharding.validate_model_on_mesh(cfg, mesh, batch_size, fsdp=mesh_config.fsdp)
    trainer = _trainer(cfg, mesh_config, mesh, seq_len, microbatches)
    return trainer.compile_abstract(batch_size, seq_len), mesh


def _exhausted_bytes(message: str) -> int | None:
    """The bytes a refused program needs, from libtpu's message ("... required for HLO
    temporaries (98.35G) exceeds available HBM (15.75G)" or "Used 21.5G of 15.75G hbm")."""
    found = re.search(r"\(([\d.]+)([KMGT]?)\) exceeds available", message) or re.search(
        r"Used ([\d.]+)([KMGT]?) of", message
    )
    if not found:
        return None
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    return int(float(found.group(1)) * scale[found.group(2)])


def _compiler_name(target: targets.Target, mesh) -> str:
    import jax

    if target.platform == "tpu":
        from importlib.metadata import version

        return f"libtpu {version('libtpu')} ({mesh.devices.flat[0].device_kind})"
    if target.platform == "gpu":
        return f"XLA:GPU, jax {jax.__version__} CUDA plugin ({targets.GPUS[target.kind]['name']})"
    return "XLA:CPU (simulated devices)"


def _trainer(cfg, mesh_config, mesh, seq_len: int, microbatches: int):
    """The pretraining Trainer for XLM-R's vocabulary layout (planning needs no vocabulary)."""
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

    optimizer = make_optimizer(learning_rate_schedule(total_steps=2, warmup_steps=1))
    step_config = StepConfig(microbatches=microbatches)
    return mlm_trainer(XLMRoberta(cfg), optimizer, mesh, mask_fn, step_config, mesh_config.fsdp)


def search(
    cfg: ModelConfig,
    mesh_config: sharding.MeshConfig,
    *,
    batch_size: int,
    seq_len: int,
    device_kind: str | None = None,
    max_microbatches: int = 16,
    target: targets.Target | None = None,
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
                target=target,
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
