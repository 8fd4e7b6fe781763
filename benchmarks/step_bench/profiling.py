"""Per-op time of the jitted implementations (`--profile DIR`), grouped by layer kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
        groups[op_group(name, op_names.get(name, ""))] += ms
    return {
        "trace_dir": str(out_dir),
        "ms_per_step_by_group": {k: round(v, 1) for k, v in groups.most_common()},
        "top_ops": [
            {"op": name, "ms_per_step": round(ms, 1), "op_name": op_names.get(name, "")}
            for name, ms in per_op.most_common(40)
        ],
    }


def op_group(name: str, op_name: str) -> str:
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
