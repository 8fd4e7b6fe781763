"""One MLM train step of xlmr-jax beside HF PyTorch and HF Flax XLM-R, measured in one run.

The step is forward + masked-LM loss + backward + global-norm clipping + AdamW, dropout 0.1, on
the same shapes for every implementation. Each (shape, implementation) runs in its own
subprocess, so peak RSS belongs to one implementation; the parent prints a table and the ratio
ours / best peer per shape, and writes everything to --json.

  ours      xlmr_jax Trainer (jit, masking on device, LM head only at the masked slots),
            `xla` attention (einsum, attention dropout 0.1)
  ours_cudnn  the same with cuDNN flash attention (ModelConfig.attention_impl="cudnn"), which
            applies no attention dropout (attention_dropout_rate 0; hidden dropout stays 0.1)
  hf_torch  transformers XLMRobertaForMaskedLM, eager, SDPA attention, torch.optim.AdamW;
            labels -100 except the masked positions (HF computes [B, L, V] logits)
  hf_flax   transformers 4.x FlaxXLMRobertaForMaskedLM under jax.jit with optax AdamW; the loss
            gathers the masked positions after the full [B, L, V] logits (HF's own
            run_mlm_flax.py uses a one-hot loss over all positions, which is slower)

CPU: fp32 everywhere (bf16 compute is slower on CPU, see shared/MEASURED.md). GPU (--device
gpu): bf16 compute over fp32 params for ours and HF Flax, torch.autocast(bf16) + SDPA for HF
PyTorch, default seq 512, and MFU from xlmr_jax/flops.py. Usage: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from xlmr_jax import host_env  # noqa: E402  (stdlib-only module)

MALLOCS = ("hugepages", "default")
IMPLS = ("ours", "ours_cudnn", "hf_torch", "hf_flax")
OURS = ("ours", "ours_cudnn")
PEERS = ("hf_torch", "hf_flax")
MASK_PROB = 0.15
SPECIAL_IDS = (0, 1, 2, 3)  # <s>, <pad>, </s>, <unk>
PAD_ID = 1
RESULT_PREFIX = "BENCHMARK_RESULT "


@dataclasses.dataclass(frozen=True)
class Shape:
    """Model sizes and the batch of one benchmark row."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    mlp_dim: int
    seq_len: int
    batch_size: int

    @property
    def mask_id(self) -> int:
        return self.vocab_size - 1  # <mask> is the last id of the XLM-R vocabulary

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size


# CPU shapes match shared/MEASURED.md. tiny is the `tiny` preset the demo trains (its own 8002-id
# SentencePiece vocabulary); small and base carry the full 250002-row XLM-R embedding.
CPU_SHAPES = {
    "tiny": Shape(8002, 64, 2, 4, 256, seq_len=128, batch_size=8),
    "small": Shape(250002, 256, 4, 4, 1024, seq_len=128, batch_size=8),
    "base": Shape(250002, 768, 12, 12, 3072, seq_len=128, batch_size=4),
    "large": Shape(250002, 1024, 24, 16, 4096, seq_len=128, batch_size=4),
}
# Accelerator shapes (issue 6): base and large at seq 512.
GPU_SHAPES = {
    "tiny": Shape(8002, 64, 2, 4, 256, seq_len=512, batch_size=32),
    "small": Shape(250002, 256, 4, 4, 1024, seq_len=512, batch_size=32),
    "base": Shape(250002, 768, 12, 12, 3072, seq_len=512, batch_size=32),
    "large": Shape(250002, 1024, 24, 16, 4096, seq_len=512, batch_size=16),
}


def masked_per_sequence(seq_len: int) -> int:
    """Positions the peers predict per sequence: the mean of ours, 0.15 * (L - 2) (19 at 128)."""
    return max(1, round(MASK_PROB * (seq_len - 2)))


def model_config(shape: Shape, dtype: str, **overrides: Any):
    from xlmr_jax.config import ModelConfig

    return ModelConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        num_layers=shape.num_layers,
        num_heads=shape.num_heads,
        mlp_dim=shape.mlp_dim,
        dtype=dtype,
        **overrides,
    )


