"""The model checkpoint: a directory with `params/` (orbax), `config.json` and the SentencePiece model.

This is the unit of import, export and initialisation (weights only; the trainer keeps its own
train-state checkpoints). Parameters are stored unboxed, float32, in the per-layer layout
(`encoder/layers_i`); use `model.stack_layers` for a `scan_layers` model. Directories are written
atomically (`storage.atomic_directory`, config.json last), locally or on gs://. config.json holds
each array's SHA-256 (`checksums`), verified on load.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from xlmr_jax import checksums, storage, trees
from xlmr_jax.config import ModelConfig
from xlmr_jax.inputs import validate_input_ids
from xlmr_jax.model import HEADS, XLMRoberta, unstack_layers

FORMAT = "xlmr-jax-model"
FORMAT_VERSION = 1
PARAMS_DIR = "params"
CONFIG_FILE = "config.json"
SPM_FILE = "sentencepiece.model"
LABEL_HEADS = ("sequence_classification", "token_classification")


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """Everything needed to run or export a model: config, per-layer params and head."""

    config: ModelConfig
    params: dict
    head: str = "mlm"
    num_labels: int = 0
    id2label: dict[int, str] | None = None
    spm_path: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def module(self) -> XLMRoberta:
        """The Flax module for these params (per-layer layout, so scan_layers off)."""
        return XLMRoberta(self.config.replace(scan_layers=False), self.head, self.num_labels)

    def predict(self, input_ids, **kwargs) -> dict[str, np.ndarray]:
        """Model outputs as numpy for [batch, length] ids (pad 1), validated first."""
        ids = validate_input_ids(input_ids, self.config)
        if ids.ndim != 2:
            raise ValueError(f"predict needs [batch, length] ids, got shape {ids.shape}.")
        out = self._apply({"params": self.params}, jnp.asarray(ids), **kwargs)
        return jax.tree.map(np.asarray, out)

    @functools.cached_property
    def _apply(self):
        """The module's jitted apply, kept so that repeated shapes compile once."""
        return jax.jit(self.module().apply)


