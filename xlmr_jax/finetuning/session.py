"""What fine-tuning and checkpoint evaluation share: vocabulary, tasks, model, trainer, params.

The SentencePiece model comes from the init checkpoint (or `spm_model` for random init); task
registration functions (tasks/*.py) are called with the data directory and that vocabulary;
all tasks of a run must agree on kind and labels, which fix the model's head.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax
import seqio
from jax.experimental import multihost_utils

from xlmr_jax import sharding, storage
from xlmr_jax.config import ModelConfig
from xlmr_jax.finetuning.prediction import (
    BatchCache,
    PredictFn,
    TaskEvaluation,
    evaluate_task,
    task_source,
)
from xlmr_jax.finetuning.sources import TaskInfo
from xlmr_jax.finetuning.specs import EvalSpec, Recipe
from xlmr_jax.finetuning.steps import finetune_trainer
from xlmr_jax.model import XLMRoberta, stack_layers
from xlmr_jax.model_checkpoint import CONFIG_FILE, SPM_FILE
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.training.trainer import Trainer
from xlmr_jax.vocab import XLMRVocabulary

DATA_DIR_ENV = "XLMR_DATA_DIR"
Registration = Callable[..., Any]  # register_<benchmark>(data_dir, vocabulary)


def vocabulary(init_checkpoint: str | None, spm_model: str | None) -> XLMRVocabulary:
    """`spm_model` if given, else the init checkpoint's SentencePiece model."""
    if spm_model:
        return XLMRVocabulary(spm_model)
    if not init_checkpoint:
        raise ValueError("set SPM_MODEL (a SentencePiece model) when INIT_CHECKPOINT is None")
    directory = storage.as_path(init_checkpoint, "INIT_CHECKPOINT")
    if not (directory / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"INIT_CHECKPOINT {init_checkpoint} is not a model checkpoint")
    if not (directory / SPM_FILE).is_file():
        raise FileNotFoundError(f"{init_checkpoint} has no {SPM_FILE}; set SPM_MODEL")
    return XLMRVocabulary(os.fspath(directory / SPM_FILE))


def register_tasks(
    registrations: Sequence[Registration], data_dir: str | None, vocab: XLMRVocabulary
) -> str:
    """Calls every registration with the data directory (default $XLMR_DATA_DIR); returns it."""
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
    if not data_dir:
        raise ValueError(f"set DATA_DIR (or ${DATA_DIR_ENV}) to the benchmark data directory")
    for register in registrations:
        register(data_dir=data_dir, vocabulary=vocab)
    return data_dir


def task_info(name: str) -> TaskInfo:
    return task_source(seqio.get_mixture_or_task(name)).info


def common_info(names: Sequence[str]) -> TaskInfo:
    """The info of the first task, after checking all tasks share kind and labels."""
    infos = {name: task_info(name) for name in names}
    first = infos[names[0]]
    for name, info in infos.items():
        if (info.kind, info.labels) != (first.kind, first.labels):
            raise ValueError(
                f"task {name} ({info.kind}, labels {info.labels}) does not match {names[0]} "
                f"({first.kind}, labels {first.labels}); one model needs one head"
            )
    return first


def build_model(config: ModelConfig, info: TaskInfo, vocab: XLMRVocabulary) -> XLMRoberta:
    if vocab.vocab_size > config.vocab_size:
        raise ValueError(
            f"the vocabulary has {vocab.vocab_size} ids but the model only "
            f"{config.vocab_size} embedding rows ({vocab.model_file})"
        )
    return XLMRoberta(config, info.task_kind.head, info.num_labels)


def make_trainer(
    model: XLMRoberta,
    info: TaskInfo,
    optimizer: optax.GradientTransformation,
    recipe: Recipe,
    mesh_config: sharding.MeshConfig | None,
) -> Trainer:
    mesh_config = mesh_config or sharding.MeshConfig()
    mesh = sharding.make_mesh(mesh_config)
    for size in (recipe.batch_size, recipe.eval_batch_size):
        sharding.validate_model_on_mesh(model.config, mesh, size, fsdp=mesh_config.fsdp)
    return finetune_trainer(info.task_kind, model, optimizer, mesh, mesh_config.fsdp)


def place_params(
    trainer: Trainer, state: TrainState, params: Mapping, keys: Sequence[str] = ()
) -> TrainState:
    """`state` with `params` (per-layer, host) in the state's shardings, for `keys` or all."""
    config = trainer.model.config
    params = stack_layers(dict(params), config.num_layers) if config.scan_layers else params
    new = dict(state.params)
    for key in keys or new:
        new[key] = jax.tree.map(_place, params[key], trainer.state_shardings.params[key])
    return state.replace(params=new)


def _place(value, sharding: jax.sharding.Sharding) -> jax.Array:
    """A host array (the same on every process) as a global array in `sharding`."""
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def predictor(trainer: Trainer, state: TrainState) -> PredictFn:
    """Model outputs of a global batch (every process holds all of it): each process feeds its
    rows, and every process gets the outputs of all rows."""
    key = jax.random.key(0)  # unused: evaluation is deterministic
    if jax.process_count() == 1:
        return lambda batch: trainer.eval_step(state, batch, key)

    def predict(batch: dict[str, np.ndarray]) -> dict:
        outputs = trainer.eval_step(state, sharding.host_rows(batch), key)
        return multihost_utils.process_allgather(outputs, tiled=True)

    return predict


def evaluate_spec(
    spec: EvalSpec, predict: PredictFn, recipe: Recipe, cache: BatchCache | None = None
) -> dict[str, TaskEvaluation]:
    """{language: evaluation} of every task of `spec`; `cache` keeps the batches for next time."""
    return {
        lang: evaluate_task(
            name, spec.split, predict, recipe.eval_batch_size, recipe.max_length, cache
        )
        for lang, name in spec.tasks().items()
    }


def steps_per_epoch(num_features: int, batch_size: int) -> int:
    return max(1, math.ceil(num_features / batch_size))