def hf_config(shape: Shape, **kw: Any):
    """An explicit XLM-R config (HF's XLMRobertaConfig() defaults are not XLM-R's)."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.mlp_dim,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=PAD_ID,
        bos_token_id=0,
        eos_token_id=2,
        **kw,
    )


# ----------------------------------------------------------------------------------------------
# Inputs: full-length <s> ... </s> rows (no padding), the same for every implementation.


def host_batches(shape: Shape, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` distinct batches: uncorrupted ids (ours masks on device) and, for the peers,
    ids with `masked_per_sequence` positions set to <mask> plus their positions and targets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    b, n = shape.batch_size, shape.seq_len
    m = masked_per_sequence(n)
    batches = []
    for _ in range(count):
        ids = rng.integers(len(SPECIAL_IDS), shape.mask_id, (b, n), dtype=np.int32)
        ids[:, 0], ids[:, -1] = 0, 2
        positions = np.sort(
            np.stack([rng.choice(np.arange(1, n - 1), m, replace=False) for _ in range(b)]), 1
        ).astype(np.int32)
        targets = np.take_along_axis(ids, positions, 1)
        corrupted = ids.copy()
        np.put_along_axis(corrupted, positions, shape.mask_id, 1)
        labels = np.full((b, n), -100, np.int64)
        np.put_along_axis(labels, positions, targets.astype(np.int64), 1)
        batches.append(
            {
                "input_ids": ids,
                "language": np.zeros((b,), np.int32),
                "corrupted_ids": corrupted,
                "positions": positions,
                "targets": targets,
                "labels": labels,
            }
        )
    return batches


# ----------------------------------------------------------------------------------------------
# One implementation per child process. Each returns (step function, setup facts); the step
# function runs one synchronised step on batch i.


def _mask_fn(shape: Shape):
    """xlmr_jax.data.masking.mask_tokens bound to this vocabulary, and its slot count M."""
    import functools
    import inspect

    from xlmr_jax.data import masking

    if hasattr(masking, "max_predictions_for"):
        slots = masking.max_predictions_for(shape.seq_len)
    else:
        slots = masking.MaskingConfig().max_predictions(shape.seq_len)
    kwargs = dict(
        mask_id=shape.mask_id,
        pad_id=PAD_ID,
        special_ids=SPECIAL_IDS,
        vocab_low=len(SPECIAL_IDS),
        vocab_high=shape.mask_id,
        max_predictions=slots,
    )
    accepted = inspect.signature(masking.mask_tokens).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    return functools.partial(masking.mask_tokens, **kwargs), slots


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
    mask_fn, slots = _mask_fn(shape)
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
        "hlo_text": lambda: trainer._compiled_train.as_text(),
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


def _device_facts(impl: str, spec: dict) -> dict[str, Any]:
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


def run_child(spec: dict) -> dict[str, Any]:
    """Measure one implementation on one shape in this process."""
    shape = Shape(**spec["shape"])
    impl = spec["impl"]
    result: dict[str, Any] = {
        "impl": impl,
        "shape_name": spec["shape_name"],
        "malloc": spec["malloc"],
    }
    try:
        start = time.perf_counter()
        batches = host_batches(shape, count=min(4, 1 + spec["warmup"] + spec["steps"]))
        result["rss_before_setup_mib"] = _rss_mib()
        step, facts, extras = SETUPS[impl](shape, spec, batches)
    except ImportError as err:
        return {**result, "status": "skipped", "reason": f"not importable: {err}"}
    result.update(facts)
    result["setup_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    losses = [step(0)]  # ours compiles here
    result["first_step_seconds"] = time.perf_counter() - start
    for i in range(spec["warmup"]):
        losses.append(step(1 + i))
    times, faults, system = [], [], []
    for i in range(spec["steps"]):
        usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        losses.append(step(1 + spec["warmup"] + i))
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults.append(after.ru_minflt - usage.ru_minflt)
        system.append(after.ru_stime - usage.ru_stime)
    median = statistics.median(times)
    result.update(
        status="ok",
        step_seconds=times,
        step_seconds_median=median,
        tokens_per_second=shape.tokens_per_step / median,
        # Page faults and kernel CPU time per step: fresh large buffers cost page faults.
        minor_page_faults_per_step=statistics.median(faults),
        system_cpu_seconds_per_step=statistics.median(system),
        losses=losses,
        peak_rss_mib=_rss_mib(),
        **_device_facts(impl, spec),
    )
    if "compile_seconds" in extras:
        result["compile_seconds"] = extras["compile_seconds"]()
    if spec.get("profile_dir") and "hlo_text" in extras:
        result["profile"] = profile_steps(step, spec, extras["hlo_text"]())
    return result


def profile_steps(step, spec: dict, hlo_text: str, count: int = 2) -> dict[str, Any]:
    """Per-op time of `count` more steps from a jax.profiler trace, grouped by layer kind.

    Trace events are XLA ops (fusions, dots, copies); their `op_name` metadata in the compiled
    HLO says which part of the program they come from.
    """
    import collections
    import gzip
    import re

    import jax

    out_dir = Path(spec["profile_dir"]) / f"{spec['shape_name']}_{spec['impl']}"
    with jax.profiler.trace(str(out_dir), create_perfetto_trace=True):
        for i in range(count):
            step(i)
    op_names = dict(re.findall(r"%(\S+) = [^\n]*?op_name=\"([^\"]*)\"", hlo_text))
    trace_file = sorted(out_dir.glob("**/perfetto_trace.json.gz"))[-1]
    events = json.load(gzip.open(trace_file))
    events = events["traceEvents"] if isinstance(events, dict) else events
    per_op: collections.Counter = collections.Counter()
    for e in events:
        name = str(e.get("name"))
        # XLA ops are named like HLO instructions (`ynn_fusion.12`, `copy.3`); runtime and
        # Python events (`ThunkExecutor::Execute`, `$file.py:12 f`) are not.
        if e.get("ph") == "X" and (name in op_names or re.fullmatch(r"[a-z][\w-]*(\.\d+)?", name)):
            per_op[name] += e.get("dur", 0) / 1e3 / count  # ms per step
    groups: collections.Counter = collections.Counter()
    for name, ms in per_op.items():
        groups[_op_group(name, op_names.get(name, ""))] += ms
    return {
        "trace_dir": str(out_dir),
        "ms_per_step_by_group": {k: round(v, 1) for k, v in groups.most_common()},
        "top_ops": [
            {"op": name, "ms_per_step": round(ms, 1), "op_name": op_names.get(name, "")}
            for name, ms in per_op.most_common(40)
        ],
    }


def _op_group(name: str, op_name: str) -> str:
    """A coarse label for an XLA op from its name and op_name metadata."""
    backward = "transpose(" in op_name
    if any(k in op_name for k in ("random", "threefry", "bernoulli")):
        return "dropout rng"
    for key, label in (
        ("lm_head", "lm head"),
        ("attend", "lm head"),
        ("attention", "attention"),
        ("/mlp/", "mlp"),
        ("layer_norm", "layernorm"),
        ("LayerNorm", "layernorm"),
        ("embeddings", "embeddings"),
    ):
        if key in op_name:
            return f"{label} {'bwd' if backward else 'fwd'}"
    if "/cond/" in op_name or any(
        k in op_name for k in ("select_n", "_where", "/div", "/sqrt", "/pow", "adam")
    ):
        return "optimizer"
    if name.startswith("copy") and not op_name:
        return "copies (buffer copies inserted by XLA)"
    if "reduce" in op_name and "jvp()" in op_name:
        return "loss/metrics"
    return "other"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------------------------
# Parent: one subprocess per (shape, implementation), then the table and ratios.


def _child_env(impl: str, device: str, malloc: str) -> dict[str, str]:
    env = dict(os.environ)
    tunables = [t for t in env.pop("GLIBC_TUNABLES", "").split(":") if "malloc.hugetlb" not in t]
    if tunables != [""] and tunables:
        env["GLIBC_TUNABLES"] = ":".join(tunables)
    if malloc == "hugepages":  # what the `xlmr` command sets for itself (xlmr_jax/host_env.py)
        env = host_env.with_malloc_hugepages(env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Keep transformers from importing the frameworks a child does not use (their RSS).
    env["USE_TF"] = "0"
    if impl == "hf_flax":
        env["USE_TORCH"] = "0"
    if impl == "hf_torch":
        env["USE_FLAX"] = "0"
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_in_subprocess(spec: dict, timeout: float) -> dict[str, Any]:
    base = {k: spec[k] for k in ("impl", "shape_name", "malloc")}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(spec["impl"], spec["device"], spec["malloc"]),
        )
    except subprocess.TimeoutExpired:
        return {**base, "status": "failed", "reason": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["load_average_1min"] = [load_before, os.getloadavg()[0]]
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {**base, "status": "failed", "reason": f"exit {proc.returncode}: " + "\n".join(tail)}


def _flop_facts(result: dict, shape: Shape, device_kind: str | None) -> None:
    """Analytic FLOPs of what the implementation computes, achieved FLOP/s and MFU."""
    from xlmr_jax import flops

    cfg = model_config(shape, "float32")
    per_sequence = flops.train_flops_per_sequence(
        cfg, shape.seq_len, result["head_positions_per_sequence"]
    )
    step_flops = per_sequence * shape.batch_size
    result["flops_per_step"] = step_flops
    result["achieved_tflops_per_second"] = step_flops / result["step_seconds_median"] / 1e12
    peak = flops.peak_flops(device_kind) if device_kind else None
    if peak:
        result["mfu"] = step_flops / result["step_seconds_median"] / peak


def machine_facts(device: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "device": device,
    }


def versions() -> dict[str, str | None]:
    out = {}
    for name in ("jax", "jaxlib", "flax", "optax", "transformers", "torch", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def ratios(results: list[dict]) -> dict[str, dict[str, Any]]:
    """Per shape: ours / best peer in tokens/s (median over repeats of per-run medians)."""
    out: dict[str, dict[str, Any]] = {}
    by_shape: dict[str, dict[str, list[float]]] = {}
    for r in results:
        if r.get("status") == "ok":
            by_shape.setdefault(r["shape_name"], {}).setdefault(r["impl"], []).append(
                r["tokens_per_second"]
            )
    for shape_name, impls in by_shape.items():
        tps = {impl: statistics.median(v) for impl, v in impls.items()}
        entry: dict[str, Any] = {"tokens_per_second": tps}
        peers = {k: v for k, v in tps.items() if k in PEERS}
        if "ours" in tps and peers:
            best = max(peers, key=peers.get)
            entry["best_peer"] = best
            entry["ours_over_best_peer"] = tps["ours"] / peers[best]
        for ours in (o for o in OURS if o in tps):
            for peer, value in peers.items():
                entry[f"{ours}_over_{peer}"] = tps[ours] / value
        out[shape_name] = entry
    return out


def format_table(results: list[dict], ratio: dict[str, dict[str, dict]]) -> str:
    header = (
        "| shape | malloc | impl | tokens/s | median step s | compile s | peak RSS GiB | "
        "TFLOP/s | MFU |"
    )
    lines = [header, "|" + "---|" * 9]
    for r in results:
        head = f"| {r['shape_name']} | {r['malloc']} | {r['impl']} |"
        if r.get("status") != "ok":
            reason = r.get("reason", "").splitlines()[-1] if r.get("reason") else ""
            lines.append(f"{head} {r.get('status')}: {reason} |||||")
            continue
        compile_s = f"{r['compile_seconds']:.1f}" if "compile_seconds" in r else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        lines.append(
            f"{head} {r['tokens_per_second']:.1f} | "
            f"{r['step_seconds_median']:.3f} | {compile_s} | {r['peak_rss_mib'] / 1024:.2f} | "
            f"{r['achieved_tflops_per_second']:.3f} | {mfu} |"
        )
    for malloc, per_shape in ratio.items():
        for shape_name, entry in per_shape.items():
            if "ours_over_best_peer" in entry:
                lines.append(
                    f"\n{shape_name}, malloc {malloc}: ours / best peer ({entry['best_peer']}) = "
                    f"{entry['ours_over_best_peer']:.2f}x"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--shapes", default="tiny,small,base", help="comma list of tiny,small,base,large"
    )
    p.add_argument(
        "--impls",
        help="comma list of " + ",".join(IMPLS) + " (default: ours,hf_torch,hf_flax on CPU; "
        "ours,ours_cudnn,hf_torch on GPU)",
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps after the first one")
    p.add_argument("--repeats", type=int, default=1, help="runs per implementation, interleaved")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--seq-len", type=int, help="override every shape's sequence length")
    p.add_argument("--batch-size", type=int, help="override every shape's batch size")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    p.add_argument(
        "--ours-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ModelConfig override for ours (e.g. scan_layers=true), repeatable",
    )
    p.add_argument(
        "--ours-step",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="StepConfig override for ours (e.g. skip_nonfinite=false), repeatable",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also trace 2 steps of the jitted implementations into DIR and report time per op",
    )
    p.add_argument(
        "--malloc",
        default="hugepages",
        help="comma list of hugepages (glibc.malloc.hugetlb=1, as `xlmr` runs), default; "
        "every implementation runs under each",
    )
    p.add_argument("--json", type=Path, help="write all results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.impls is None:
        gpu = args.device == "gpu"
        args.impls = "ours,ours_cudnn,hf_torch" if gpu else "ours,hf_torch,hf_flax"
    for name in args.impls.split(","):
        if name not in IMPLS:
            p.error(f"unknown implementation {name!r}; choose from {IMPLS}")
    for name in args.malloc.split(","):
        if name not in MALLOCS:
            p.error(f"unknown --malloc {name!r}; choose from {MALLOCS}")
    shapes = GPU_SHAPES if args.device == "gpu" else CPU_SHAPES
    for name in args.shapes.split(","):
        if name not in shapes:
            p.error(f"unknown shape {name!r}; choose from {sorted(shapes)}")
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        p.error("--steps and --repeats must be >= 1 and --warmup >= 0")
    return args


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = json.loads(value) if value not in ("", None) else None
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child:
        result = run_child(json.loads(args.child))
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return result

    shapes = GPU_SHAPES if args.device == "gpu" else CPU_SHAPES
    load = os.getloadavg()
    if args.device == "cpu" and load[0] > 1.5:
        print(f"warning: load average {load[0]:.2f} > 1.5: timings are not representative")
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": machine_facts(args.device),
        "versions": versions(),
        "load_average_start": list(load),
        "settings": {
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "threads": args.threads,
            "ours_config": _overrides(args.ours_config),
            "ours_step": _overrides(args.ours_step),
            "malloc": args.malloc.split(","),
        },
        "shapes": {},
        "results": [],
    }
    for shape_name in args.shapes.split(","):
        shape = shapes[shape_name]
        shape = dataclasses.replace(
            shape,
            seq_len=args.seq_len or shape.seq_len,
            batch_size=args.batch_size or shape.batch_size,
        )
        report["shapes"][shape_name] = {
            **dataclasses.asdict(shape),
            "masked_per_sequence": masked_per_sequence(shape.seq_len),
        }
        runs = [(m, impl) for m in args.malloc.split(",") for impl in args.impls.split(",")]
        for _ in range(args.repeats):
            for malloc, impl in runs:
                spec = {
                    "impl": impl,
                    "malloc": malloc,
                    "shape_name": shape_name,
                    "shape": dataclasses.asdict(shape),
                    "device": args.device,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "threads": args.threads,
                    "profile_dir": str(args.profile.resolve()) if args.profile else None,
                    **{k: report["settings"][k] for k in ("ours_config", "ours_step")},
                }
                label = f"[{shape_name}, malloc {malloc}] {impl}"
                print(f"{label} ...", flush=True)
                result = run_in_subprocess(spec, args.timeout)
                if result.get("status") == "ok":
                    _flop_facts(result, shape, result.get("device_kind"))
                    print(
                        f"{label}: {result['tokens_per_second']:.1f} tokens/s, "
                        f"peak RSS {result['peak_rss_mib'] / 1024:.2f} GiB",
                        flush=True,
                    )
                else:
                    print(f"{label}: {result.get('status')}: {result.get('reason')}")
                report["results"].append(result)
    report["load_average_end"] = list(os.getloadavg())
    report["ratios"] = {
        m: ratios([r for r in report["results"] if r.get("malloc") == m])
        for m in args.malloc.split(",")
    }
    print(format_table(report["results"], report["ratios"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
