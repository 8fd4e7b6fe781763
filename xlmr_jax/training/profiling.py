"""A `jax.profiler` trace of steps first..last, in MODEL_DIR/tensorboard where TensorBoard finds it.

`train.profile_steps = (first, last)` (and `finetune.profile_steps`) as MaxText's
`profiler_steps` / T5X's profiling: the trace (`plugins/profile/<run>/*.xplane.pb`) opens in
TensorBoard's Profile tab (`pip install tensorboard-plugin-profile`) or XProf. Each step is
annotated with its number, so the trace viewer's step view lines up with the loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence

import jax

from xlmr_jax import storage

log = logging.getLogger(__name__)
TRACE_DIR = "tensorboard"


class StepProfiler:
    """Call `step(n)` around each step; `close()` when the loop ends (also on errors)."""

    def __init__(
        self, model_dir: storage.PathLike, steps: Sequence[int] | None, name: str = "train"
    ):
        self.first, self.last = _check(steps)
        self.directory = storage.as_path(model_dir, "MODEL_DIR") / TRACE_DIR
        self.name = name
        self._active = False

    @contextlib.contextmanager
    def step(self, step: int) -> Iterator[None]:
        if step == self.first and jax.process_index() == 0:
            self._local = tempfile.mkdtemp(prefix="xlmr_trace_")  # the profiler writes locally
            jax.profiler.start_trace(self._local)
            self._active = True
        with jax.profiler.StepTraceAnnotation(self.name, step_num=step):
            yield
        if self._active and step >= self.last:
            self.close()

    def close(self) -> None:
        """Stop the trace (after the traced steps' device work has finished) and write it."""
        if self._active:
            jax.block_until_ready(jax.live_arrays())  # dispatch is asynchronous
            jax.profiler.stop_trace()
            self._active = False
            for file in storage.files_under(self._local):  # then into MODEL_DIR (maybe gs://)
                storage.copy_file(file, self.directory / os.path.relpath(file, self._local))
            shutil.rmtree(self._local, ignore_errors=True)
            log.info(
                "Profile of steps %d..%d written to %s.", self.first, self.last, self.directory
            )


def _check(steps: Sequence[int] | None) -> tuple[int, int]:
    """(first, last) or (0, -1) for no profiling."""
    if not steps:
        return 0, -1
    steps = tuple(int(s) for s in steps)
    if len(steps) != 2 or not 1 <= steps[0] <= steps[1]:
        raise ValueError(
            f"profile_steps must be (first, last) with 1 <= first <= last, got {steps}."
        )
    return steps
