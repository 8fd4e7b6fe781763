"""Jitted, sharded train/eval steps for one model on one mesh (pretraining and fine-tuning)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.sharding import Mesh

from xlmr_jax import sharding
from xlmr_jax.model import XLMRoberta
from xlmr_jax.training.train_state import TrainState, init_train_state, state_specs
from xlmr_jax.training.train_step import MaskFn, StepConfig, eval_step, train_step

# (state, global batch) -> (new state, metrics); (state, global batch, key) -> metrics
TrainStepFn = Callable[[TrainState, dict], tuple[TrainState, dict]]
EvalStepFn = Callable[[TrainState, dict, jax.Array], dict]

MLM_BATCH = {"input_ids": 2, "language": 1}


class Trainer:
    """Owns the state shardings and the compiled steps; the loops feed it host-local batches.

    `batch_ndims` names the batch fields the steps read and their ranks; every field is
    sharded over the data axis on its first dimension.
    """

    def __init__(
        self,
        model: XLMRoberta,
        optimizer: optax.GradientTransformation,
        mesh: Mesh,
        train_step_fn: TrainStepFn,
        eval_step_fn: EvalStepFn,
        batch_ndims: dict[str, int],
        fsdp: bool = False,
    ):
        self.model, self.optimizer, self.mesh = model, optimizer, mesh
        self.rules = sharding.logical_axis_rules(fsdp)
        self.abstract_state, self.state_specs = state_specs(model, optimizer, self.rules)
        self.state_shardings = sharding.shardings(self.state_specs, mesh)
        self.compile_seconds = 0.0
        self._compiled_train = None
        self._batch_ndims = batch_ndims
        self._batch_shardings = {
            k: sharding.batch_sharding(mesh, n) for k, n in batch_ndims.items()
        }
        replicated = sharding.replicated(mesh)
        self._train = jax.jit(
            train_step_fn,
            in_shardings=(self.state_shardings, self._batch_shardings),
            out_shardings=(self.state_shardings, replicated),
            donate_argnums=0,
        )
        self._eval = jax.jit(
            eval_step_fn,
            in_shardings=(self.state_shardings, self._batch_shardings, replicated),
        )

    @contextlib.contextmanager
    def _context(self):
        with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
            yield

    def init_state(self, seed: int, params: Any = None) -> TrainState:
        """A fresh state created directly in its shardings (no host copy of the full model)."""
        with self._context():
            init = jax.jit(
                lambda p: init_train_state(self.model, self.optimizer, seed, p),
                out_shardings=self.state_shardings,
            )
            return init(params)

    def _global(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        return sharding.host_batch_to_global({k: batch[k] for k in self._batch_ndims}, self.mesh)

    def train_step(
        self, state: TrainState, batch: dict[str, np.ndarray]
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        with self._context():
            global_batch = self._global(batch)
            if self._compiled_train is None:
                start = time.perf_counter()
                self._compiled_train = self._train.lower(state, global_batch).compile()
                self.compile_seconds = time.perf_counter() - start
            return self._compiled_train(state, global_batch)

    @property
    def compiled_train(self) -> jax.stages.Compiled | None:
        """The compiled train step (None before the first step or `compile_abstract`)."""
        return self._compiled_train

    def compile_abstract(self, batch_size: int, seq_len: int):
        """Compile the train step for abstract inputs (no arrays allocated); `train_step` then
        runs this executable (for batches of that shape)."""

        def abstract(tree, shardings):
            return jax.tree.map(
                lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings
            )

        batch = {
            k: jax.ShapeDtypeStruct((batch_size, seq_len)[:n], np.int32)
            for k, n in self._batch_ndims.items()
        }
        with self._context():
            start = time.perf_counter()
            self._compiled_train = self._train.lower(
                abstract(self.abstract_state, self.state_shardings),
                abstract(batch, self._batch_shardings),
            ).compile()
            self.compile_seconds = time.perf_counter() - start
            return self._compiled_train

    def eval_step(
        self, state: TrainState, batch: dict[str, np.ndarray], key: jax.Array
    ) -> dict[str, Any]:
        """Outputs of the eval step (replicated unless the step constrains them)."""
        with self._context():
            return self._eval(state, self._global(batch), key)


def mlm_trainer(
    model: XLMRoberta,
    optimizer: optax.GradientTransformation,
    mesh: Mesh,
    mask_fn: MaskFn,
    step_config: StepConfig | None = None,
    fsdp: bool = False,
) -> Trainer:
    """The pretraining Trainer: on-device masking, masked-only LM loss."""
    step_config = step_config or StepConfig()
    return Trainer(
        model,
        optimizer,
        mesh,
        functools.partial(
            train_step, model=model, optimizer=optimizer, mask_fn=mask_fn, config=step_config
        ),
        functools.partial(
            eval_step, model=model, mask_fn=mask_fn, num_languages=step_config.num_languages
        ),
        MLM_BATCH,
        fsdp,
    )
