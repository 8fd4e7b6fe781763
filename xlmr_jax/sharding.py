"""The only module that knows mesh axis names: mesh construction, logical axis rules, batch placement.

Mesh axes are ("data", "model"). Logical names (model.py) map to them by one rules table:
data parallel shards "batch" over data; FSDP also shards parameters' "embed" dimension over data;
tensor parallel (Megatron style) shards "heads", "mlp" and "vocab" over model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import gin
import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xlmr_jax.config import ModelConfig
from xlmr_jax.validation import at_least, check_field_types

DATA = "data"
MODEL = "model"
MESH_AXES = (DATA, MODEL)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """data=-1 takes all devices not used by `model`; fsdp shards params/optimizer over data.

    devices=-1 uses every device; a number uses the first that many (e.g. a 1-device baseline).
    """

    data: int = -1
    model: int = 1
    fsdp: bool = False
    devices: int = -1

    def __post_init__(self):
        check_field_types(self)
        at_least("MeshConfig.model", self.model, 1)
        for name in ("data", "devices"):
            if getattr(self, name) != -1:
                at_least(f"MeshConfig.{name}", getattr(self, name), 1)

    def shape(self, num_devices: int) -> tuple[int, int]:
        if self.model < 1 or num_devices % self.model:
            raise ValueError(
                f"MeshConfig.model={self.model} does not divide the {num_devices} devices; "
                "set --gin.MeshConfig.model to a divisor of the device count."
            )
        data = num_devices // self.model if self.data == -1 else self.data
        if data * self.model != num_devices:
            raise ValueError(
                f"Mesh data={data} x model={self.model} = {data * self.model} devices, but "
                f"{num_devices} are available; fix MeshConfig.data / MeshConfig.model."
            )
        return data, self.model


def logical_axis_rules(fsdp: bool = False) -> tuple[tuple[str, Any], ...]:
    """Logical axis name -> mesh axis, in priority order (flax semantics: first free wins)."""
    rules: list[tuple[str, Any]] = [
        ("batch", DATA),
        ("vocab", MODEL),
        ("heads", MODEL),
        ("mlp", MODEL),
    ]
    if fsdp:
        # Parameters (which have no batch dim) shard their embed dim over data; in activations
        # "batch" has already taken data, so embed stays replicated there.
        rules.append(("embed", DATA))
    rules += [
        ("embed", None),
        ("embed_out", None),
        ("kv", None),
        ("length", None),
        ("layers", None),
    ]
    return tuple(rules)


def make_mesh(config: MeshConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, model) mesh over all (or the given) devices, model axis innermost (fast links)."""
    devices = list(jax.devices() if devices is None else devices)
    if config.devices != -1:
        if config.devices > len(devices):
            raise ValueError(f"MeshConfig.devices={config.devices} but only {len(devices)} exist.")
        devices = devices[: config.devices]
    shape = config.shape(len(devices))
    multi_host = jax.process_count() > 1 and devices == jax.devices()
    if multi_host or devices[0].platform == "tpu":  # follow the physical torus
        device_array = mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
    else:
        device_array = np.asarray(devices).reshape(shape)
    return Mesh(device_array, MESH_AXES)


def validate_model_on_mesh(
    cfg: ModelConfig, mesh: Mesh, global_batch_size: int, fsdp: bool = False
) -> None:
    """Clear errors (before any compile) when the mesh does not divide the model or batch."""
    model = mesh.shape[MODEL]
    data = mesh.shape[DATA]
    checks = {
        "num_heads": cfg.num_heads,
        "mlp_dim": cfg.mlp_dim,
        "vocab_size (embedding rows)": cfg.vocab_size,
    }
    bad = {k: v for k, v in checks.items() if v % model}
    if bad:
        raise ValueError(
            f"Tensor parallel model={model} does not divide {bad}. Choose a model axis that "
            "divides heads, mlp and vocabulary rows (XL/XXL pad the vocabulary to 250880 for this)."
        )
    if fsdp and cfg.hidden_size % data:
        raise ValueError(
            f"FSDP shards the hidden size {cfg.hidden_size} over data={data}, which does not divide it."
        )
    if global_batch_size % data:
        raise ValueError(
            f"Global batch size {global_batch_size} is not divisible by the data axis ({data})."
        )


def param_specs(boxed_params: Any, rules) -> Any:
    """Mesh PartitionSpecs for a boxed (logically partitioned) parameter tree."""
    return nn.logical_to_mesh(nn.get_partition_spec(boxed_params), rules)


def shardings(specs: Any, mesh: Mesh) -> Any:
    return jax.tree.map(
        lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, PartitionSpec)
    )


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def host_batch_to_global(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Per-process batch slices -> global arrays sharded over the data axis."""
    return {
        k: jax.make_array_from_process_local_data(batch_sharding(mesh, v.ndim), v)
        for k, v in batch.items()
    }


def host_batch_size(global_batch_size: int) -> int:
    """This process's share of the global batch."""
    count = jax.process_count()
    if global_batch_size % count:
        raise ValueError(
            f"Global batch size {global_batch_size} is not divisible by {count} processes."
        )
    return global_batch_size // count


def host_rows(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """This process's rows of a global batch that every process holds in full (process i: the
    i-th of `jax.process_count()` equal slices; `host_batch_to_global` puts them back)."""
    if jax.process_count() == 1:
        return batch
    rows = host_batch_size(len(next(iter(batch.values()))))
    start = jax.process_index() * rows
    return {k: v[start : start + rows] for k, v in batch.items()}


def num_devices(mesh: Mesh) -> int:
    return math.prod(mesh.shape.values())


def current_platform() -> str:
    """tpu | gpu | cpu: the platform of the mesh being traced for (the default backend
    without one); a TPU or GPU topology compiled on a CPU host counts as tpu or gpu."""
    mesh = jax.sharding.get_abstract_mesh()
    device = None if mesh.empty else mesh.abstract_device
    platform = jax.default_backend() if device is None else device.platform
    return "gpu" if platform in ("cuda", "rocm") else platform


def activation_spec(logical_axes: tuple[str, ...]) -> PartitionSpec | None:
    """The mesh PartitionSpec of an activation with these logical axes under the current
    mesh and rules (for shard_map around a kernel); None outside a mesh."""
    if jax.sharding.get_abstract_mesh().empty:
        return None
    return nn.logical_to_mesh_axes(logical_axes)
