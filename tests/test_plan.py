"""The ahead-of-time planner: exact argument bytes, and memory that shrinks as sharding grows."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from xlmr_jax import sharding
from xlmr_jax.config import preset
from xlmr_jax.plan import plan_train_step


def test_argument_bytes_are_exactly_state_plus_batch():
    cfg = preset("tiny")
    plan = plan_train_step(cfg, sharding.MeshConfig(), batch_size=4, seq_len=32)
    n = sum(x.size for x in jax.tree.leaves(_params(cfg)))
    # params + Adam mu + nu (float32); Adam's count, step, skipped (int32);
    # rng (2 x uint32);
    # batch input_ids [4, 32] + language [4] (int32).
    expected = 3 * 4 * n + 3 * 4 + 2 * 4 + 4 * (4 * 32 + 4)
    assert plan.per_device_bytes["arguments"] == expected
    assert plan.per_device_bytes["aliased"] > 0.99 * 3 * 4 * n  # the state is donated
    assert plan.flops_per_step > 0 and plan.fits is None


def _params(cfg):
    import flax.linen as nn

    from xlmr_jax.model import XLMRoberta, init_params

    return nn.unbox(jax.eval_shape(lambda: init_params(XLMRoberta(cfg), jax.random.key(0))))


@pytest.mark.slow
def test_plan_cli_model_parallel_sweep_and_fsdp():
    base = [sys.executable, "-m", "xlmr_jax.cli", "plan", "--gin_file=models/large.gin"]
    base += ["--gin.ModelConfig.vocab_size=250880"]  # padded as XL/XXL, to split 4 and 8 ways
    base += ["--devices=8", "--batch_size=16", "--seq_len=128", "--remat=full", "--json"]
    out = subprocess.run(
        [*base, "--sweep_model_parallel=1,2,4,8"], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    plans = json.loads(out.stdout)
    assert [p["mesh"]["model"] for p in plans] == [1, 2, 4, 8]
    args = [p["per_device_bytes"]["arguments"] for p in plans]
    assert all(a > b for a, b in zip(args, args[1:]))
    assert args[0] / args[-1] > 4  # vocab, heads and FFN split 8 ways; LayerNorms replicated
    assert all(p["fits"] for p in plans)  # Large fits an 80 GB H100 at this batch
    assert {"per_device_bytes", "fits", "flops_per_step", "mesh"} <= set(plans[0])
    fsdp = subprocess.run(
        [*base, "--gin_file=sharding/fsdp.gin"], capture_output=True, text=True, timeout=900
    )
    assert fsdp.returncode == 0, fsdp.stderr[-3000:]
    fsdp_plan = json.loads(fsdp.stdout)
    assert fsdp_plan["mesh"]["fsdp"] is True
    assert fsdp_plan["per_device_bytes"]["arguments"] < args[0] / 4
    assert np.isclose(fsdp_plan["flops_per_step"], plans[0]["flops_per_step"])


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="needs glibc mallinfo2")
@pytest.mark.parametrize("remat", ["none", "full"])
def test_plan_arguments_equal_the_measured_state(remat):
    """Issue 6's cross-check through the CLI, its load-independent part: the compiled program's
    argument bytes against the allocated state of the same step actually run. The step's peak
    depends on how many ops XLA:CPU overlaps, so on how busy the machine is (issue 12): planned
    against measured totals is a figure in docs/scale.md, not a test."""
    cmd = [sys.executable, "-m", "xlmr_jax.cli", "plan", "--gin_file=models/tiny.gin"]
    cmd += ["--gin.ModelConfig.vocab_size=60000", "--gin.ModelConfig.hidden_size=256"]
    cmd += ["--gin.ModelConfig.mlp_dim=1024", "--gin.ModelConfig.num_layers=4"]
    cmd += ["--devices=1", "--batch_size=16", "--seq_len=128", "--dtype=float32"]
    cmd += [f"--remat={remat}", "--measure", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    planned, measured = result["per_device_bytes"], result["measured_bytes"]
    assert measured["arguments"] > 200 * 2**20  # the state: 3 x 4 bytes x ~19M parameters
    assert abs(planned["arguments"] / measured["arguments"] - 1) <= 1e-3, (planned, measured)
    assert measured["step_peak"] > 0 and planned["temporaries"] > 0
