"""A model (`LoadedModel`) from a pretraining run's train-state checkpoint, for export mid-run.

`MODEL_DIR/model` is written only when a run reaches total_steps; a run stopped by preemption or
`stop_after` has only `MODEL_DIR/checkpoints/<step>/state`. The model's config and SentencePiece
model come from the run's operative `MODEL_DIR/config.gin`; only `params` is read from the state
(not the optimizer moments, which are twice its size).
"""

from __future__ import annotations

import os

import gin
import jax
import numpy as np

from xlmr_jax import storage
from xlmr_jax.model_checkpoint import LoadedModel, check_params, load_model, numpy_params

CHECKPOINTS = "checkpoints"


def is_train_checkpoint(path: storage.PathLike) -> bool:
    """`MODEL_DIR/checkpoints/<step>` (holds `state/`) or a run's MODEL_DIR (holds checkpoints/)."""
    path = storage.as_path(path, "--checkpoint")
    return (path / "state").is_dir() or (path / CHECKPOINTS).is_dir()


def resolve_step(path: storage.PathLike, step: int | None) -> tuple[storage.Path, storage.Path]:
    """(MODEL_DIR, MODEL_DIR/checkpoints/<step>) for a step folder, or a MODEL_DIR and a step
    (the latest when None)."""
    path = storage.as_path(path, "--checkpoint")
    if (path / "state").is_dir():
        if step is not None and int(path.name) != step:
            raise ValueError(f"--step {step} contradicts the checkpoint folder {path}.")
        return path.parent.parent, path
    steps = sorted(int(p.name) for p in (path / CHECKPOINTS).iterdir() if p.name.isdigit())
    if not steps:
        raise FileNotFoundError(f"{path / CHECKPOINTS} holds no saved step.")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise FileNotFoundError(f"{path / CHECKPOINTS} has no step {step}; saved steps: {steps}.")
    return path, path / CHECKPOINTS / str(step)


def _run_config(model_dir: storage.Path) -> tuple:
    """(ModelConfig, SentencePiece path or None) from the run's operative config.gin."""
    from xlmr_jax import gin_utils

    config_gin = model_dir / "config.gin"
    if not config_gin.is_file():
        raise FileNotFoundError(
            f"{config_gin} not found: export needs the run's operative config (written by "
            "`xlmr train` at its first step)."
        )
    gin_utils.parse([os.fspath(config_gin)], [])
    try:
        model_config = _value("train.model_config")
    except ValueError:
        raise ValueError(
            f"{config_gin} binds no train.model_config; is it a pretraining run?"
        ) from None
    try:
        spm = os.fspath(_value("mlm_inputs.vocabulary"))
    except ValueError:
        spm = None
    return model_config, spm if spm and storage.as_path(spm).is_file() else None


def _value(binding: str):
    """A bound value, macros and `@ModelConfig()` evaluated; unlike gin.get_bindings it evaluates
    nothing else (`mlm_inputs.mixture = @register_cc100()` would scan the corpus)."""
    value = gin.query_parameter(binding)
    while isinstance(value, gin.config.ConfigurableReference):
        value = value.scoped_configurable_fn()
    return value


def _restore_params(state_dir: storage.Path) -> dict:
    """The `params` subtree of a train state, as float32 numpy on the host."""
    import orbax.checkpoint as ocp

    checkpointer = ocp.PyTreeCheckpointer()
    tree = checkpointer.metadata(state_dir).item_metadata.tree
    target = jax.tree.map(lambda m: np.zeros(m.shape, np.float32), tree["params"])
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), target)
    restored = checkpointer.restore(
        state_dir,
        args=ocp.args.PyTreeRestore(
            item={"params": target},
            restore_args={"params": restore_args},
            partial_restore=True,
        ),
    )
    return restored["params"]


def load_train_checkpoint(path: str | os.PathLike, step: int | None = None) -> LoadedModel:
    """The MLM model of a pretraining run at `step` (see `resolve_step`)."""
    model_dir, step_dir = resolve_step(path, step)
    config, spm = _run_config(model_dir)
    params = numpy_params(_restore_params(step_dir / "state"), config)
    config = config.replace(scan_layers=False)
    check_params(params, config, "mlm", 0)
    return LoadedModel(
        config=config,
        params=params,
        spm_path=spm,
        meta={"source": f"train:{step_dir}", "step": int(step_dir.name)},
    )


def load_any(path: str | os.PathLike, step: int | None = None) -> LoadedModel:
    """A model checkpoint, or a pretraining run's train checkpoint (at `step`)."""
    if step is not None or is_train_checkpoint(path):
        return load_train_checkpoint(path, step)
    return load_model(path)
