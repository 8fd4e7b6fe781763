"""The step loop pretraining and fine-tuning share: steps, hooks, checkpoints, preemption.

`run_steps` feeds a data stream to a Trainer, calls hooks (logging, validation, dev
evaluation, model selection) and saves state + data position with TrainCheckpoints; SIGTERM
saves at the next step boundary, agreed across hosts. `resume` restores the latest checkpoint.
What differs between pretraining and fine-tuning lives in the hooks and the data stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import numpy as np
from jax.experimental import multihost_utils

from xlmr_jax import exit_codes, storage
from xlmr_jax.training.profiling import StepProfiler
from xlmr_jax.training.summaries import MetricWriter
from xlmr_jax.training.train_checkpoints import TrainCheckpoints
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.training.trainer import Trainer

log = logging.getLogger(__name__)

# Hosts compare their SIGTERM flags every this many steps (one all-gather each time).
PREEMPTION_SYNC_EVERY = 10


class DataStream(Protocol):
    """Host-local batches whose position is JSON (`state`) and can be restored."""

    def __next__(self) -> dict[str, np.ndarray]: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


# (step, state, metrics) -> True to stop the run after this step.
HookFn = Callable[[int, TrainState, dict], bool | None]


@dataclasses.dataclass(frozen=True)
class Hook:
    """`fn` after every `every`-th step and after the last step (every 0: the last only)."""

    fn: HookFn
    every: int

    def due(self, step: int, last_step: int) -> bool:
        return step == last_step or bool(self.every) and step % self.every == 0


@dataclasses.dataclass
class LoopEnd:
    state: TrainState
    step: int
    preempted: bool  # SIGTERM: saved, more steps to run
    stopped: bool  # a hook asked to stop (early stopping)


class Preemption:
    """SIGTERM or Ctrl-C (SIGINT) sets a flag; the loop saves at the next step boundary and
    stops cleanly (the command then exits with exit_codes.PREEMPTED). A second Ctrl-C exits at
    once, without saving."""

    def __init__(self):
        self.requested = False
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)
        }

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.requested:
            log.warning("Second Ctrl-C: exiting now without saving.")
            os._exit(exit_codes.INTERRUPTED)
        log.warning(
            "%s received: saving a checkpoint at the next step boundary%s.",
            signal.Signals(signum).name,
            " (Ctrl-C again to exit at once)" if signum == signal.SIGINT else "",
        )
        self.requested = True

    def agreed(self, step: int) -> bool:
        """Whether every process should save and stop now."""
        if jax.process_count() == 1:
            return self.requested
        if step % PREEMPTION_SYNC_EVERY:
            return False
        return bool(multihost_utils.process_allgather(np.array(self.requested)).any())

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def resume(
    trainer: Trainer, checkpoints: TrainCheckpoints, data: DataStream
) -> tuple[TrainState, dict] | None:
    """(state, saved loop JSON) of the latest checkpoint, with `data` at its position; or None."""
    if checkpoints.latest_step() is None:
        return None
    state, saved = checkpoints.restore(trainer.abstract_state, trainer.state_shardings)
    data.restore(saved)
    log.info("Resumed from step %d in %s.", int(state.step), checkpoints.directory)
    return state, saved


def run_steps(
    trainer: Trainer,
    state: TrainState,
    data: DataStream,
    *,
    last_step: int,
    checkpoints: TrainCheckpoints,
    writer: MetricWriter,
    hooks: Sequence[Hook] = (),
    loop_state: Callable[[], dict] | None = None,
    nonfinite_dir: storage.Path | None = None,
    profiler: StepProfiler | None = None,
) -> LoopEnd:
    """Steps from `state.step` + 1 to `last_step`; checkpoints hold `data.state()` and
    `loop_state()` (e.g. model selection), so a resumed run continues exactly. The caller waits
    for the last save and closes `checkpoints`, `writer` and `profiler` (`close_run`).

    nonfinite_dir: raise on a step whose loss or gradients are not finite (metrics["finite"]),
    writing its batch there; None leaves non-finite steps to the step function (skipped).
    """
    start = int(state.step)
    end = LoopEnd(state, start, False, False)
    preemption = Preemption()
    try:
        for step in range(start + 1, last_step + 1):
            batch = next(data)
            with profiler.step(step) if profiler else contextlib.nullcontext():
                state, metrics = trainer.train_step(state, batch)
            if nonfinite_dir is not None and not bool(metrics.get("finite", True)):
                _raise_nonfinite(nonfinite_dir, step, batch)
            stop = False
            for hook in hooks:
                if hook.due(step, last_step):
                    stop = bool(hook.fn(step, state, metrics)) or stop
            writer.advance()
            preempted = preemption.agreed(step)
            saved = {**data.state(), **(loop_state() if loop_state else {})}
            checkpoints.save(step, state, saved, force=preempted or stop or step == last_step)
            end = LoopEnd(state, step, preempted, stop)
            if preempted or stop:
                break
    finally:
        preemption.restore()
    end.state = state
    return end


def close_run(
    checkpoints: TrainCheckpoints,
    writer: MetricWriter | None = None,
    profiler: StepProfiler | None = None,
) -> None:
    """Stops the profile, waits for the last save, closes the writer and the checkpoints.
    Every closer runs. The error reported is the one already
    propagating, else the first closer's failure (a failing wait names the save that failed);
    later failures (the store that failed a save may fail the last metrics upload too) are
    only logged."""
    error = sys.exc_info()[1]
    first = None
    closers = [profiler.close] if profiler else []
    closers += [checkpoints.wait, *([writer.close] if writer else []), checkpoints.close]
    for close in closers:
        try:
            close()
        except Exception as e:
            if error is None and first is None:
                first = e
            else:
                log.warning("After the error below, %s also failed: %s", close.__qualname__, e)
    if first is not None:
        raise first


def _raise_nonfinite(directory: storage.Path, step: int, batch: dict) -> None:
    path = directory / f"nonfinite_batch_step{step}.npz"
    with storage.atomic_writer(path) as f:
        np.savez(f, **batch)
    raise FloatingPointError(
        f"Non-finite loss or gradient at step {step}; the batch is saved in {path}."
    )
