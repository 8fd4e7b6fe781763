"""`xlmr plan --gin_file=pretrain/xlmr_xxl.gin --target tpu:v5p-128` (or `--devices=64` on CPU).

Compiles the real train step ahead of time on abstract arrays for `--target`: a TPU topology
with libtpu, GPUs with the CUDA plugin, or `cpu`, `--devices` simulated CPU devices fitted
against `--device_kind`. Reports per-device memory from that compiler, FLOPs, and the fit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from xlmr_jax import gin_utils


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)
    parser.add_argument(
        "--target",
        default="cpu",
        help="tpu:v5p-128 | tpu:v4-128 | tpu:v5e-16 | tpu:v6e-64 | tpu:v5e:2x4 | gpu:h100x64 | "
        "gpu:h200x8 | cpu (simulated: --devices, --device_kind)",
    )
    parser.add_argument("--devices", type=int, help="with --target cpu: devices to simulate")
    parser.add_argument(
        "--device_kind",
        default="h100",
        help="with --target cpu: h100 | h200 | a100 | a100-40 | v4 | v5e | v5p | v6e",
    )
    parser.add_argument(
        "--batch_size", type=int, default=2048, help="global batch (paper XL/XXL: 2048)"
    )
    parser.add_argument("--seq_len", type=int, default=512)
    parser.add_argument("--dtype", default="bfloat16", help="compute dtype (params stay float32)")
    parser.add_argument(
        "--remat", default="auto", help="auto (cheapest that fits) | none | dots_saveable | full"
    )
    parser.add_argument("--microbatches", type=int, default=1, help="with --remat other than auto")
    parser.add_argument(
        "--sweep_model_parallel",
        default=None,
        help="comma-separated model-axis sizes (e.g. 1,2,4,8): one plan per size, as a table",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="also run the planned step on this CPU (--devices 1) and report its measured peak",
    )
    parser.add_argument("--json", action="store_true")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    argv, bindings = gin_utils.split_gin_bindings(argv)
    args = parser.parse_args(argv)
    from xlmr_jax import targets

    target = targets.parse(args.target)  # a bad target: ValueError, the one error line
    if target.platform != "cpu" and not target.compiler_available():
        print(
            f"xlmr plan: note: the {target.platform.upper()} compiler is not installed "
            f'(pip install "{target.extra}"); planning {args.target} with the CPU compiler over '
            f"{target.devices} simulated devices instead.",
            file=sys.stderr,
        )
        args.devices, args.device_kind = target.devices, target.kind
        target = targets.parse("cpu")
    if target.platform == "cpu" and not args.devices:
        raise ValueError("--target cpu needs --devices (how many devices to simulate)")
    # Deviceless compiles for TPU/GPU run in a CPU-only JAX (shared/ACCELERATOR_AOT.md).
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    jax.config.update("jax_num_cpu_devices", args.devices if target.platform == "cpu" else 1)
    gin_utils.parse_args(args, bindings, require=False)  # plans need no MODEL_DIR or data

    import gin

    from xlmr_jax import plan as planner
    from xlmr_jax.sharding import MeshConfig

    if args.measure and (
        target.platform != "cpu" or args.devices != 1 or args.sweep_model_parallel
    ):
        raise ValueError("--measure runs the step on this one CPU: use --devices 1, no sweep")
    if target.platform == "cpu" and args.device_kind not in planner.DEVICE_MEMORY:
        raise ValueError(f"--device_kind must be one of {sorted(planner.DEVICE_MEMORY)}")
    try:
        cfg = gin.query_parameter("%MODEL_CONFIG").scoped_configurable_fn()
    except ValueError:
        raise ValueError(
            "no model: pass a model gin file, e.g. --gin_file=models/xxl.gin"
        ) from None
    cfg = cfg.replace(dtype=args.dtype, scan_layers=True)
    base_mesh = MeshConfig()
    sizes = (
        [int(x) for x in args.sweep_model_parallel.split(",")]
        if args.sweep_model_parallel
        else [base_mesh.model]
    )
    plans = []
    for model_parallel in sizes:
        mesh = MeshConfig(data=-1, model=model_parallel, fsdp=base_mesh.fsdp)
        kwargs = dict(
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            device_kind=args.device_kind if target.platform == "cpu" else None,
            target=target,
        )
        if args.remat == "auto":  # each setting compiled by the target's compiler
            plan, tried = planner.search(cfg, mesh, **kwargs)
            for p in tried[:-1]:
                print(f"xlmr plan: searched: {_does_not_fit(p)}", file=sys.stderr)
        else:
            plan = planner.plan_train_step(
                cfg.replace(remat_policy=args.remat), mesh, microbatches=args.microbatches, **kwargs
            )
        plans.append(plan)
    measured = None
    if args.measure:
        measured = planner.measure_peak_bytes_in_new_process(
            cfg.replace(remat_policy=plans[0].remat_policy),
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            microbatches=plans[0].microbatches,
        )
    if args.json:
        out = [p.to_json() for p in plans]
        if measured:
            out[0]["measured_bytes"] = measured
        print(json.dumps(out[0] if len(out) == 1 else out, indent=1))
        for p in plans:
            if p.fits is False:
                print(f"xlmr plan: {_does_not_fit(p)}", file=sys.stderr)
        return 0
    where = f"{args.devices} x {args.device_kind}" if target.platform == "cpu" else args.target
    print(
        f"Plan: L{cfg.num_layers} H{cfg.hidden_size} ({cfg.dtype} compute, float32 params + AdamW, "
        f"attention {cfg.attention_impl}), global batch {args.batch_size} x {args.seq_len}, "
        f"{where}; layers under lax.scan; memory from {plans[0].compiler}."
    )
    print(
        "| data x model | fsdp | remat | microbatches | params+opt GiB | temporaries GiB "
        "| total GiB/device | fits | TFLOP/step | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in plans:
        print(
            f"| {p.mesh['data']} x {p.mesh['model']} | {p.mesh['fsdp']} | {p.remat_policy} "
            f"| {p.microbatches} | {_gib(p.per_device_bytes.get('arguments'))} "
            f"| {_gib(p.per_device_bytes['temporaries'])} | {_gib(p.per_device_bytes['total'])} "
            f"| {'yes' if p.fits else 'NO'} "
            f"| {p.flops_per_step / 1e12:,.0f} | {p.compile_seconds:.1f} |"
        )
    for p in plans:
        if p.fits is False:
            print(_does_not_fit(p))
    if measured:
        planned, gib = plans[0].per_device_bytes["total"], planner.GIB
        print(
            f"Measured on this CPU (one step, resident memory with every block touched): state {measured['arguments'] / gib:.3f}"
            f" GiB + step peak {measured['step_peak'] / gib:.3f} GiB = "
            f"{measured['total'] / gib:.3f} GiB; planned {planned / gib:.3f} GiB "
            f"(planned / measured = {planned / measured['total']:.2f})."
        )
    return 0


def _does_not_fit(p) -> str:
    """One line: what the setting needs against what the device offers."""
    gib = 1024**3
    need = p.per_device_bytes["total"]
    have = (
        f"{p.budget_bytes / gib:.2f} GiB budget of a {p.device_bytes / gib:.2f} GiB {p.device_kind}"
    )
    what = f"{p.mesh['data']} x {p.mesh['model']}, remat {p.remat_policy}, {p.microbatches} microbatches"
    if p.error:
        return f"does not fit ({what}): {p.compiler} refused it: {p.error}"
    return f"does not fit ({what}): {need / gib:.2f} GiB per device > {have}."


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024**3:.2f}"
