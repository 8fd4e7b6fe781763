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

This file is the command line; the parts are in `step_bench/` (shapes, peers, harness,
profiling, report).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from step_bench.harness import RESULT_PREFIX, run_child, run_in_subprocess  # noqa: E402
from step_bench.report import (  # noqa: E402
    flop_facts,
    format_table,
    machine_facts,
    ratios,
    versions,
)
from step_bench.shapes import CPU_SHAPES, GPU_SHAPES, masked_per_sequence  # noqa: E402

MALLOCS = ("hugepages", "default")
IMPLS = ("ours", "ours_cudnn", "hf_torch", "hf_flax")


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
                    flop_facts(result, shape, result.get("device_kind"))
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
