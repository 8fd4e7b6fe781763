"""Accelerator targets for ahead-of-time compiles on a host without them (`xlmr plan --target`).

`tpu:v5p-128`, `tpu:v4-64`, `tpu:v5e-16`, `tpu:v6e-256` (Cloud TPU names; v4/v5p count
TensorCores, two per chip, v5e/v6e count chips) or an explicit topology `tpu:v5e:2x4`, compiled
by libtpu (`pip install "xlmr-jax[tpu]"`); `gpu:h100x64`, `gpu:h200x8` compiled by the CUDA
plugin (`pip install "xlmr-jax[gpu]"`) against a target description of the GPU; `cpu` simulates
the devices with XLA:CPU. Recipes and pitfalls: shared/ACCELERATOR_AOT.md.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re

GIB = 1024**3
# HBM per chip (vendor figures) and how Cloud TPU names count a slice.
TPU_CHIPS = {
    "v4": {"memory": 32 * GIB, "cores_per_chip": 2, "dims": 3, "chip_config": "megacore"},
    "v5p": {"memory": 95 * GIB, "cores_per_chip": 2, "dims": 3, "chip_config": "default"},
    "v5e": {"memory": 16 * GIB, "cores_per_chip": 1, "dims": 2, "chip_config": "default"},
    "v6e": {"memory": 32 * GIB, "cores_per_chip": 1, "dims": 2, "chip_config": "default"},
}
# XLA GPU target descriptions (fields of xla/backends/gpu/target_config/specs/h100_sxm.txtpb).
# H200 is the H100 SXM die with 141 GB HBM3e at 4.8 TB/s: only memory size and bandwidth differ.
_GPU_SPEC = """
gpu_device_info {{
  threads_per_block_limit: 1024 threads_per_warp: 32
  shared_memory_per_block: 49152 shared_memory_per_core: 233472
  threads_per_core_limit: 2048 core_count: 132 fpus_per_core: 128
  block_dim_limit_x: 2147483647 block_dim_limit_y: 65535 block_dim_limit_z: 65535
  memory_bandwidth: {bandwidth} l2_cache_size: 52428800 clock_rate_ghz: 1.98
  device_memory_size: {memory} shared_memory_per_block_optin: 232448
  cuda_compute_capability {{ major: 9 minor: 0 }}
  registers_per_core_limit: 65536 registers_per_block_limit: 65536
}}
platform_name: "CUDA"
dnn_version_info {{ major: 9 minor: 8 }}
runtime_version {{ major: 12 minor: 9 }}
device_description_str: "{name}"
"""
GPUS = {
    "h100": {"memory": 84942979072, "bandwidth": 3352320000000, "name": "NVIDIA H100 80GB HBM3"},
    "h200": {"memory": 150754820096, "bandwidth": 4800000000000, "name": "NVIDIA H200"},
}
GPU_PREALLOCATION = 0.75  # JAX's default XLA_PYTHON_CLIENT_MEM_FRACTION
DEVICES_PER_GPU_HOST = 8


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed --target: platform, chip or GPU kind, device count and topology name."""

    spec: str
    platform: str  # cpu | tpu | gpu
    kind: str | None = None  # v5p, h100, ...
    devices: int = 0
    topology: str | None = None  # "4x4x4" for TPU, "1x8x8" (slices x hosts x GPUs) for GPU

    @property
    def device_bytes(self) -> int | None:
        if self.platform == "tpu":
            return TPU_CHIPS[self.kind]["memory"]
        if self.platform == "gpu":
            return GPUS[self.kind]["memory"]
        return None

    @property
    def budget_bytes(self) -> int | None:
        """What a program may use: all of a TPU's HBM (the compiler refuses more), JAX's 75%
        preallocation of a GPU (an over-budget GPU program still compiles)."""
        if self.platform == "gpu":
            return int(GPU_PREALLOCATION * self.device_bytes)
        return self.device_bytes

    @property
    def extra(self) -> str:
        return {"tpu": "xlmr-jax[tpu]", "gpu": "xlmr-jax[gpu]"}.get(self.platform, "")

    def compiler_available(self) -> bool:
        module = {"tpu": "libtpu", "gpu": "jax_plugins.xla_cuda12"}.get(self.platform)
        try:
            return module is None or importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False


