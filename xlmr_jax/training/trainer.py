"""Jitted, sharded train/eval steps for one model on one mesh."""

from __future__ import annotations

import contextlib
import functools
import time
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


class Trainer:
    """Owns the state shardings and the compiled steps; the loop feeds it host-local batches."""

    def __init__(
        self,
        model: XLMRoberta,
        optimizer: optax.GradientTransformation,
        mesh: Mesh,
        mask_fn: MaskFn,
        step_config: StepConfig | None = None,
        fsdp: bool = False,
    ):
        step_config = step_config or StepConfig()
        self.model, self.optimizer, self.mesh = model, optimizer, mesh
        self.rules = sharding.logical_axis_rules(fsdp)
        self.abstract_state, self.state_specs = state_specs(model, optimizer, self.rules)
        self.state_shardings = sharding.shardings(self.state_specs, mesh)
        self.compile_seconds = 0.0
        self._compiled_train = None
        self._batch_shardings = batch_shardings = {
            "input_ids": sharding.batch_sharding(mesh, 2),
            "language": sharding.batch_sharding(mesh, 1),
        }
        replicated = sharding.replicated(mesh)
        self._train = jax.jit(
            functools.partial(
                train_step, model=model, optimizer=optimizer, mask_fn=mask_fn, config=step_config
            ),
            in_shardings=(self.state_shardings, batch_shardings),
            out_shardings=(self.state_shardings, replicated),
            donate_argnums=0,
        )
        self._eval = jax.jit(
            functools.partial(
                eval_step, model=model, mask_fn=mask_fn, num_languages=step_config.num_languages
            ),
            in_shardings=(self.state_shardings, batch_shardings, replicated),
            out_shardings=replicated,
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

    def place_state(self, state: TrainState) -> TrainState:
        return jax.device_put(state, self.state_shardings)

    def _global(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        return sharding.host_batch_to_global(
            {"input_ids": batch["input_ids"], "language": batch["language"]}, self.mesh
        )

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

    def compile_abstract(self, batch_size: int, seq_len: int):
        """Compile the train step for abstract inputs (no arrays allocated): for planning."""

        def abstract(tree, shardings):
            return jax.tree.map(
                lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings
            )

        batch = {
            "input_ids": jax.ShapeDtypeStruct((batch_size, seq_len), np.int32),
            "language": jax.ShapeDtypeStruct((batch_size,), np.int32),
        }
        with self._context():
            return self._train.lower(
                abstract(self.abstract_state, self.state_shardings),
                abstract(batch, self._batch_shardings),
            ).compile()

    def eval_step(
        self, state: TrainState, batch: dict[str, np.ndarray], key: jax.Array
    ) -> dict[str, jax.Array]:
        with self._context():
            return self._eval(state, self._global(batch), key)