def expected_shapes(config: ModelConfig, head: str, num_labels: int) -> dict[str, tuple[int, ...]]:
    """ "/"-joined parameter path -> shape, in the per-layer layout, computed without allocating."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {HEADS}.")
    if head in LABEL_HEADS and num_labels < 1:
        raise ValueError(f"head {head!r} needs num_labels >= 1, got {num_labels}.")
    model = XLMRoberta(config.replace(scan_layers=False), head, num_labels)
    ids = jnp.full((1, 4), config.pad_id + 1, jnp.int32)
    tree = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), ids)["params"])
    return {
        k: tuple(v.shape) for k, v in traverse_util.flatten_dict(nn.unbox(tree), sep="/").items()
    }


def check_params(params: Mapping, config: ModelConfig, head: str, num_labels: int) -> None:
    """Raise ValueError naming every missing, unexpected or wrongly shaped parameter.

    `params` is a nested tree whose leaves have `.shape` (arrays or orbax metadata).
    """
    found = {
        k: tuple(v.shape) for k, v in traverse_util.flatten_dict(dict(params), sep="/").items()
    }
    diff = trees.compare(expected_shapes(config, head, num_labels), found)
    problems = []
    if diff.missing:
        problems.append(f"missing parameters {diff.missing}")
    if diff.unexpected:
        problems.append(f"unexpected parameters {diff.unexpected}")
    for key, expected, shape in diff.mismatched:
        problems.append(f"{key}: config expects shape {expected}, found {shape}")
    if problems:
        sizes = (
            f"vocab_size={config.vocab_size}, hidden_size={config.hidden_size}, "
            f"num_layers={config.num_layers}, num_heads={config.num_heads}, "
            f"mlp_dim={config.mlp_dim}, max_positions={config.max_positions}, "
            f"pre_layer_norm={config.pre_layer_norm}, head={head}, num_labels={num_labels}"
        )
        raise ValueError(
            "parameters do not match the config (" + sizes + "):\n  " + "\n  ".join(problems)
        )


def numpy_params(params: Mapping, config: ModelConfig) -> dict:
    """Unboxed, per-layer, float32 numpy copy of a (possibly boxed or scanned) tree."""
    params = nn.unbox(dict(params))
    if "layers" in params.get("encoder", {}):
        params = unstack_layers(params, config.num_layers)
    return jax.tree.map(lambda x: np.asarray(jax.device_get(x), dtype=np.float32), params)


def _write_json(path: storage.Path, obj: Any) -> None:
    storage.write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_model(
    directory: storage.PathLike,
    params: Mapping,
    config: ModelConfig,
    *,
    head: str = "mlm",
    num_labels: int = 0,
    id2label: Mapping[int, str] | None = None,
    spm_path: storage.PathLike | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> storage.Path:
    """Validate and write a model checkpoint directory atomically; returns its path."""

    storage.bound_orbax_retries()

    params = numpy_params(params, config)
    check_params(params, config, head, num_labels)
    if spm_path is not None and not storage.as_path(spm_path).is_file():
        raise FileNotFoundError(f"SentencePiece model {spm_path} does not exist.")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": config.to_dict(),
        "head": head,
        "num_labels": num_labels,
        "id2label": {str(k): v for k, v in (id2label or {}).items()} or None,
        "meta": dict(extra_meta or {}),
        "checksums": checksums.checksums(params),
    }
    directory = storage.as_path(directory, "model checkpoint directory")
    with storage.atomic_directory(directory, CONFIG_FILE, overwrite=overwrite) as tmp:
        with _local_checkpointer() as checkpointer:
            checkpointer.save(tmp / PARAMS_DIR, params)
            checkpointer.wait_until_finished()
        if spm_path is not None:
            storage.copy_file(spm_path, tmp / SPM_FILE)
        _write_json(tmp / CONFIG_FILE, meta)  # last: it marks the directory complete
    return directory


def _read_meta(directory: storage.Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{storage.where(directory)} is not an xlmr-jax checkpoint: no {CONFIG_FILE}."
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON ({e.msg}).") from None
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an xlmr-jax checkpoint config (format={meta.get('format')!r}); "
            "import HF or fairseq weights with `xlmr import`."
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {meta.get('format_version')!r}.")
    missing = [key for key in ("model", "head", "num_labels") if key not in meta]
    if missing:
        raise ValueError(f"{path}: lacks {missing}; the checkpoint is incomplete.")
    return meta


def _local_checkpointer():
    """An orbax checkpointer of this process alone: a model checkpoint holds host arrays and is
    written by one process (process 0 under jax.distributed) and read by any, with no barrier
    shared with the other processes."""
    import orbax.checkpoint as ocp

    me = jax.process_index()
    return ocp.StandardCheckpointer(
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=me, active_processes={me}
        )
    )


def load_model(directory: storage.PathLike) -> LoadedModel:
    """Read a checkpoint, checking every parameter's name and shape before reading any data."""

    storage.bound_orbax_retries()

    directory = storage.as_path(directory, "model checkpoint directory")
    meta = _read_meta(directory)
    config = ModelConfig.from_dict(meta["model"])
    head, num_labels = meta["head"], int(meta["num_labels"])
    params_dir = directory / PARAMS_DIR
    if not params_dir.is_dir():
        raise FileNotFoundError(f"{directory}: no {PARAMS_DIR}/ directory.")
    with _local_checkpointer() as checkpointer:
        stored = checkpointer.metadata(params_dir).item_metadata.tree
        check_params(stored, config, head, num_labels)
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, np.float32), stored)
        try:
            params = checkpointer.restore(params_dir, target)
        except (ValueError, RuntimeError, OSError) as e:
            reason = next(iter(str(e).strip().splitlines()), type(e).__name__)
            raise ValueError(f"{params_dir}: cannot read parameters ({reason[:300]}).") from e
    if "checksums" in meta:  # checkpoints written before checksums load unverified
        checksums.verify(params, meta["checksums"], params_dir)
    spm = directory / SPM_FILE
    id2label = meta.get("id2label")
    return LoadedModel(
        config=config,
        params=params,
        head=head,
        num_labels=num_labels,
        id2label={int(k): v for k, v in id2label.items()} if id2label else None,
        spm_path=str(spm) if spm.is_file() else None,
        meta=meta.get("meta", {}),
    )
