"""The report: machine facts, versions, analytic FLOPs, ours / best-peer ratios, the table."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from step_bench.shapes import Shape, model_config

OURS = ("ours", "ours_cudnn")
PEERS = ("hf_torch", "hf_flax")


def flop_facts(result: dict, shape: Shape, device_kind: str | None) -> None:
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
