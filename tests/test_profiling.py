"""`train.profile_steps`: a jax.profiler trace of the chosen steps where TensorBoard looks."""

from __future__ import annotations

import pytest

from xlmr_jax import gin_utils
from xlmr_jax.training.profiling import StepProfiler


def test_profile_steps_write_a_trace_tensorboard_finds(tmp_path, tiny_run_bindings):
    from xlmr_jax.training.loop import train

    run = tmp_path / "run"
    bindings = [*tiny_run_bindings, f"MODEL_DIR = '{run}'", "train.stop_after = 4"]
    gin_utils.parse(["pretrain/tiny_cpu.gin"], [*bindings, "train.profile_steps = (2, 3)"])
    assert train().step == 4
    traces = list((run / "tensorboard" / "plugins" / "profile").glob("*/*.xplane.pb"))
    assert len(traces) == 1  # one trace, in the layout of TensorBoard's profile plugin
    data = traces[0].read_bytes()
    assert len(data) > 10_000
    assert b"train" in data and b"jit_" in data  # the step annotations and the compiled step


@pytest.mark.parametrize("steps", [(0, 2), (3, 2), (1, 2, 3)])
def test_bad_profile_steps_are_refused(steps, tmp_path):
    with pytest.raises(ValueError, match="profile_steps must be"):
        StepProfiler(tmp_path, steps)
