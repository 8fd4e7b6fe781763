"""Orbax train checkpoints: full state + data-pipeline position, async, atomic, any-mesh restore."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

import gin
import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from xlmr_jax import storage, trees
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.validation import at_least, check_field_types

log = logging.getLogger(__name__)
storage.bound_orbax_retries()


DAMAGED = "checkpoints_damaged"


class CheckpointMismatch(ValueError):
    """A readable checkpoint saved by another model size or optimizer (not damage)."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Save every `period` steps, keep the last `keep` and every `keep_period`-th forever."""

    period: int = 1000
    keep: int = 3
    keep_period: int | None = None
    async_save: bool = True

    def __post_init__(self):
        check_field_types(self)
        at_least("CheckpointConfig.period", self.period, 1)
        at_least("CheckpointConfig.keep", self.keep, 1)
        at_least("CheckpointConfig.keep_period", self.keep_period, 1, optional=True)


class TrainCheckpoints:
    """`MODEL_DIR/checkpoints/<step>/{state,data}`, written by the job holding MODEL_DIR's
    RunLock (taken before this, so orbax never cleans up another job's save). Orbax writes each step into a temporary
    directory and renames it when complete, so a save killed half-way never replaces the
    latest good checkpoint; a latest checkpoint that cannot be read is set aside and the one
    before it restored (`restore`).
    """

    def __init__(self, model_dir: storage.PathLike, config: CheckpointConfig):
        model_dir = storage.as_path(model_dir, "MODEL_DIR")
        self.directory = model_dir / "checkpoints"
        period = config.period
        options = ocp.CheckpointManagerOptions(
            # Every `period` steps (orbax's default would also save the first step).
            should_save_fn=lambda step, last_saved: step % period == 0,
            max_to_keep=config.keep,
            keep_period=config.keep_period,
            enable_async_checkpointing=config.async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "data")
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: TrainState, data_state: dict, force: bool = False) -> bool:
        """Saves when the period says so (or `force`); returns whether a save started."""
        with self._reporting(f"saving checkpoint {step}"):
            return self._manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)
                ),
                force=force,
            )

    @contextlib.contextmanager
    def _reporting(self, action: str):
        """A failed save (store unreachable, full, forbidden) as one StorageError naming it."""
        try:
            yield
        except (OSError, ValueError, RuntimeError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise storage.StorageError(
                f"{action} to {self.directory} failed ({reason[:300]}); earlier checkpoints are "
                "intact: run again once the store is reachable to resume from the latest one."
            ) from e

    def restore(self, abstract_state: TrainState, shardings: Any) -> tuple[TrainState, dict]:
        """The latest checkpoint that restores, onto `shardings` (any mesh: orbax reshards on
        read). One that cannot be read (a damaged or missing file) is reported with the file,
        moved to `checkpoints_damaged/<step>`, and the one before it restored instead."""
        target = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
            abstract_state,
            shardings,
        )
        steps = sorted(self.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"No checkpoint in {self.directory}.")
        for step in steps:
            try:
                restored, damage = self._restore(step, target), None
            except CheckpointMismatch:
                raise
            except Exception as e:  # tensorstore, orbax and JSON errors alike
                restored, damage = None, e
            if not _anyone(damage is not None):
                return restored.state, restored.data
            self._set_aside(step, damage)
        raise storage.StorageError(
            f"No checkpoint in {self.directory} could be restored (each is set aside in "
            f"{self.directory.parent / DAMAGED}); delete MODEL_DIR to start over."
        )

    def _restore(self, step: int, target: Any):
        _check_compatible(self.directory / str(step) / "state", target)
        return self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()
            ),
        )

    def _set_aside(self, step: int, damage: Exception | None) -> None:
        """Moves a checkpoint that failed to restore out of orbax's sight, keeping it."""
        where = self.directory.parent / DAMAGED / str(step)
        log.warning(
            "Checkpoint %d cannot be restored (%s); it is moved to %s and the previous "
            "checkpoint is used.",
            step,
            _damage_summary(damage) if damage else "another process could not read it",
            where,
        )
        if jax.process_index() == 0:
            storage.move_tree(self.directory / str(step), where)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"xlmr: set aside checkpoint {step}")
        self._manager.reload()

    def wait(self) -> None:
        with self._reporting("an asynchronous checkpoint save"):
            self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def _anyone(flag: bool) -> bool:
    """Whether any process says so (every process gets the same answer)."""
    if jax.process_count() == 1:
        return flag
    return bool(multihost_utils.process_allgather(np.array(flag)).any())


def _damage_summary(error: Exception) -> str:
    """The first line of the deepest cause that says something: tensorstore's, which names the
    array and the checkpoint directory it failed to read ("OUT_OF_RANGE: Error reading ...")."""
    said, e = str(error), error
    for _ in range(8):
        e = e.__cause__ or e.__context__
        if e is None:
            break
        said = str(e) or said
    return said.strip().splitlines()[0][:500] if said.strip() else type(error).__name__


def _check_compatible(state_dir: storage.Path, target: Any) -> None:
    """Fail before reading arrays when the saved tree does not fit the model (e.g. another size)."""
    metadata = ocp.StandardCheckpointer().metadata(state_dir)
    tree = getattr(metadata, "item_metadata", metadata)
    tree = getattr(tree, "tree", tree)
    diff = trees.compare(trees.path_shapes(target), trees.path_shapes(tree))
    wrong = [  # parameters first: they name the model size
        f"{k}: checkpoint {found} vs model {wanted}"
        for k, wanted, found in sorted(diff.mismatched, key=lambda m: not m[0].startswith("params"))
    ]
    if diff:
        raise CheckpointMismatch(
            f"Checkpoint {state_dir} does not match this model/optimizer "
            f"(was it saved by a different model size or config?). "
            f"Missing: {diff.missing[:5]}; unexpected: {diff.unexpected[:5]}; "
            f"shape mismatches: {wrong[:5]}."
        )