def parse(spec: str) -> Target:
    """`cpu`, `tpu:v5p-128`, `tpu:v5e:2x4` or `gpu:h100x64`; ValueError naming the forms."""
    if spec == "cpu":
        return Target(spec, "cpu")
    tpu = re.fullmatch(r"tpu:(v4|v5p|v5e|v6e)(?:-(\d+)|:(\d+(?:x\d+){1,2}))", spec)
    if tpu:
        kind, size, topology = tpu.groups()
        chip = TPU_CHIPS[kind]
        if topology is None:
            chips, rest = divmod(int(size), chip["cores_per_chip"])
            topology = None if rest else _tpu_topology(chips, chip["dims"])
            if topology is None:
                raise ValueError(
                    f"--target {spec}: no {kind} slice of that size; use e.g. tpu:{kind}-"
                    f"{8 * chip['cores_per_chip']} or an explicit topology tpu:{kind}:2x2"
                    + ("x2" if chip["dims"] == 3 else "")
                )
        dims = [int(d) for d in topology.split("x")]
        if len(dims) != chip["dims"]:
            raise ValueError(f"--target {spec}: a {kind} topology has {chip['dims']} dimensions.")
        return Target(spec, "tpu", kind, math.prod(dims), topology)
    gpu = re.fullmatch(r"gpu:(h100|h200)x(\d+)", spec)
    if gpu:
        kind, count = gpu.group(1), int(gpu.group(2))
        per_host = min(count, DEVICES_PER_GPU_HOST)
        if count < 1 or count % per_host:
            raise ValueError(f"--target {spec}: use 1-8 GPUs or a multiple of 8.")
        return Target(spec, "gpu", kind, count, f"1x{count // per_host}x{per_host}")
    raise ValueError(
        f"--target {spec!r}: use cpu, tpu:<v4|v5p|v5e|v6e>-<size> (e.g. tpu:v5p-128), "
        "tpu:<chip>:<topology> (e.g. tpu:v5e:2x4) or gpu:<h100|h200>x<count> (e.g. gpu:h100x64)."
    )


def _tpu_topology(chips: int, dims: int) -> str | None:
    """The usual slice shape for a chip count: near-cubic (v4/v5p) or near-square (v5e/v6e)."""
    if chips < 1 or chips & (chips - 1):
        return None
    shape = [1] * dims
    for i in range(chips.bit_length() - 1):
        shape[(dims - 1 - i % dims) if dims == 3 else (i % dims)] *= 2
    shape = sorted(shape, key=lambda d: (d == 1, d))  # 2x2x1, 2x2x4, 4x4x8 as Cloud TPU says
    return "x".join(str(d) for d in shape)


def devices(target: Target) -> list:
    """The target's abstract devices (compile-only), from libtpu or the CUDA plugin."""
    from jax.experimental import topologies

    if target.platform == "tpu":
        # Compiling claims no chip: let it run beside another libtpu process (a test, a job).
        os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
        dims = [int(d) for d in target.topology.split("x")]
        topo = topologies.get_topology_desc(
            platform="tpu",
            topology_name=f"{target.kind}:{target.topology}",
            chip_config_name=TPU_CHIPS[target.kind]["chip_config"],
            chips_per_host_bounds=(min(2, dims[0]), min(2, dims[1]), 1),
            num_slices=1,
        )
    else:
        spec = _GPU_SPEC.format(**GPUS[target.kind])
        topo = topologies.get_topology_desc(
            platform="cuda", target_config=spec, topology=target.topology
        )
    return list(topo.devices)
