"""The train step compiled by the CUDA compiler for 8 H100s (no GPU needed), with cuDNN flash
attention. The `gpu` extra (the CUDA plugin, about 5.5 GB) is not installed in CI, so there
these tests skip; docs/scale.md shows the GPU compiles and the commands that made them."""

from __future__ import annotations

import pytest

from xlmr_jax import sharding, targets
from xlmr_jax.config import preset
from xlmr_jax.plan import compile_train_step

H100X8 = targets.parse("gpu:h100x8")
pytestmark = pytest.mark.skipif(
    not H100X8.compiler_available(),
    reason='the CUDA plugin (pip install -e ".[gpu]", ~5.5 GB) is not installed; not in CI',
)
CFG = preset("tiny").replace(
    vocab_size=8064, hidden_size=512, num_heads=8, mlp_dim=2048, dtype="bfloat16",
    attention_dropout_rate=0.0,
)  # fmt: skip


@pytest.mark.parametrize("mesh_config", [sharding.MeshConfig(), sharding.MeshConfig(model=2)])
def test_cudnn_attention_compiles_for_h100s(mesh_config):
    compiled, _ = compile_train_step(
        CFG.replace(attention_impl="cudnn"), mesh_config, batch_size=16, seq_len=128,
        target=H100X8,
    )  # fmt: skip
    text = compiled.as_text()
    assert "__cudnn$fmhaSoftmax" in text and "__cudnn$fmhaSoftmaxBackward" in text
    assert compiled.memory_analysis().temp_size_in_bytes > 0
