"""One implementation per child process: `SETUPS[impl](shape, spec, batches)` returns (step
function, setup facts, extras); the step function runs one synchronised step on batch i."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from step_bench.shapes import PAD_ID, SPECIAL_IDS, Shape, hf_config, model_config


def ours_mask_fn(shape: Shape):
    """xlmr_jax's masking bound to this vocabulary, and its slot count M."""
    from xlmr_jax.data.masking import MaskIds, MaskingConfig, bind_masking

    ids = MaskIds(shape.mask_id, PAD_ID, SPECIAL_IDS, len(SPECIAL_IDS), shape.mask_id)
    mask_fn = bind_masking(ids, shape.seq_len)
    return mask_fn, MaskingConfig().max_predictions(shape.seq_len)


def setup_ours(shape: Shape, spec: dict, batches: list[dict]):
    import jax

    from xlmr_jax import sharding
    from xlmr_jax.model import XLMRoberta
    from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
    from xlmr_jax.training.train_step import StepConfig
    from xlmr_jax.training.trainer import mlm_trainer

    dtype = "bfloat16" if spec["device"] == "gpu" else "float32"
    overrides = dict(spec.get("ours_config", {}))
    if spec["impl"] == "ours_cudnn":
        overrides.update(attention_impl="cudnn", attention_dropout_rate=0.0)
    cfg = model_config(shape, dtype, **overrides)
    model = XLMRoberta(cfg)
    optimizer = make_optimizer(learning_rate_schedule(total_steps=100_000, warmup_steps=1_000))
    mesh = sharding.make_mesh(sharding.MeshConfig(data=1, model=1), jax.devices()[:1])
    mask_fn, slots = ours_mask_fn(shape)
    step_config = StepConfig(**spec.get("ours_step", {}))
    trainer = mlm_trainer(model, optimizer, mesh, mask_fn, step_config)
    state = trainer.init_state(0)
    feeds = [{"input_ids": b["input_ids"], "language": b["language"]} for b in batches]
    holder = {"state": state}

    def step(i: int) -> float:
        holder["state"], metrics = trainer.train_step(holder["state"], feeds[i % len(feeds)])
        jax.block_until_ready((holder["state"], metrics))
        return float(metrics["loss"])

    facts = {
        "compute_dtype": dtype,
        "head_positions_per_sequence": slots,
        "model_config": {
            k: v
            for k, v in cfg.to_dict().items()
            if k in ("scan_layers", "remat_policy", "attention_impl", "attention_dropout_rate")
        },
        "step_config": dataclasses.asdict(step_config),
    }
    extras = {
        "compile_seconds": lambda: trainer.compile_seconds,
        "hlo_text": lambda: trainer.compiled_train.as_text(),
    }
    return step, facts, extras


def setup_hf_torch(shape: Shape, spec: dict, batches: list[dict]):
    import torch
    from transformers import XLMRobertaForMaskedLM

    gpu = spec["device"] == "gpu"
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = torch.device("cuda" if gpu else "cpu")
    model = XLMRobertaForMaskedLM(hf_config(shape, attn_implementation="sdpa")).to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=1e-4,
        betas=(0.9, 0.98),
        eps=1e-6,
        weight_decay=0.01,
        **({"fused": True} if gpu else {}),
    )
    feeds = [
        {
            "input_ids": torch.from_numpy(b["corrupted_ids"]).long().to(device),
            "attention_mask": torch.ones(b["corrupted_ids"].shape, dtype=torch.long).to(device),
            "labels": torch.from_numpy(b["labels"]).to(device),
        }
        for b in batches
    ]

    def step(i: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=gpu):
            loss = model(**feeds[i % len(feeds)]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if gpu:
            torch.cuda.synchronize()
        return float(loss.detach())

    facts = {
        "compute_dtype": "bfloat16 autocast" if gpu else "float32",
        "attn_implementation": model.config._attn_implementation,
        "torch_threads": torch.get_num_threads(),
        "head_positions_per_sequence": shape.seq_len,
    }
    return step, facts, {}


def setup_hf_flax(shape: Shape, spec: dict, batches: list[dict]):
    import jax
    import jax.numpy as jnp
    import optax
    from transformers import FlaxXLMRobertaForMaskedLM

    dtype = jnp.bfloat16 if spec["device"] == "gpu" else jnp.float32
    model = FlaxXLMRobertaForMaskedLM(hf_config(shape), seed=0, dtype=dtype)
    params = jax.device_put(model.params)
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(1e-4, b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.01),
    )
    opt_state = tx.init(params)

    def train_step(params, opt_state, ids, positions, targets, rng):
        rng, dropout_rng = jax.random.split(rng)

        def loss_fn(p):
            logits = model(
                ids,
                attention_mask=jnp.ones_like(ids),
                params=p,
                dropout_rng=dropout_rng,
                train=True,
            ).logits
            picked = jnp.take_along_axis(logits, positions[..., None], axis=1).astype(jnp.float32)
            return optax.softmax_cross_entropy_with_integer_labels(picked, targets).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, rng

    feeds = [
        tuple(jax.device_put(b[k]) for k in ("corrupted_ids", "positions", "targets"))
        for b in batches
    ]
    holder = {"carry": (params, opt_state), "rng": jax.random.key(0), "compile": 0.0}
    del params, opt_state
    start = time.perf_counter()
    compiled = (
        jax.jit(train_step, donate_argnums=(0, 1))
        .lower(*holder["carry"], *feeds[0], holder["rng"])
        .compile()
    )
    holder["compile"] = time.perf_counter() - start

    def step(i: int) -> float:
        params, opt_state, loss, holder["rng"] = compiled(
            *holder["carry"], *feeds[i % len(feeds)], holder["rng"]
        )
        holder["carry"] = (params, opt_state)
        jax.block_until_ready((holder["carry"], loss))
        return float(loss)

    facts = {
        "compute_dtype": jnp.dtype(dtype).name,
        "head_positions_per_sequence": shape.seq_len,
        "loss": "masked positions gathered after the full [B, L, V] logits",
    }
    return step, facts, {"compile_seconds": lambda: holder["compile"], "hlo_text": compiled.as_text}


SETUPS = {
    "ours": setup_ours,
    "ours_cudnn": setup_ours,
    "hf_torch": setup_hf_torch,
    "hf_flax": setup_hf_flax,
}


def device_facts(impl: str, spec: dict) -> dict[str, Any]:
    """Device kind and peak accelerator memory (GPU only)."""
    if spec["device"] != "gpu":
        return {}
    if impl == "hf_torch":
        import torch

        return {
            "device_kind": torch.cuda.get_device_name(0),
            "peak_device_mib": torch.cuda.max_memory_allocated() / 2**20,
        }
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    return {
        "device_kind": device.device_kind,
        "peak_device_mib": stats.get("peak_bytes_in_use", 0) / 2**20,
    }
