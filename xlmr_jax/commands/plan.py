"""`xlmr plan --gin_file=gin/models/xxl.gin --gin_file=gin/sharding/tp8.gin --devices=64`.

Compiles the real train step ahead of time on abstract arrays over `--devices` simulated CPU
devices and reports per-device memory, FLOPs and whether it fits `--device_kind`.
"""

from __future__ import annotations

import argparse
import json
import os

from xlmr_jax import gin_utils


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)
    parser.add_argument("--devices", type=int, required=True, help="number of devices to plan for")
    parser.add_argument(
        "--device_kind", default="h100", help="h100 | h200 | a100 | a100-40 | v4 | v5e | v5p"
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
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    jax.config.update("jax_num_cpu_devices", args.devices)
    gin_utils.parse(args.gin_file, bindings, args.gin_search_path)

    import gin

    from xlmr_jax import plan as planner
    from xlmr_jax.sharding import MeshConfig

    if args.measure and (args.devices != 1 or args.sweep_model_parallel):
        raise ValueError("--measure runs the step on this one CPU: use --devices 1, no sweep")
    if args.device_kind not in planner.DEVICE_MEMORY:
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
            batch_size=args.batch_size, seq_len=args.seq_len, device_kind=args.device_kind
        )
        if args.remat == "auto":
            plan, _ = planner.search(cfg, mesh, **kwargs)
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
        return 0
    print(
        f"Plan: L{cfg.num_layers} H{cfg.hidden_size} ({cfg.dtype} compute, float32 params + AdamW), "
        f"global batch {args.batch_size} x {args.seq_len}, {args.devices} x {args.device_kind}; "
        "layers under lax.scan; memory from the XLA CPU compile (an estimate of GPU/TPU usage)."
    )
    print(
        "| data x model | fsdp | remat | microbatches | params+opt GiB | temporaries GiB "
        "| total GiB/device | fits | TFLOP/step | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    gib = planner.GIB
    for p in plans:
        b = p.per_device_bytes
        print(
            f"| {p.mesh['data']} x {p.mesh['model']} | {p.mesh['fsdp']} | {p.remat_policy} "
            f"| {p.microbatches} | {b['arguments'] / gib:.2f} | {b['temporaries'] / gib:.2f} "
            f"| {b['total'] / gib:.2f} | {'yes' if p.fits else 'NO'} "
            f"| {p.flops_per_step / 1e12:,.0f} | {p.compile_seconds:.1f} |"
        )
    if measured:
        planned = plans[0].per_device_bytes["total"]
        print(
            f"Measured on this CPU (one step, resident memory with every block touched): state {measured['arguments'] / gib:.3f}"
            f" GiB + step peak {measured['step_peak'] / gib:.3f} GiB = "
            f"{measured['total'] / gib:.3f} GiB; planned {planned / gib:.3f} GiB "
            f"(planned / measured = {planned / measured['total']:.2f})."
        )
    return 0
