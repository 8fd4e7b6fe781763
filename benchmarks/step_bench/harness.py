"""Measuring: a child process runs one (shape, implementation) and prints its result line;
the parent runs one child per (shape, implementation, malloc), so peak RSS is one
implementation's."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from step_bench.peers import SETUPS, device_facts
from step_bench.profiling import profile_steps
from step_bench.shapes import Shape, host_batches
from xlmr_jax import host_env

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parents[1] / "train_step.py"  # its --child runs `run_child`
RESULT_PREFIX = "BENCHMARK_RESULT "


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
        result["rss_before_setup_mib"] = rss_mib()
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
        peak_rss_mib=rss_mib(),
        **device_facts(impl, spec),
    )
    if "compile_seconds" in extras:
        result["compile_seconds"] = extras["compile_seconds"]()
    if spec.get("profile_dir") and "hlo_text" in extras:
        result["profile"] = profile_steps(step, spec, extras["hlo_text"]())
    return result


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_env(impl: str, device: str, malloc: str) -> dict[str, str]:
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
    cmd = [sys.executable, str(SCRIPT), "--child", json.dumps(spec)]
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(spec["impl"], spec["device"], spec["malloc"]),
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
