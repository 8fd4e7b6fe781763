"""The train step compiled by libtpu for a v5e 2x4 slice (8 chips, no TPU needed): the
collectives each sharding preset implies, the splash kernel in the program, and its memory.

Needs the `tpu` extra (libtpu); CI installs it (Makefile), elsewhere the tests skip without it.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from xlmr_jax import collectives, plan, sharding, targets
from xlmr_jax.config import preset
from xlmr_jax.plan import compile_train_step

if importlib.util.find_spec("libtpu") is None:
    if os.environ.get("CI"):
        pytest.fail("CI installs the tpu extra (libtpu) for these tests", pytrace=False)
    pytest.skip('libtpu not installed: pip install -e ".[tpu]"', allow_module_level=True)

V5E_2X4 = targets.parse("tpu:v5e:2x4")
# Small, but with XLM-R's head size 64 and 8 heads so tensor parallel 8 splits them.
CFG = preset("tiny").replace(
    vocab_size=8064,
    hidden_size=512,
    num_heads=8,
    mlp_dim=2048,
    dtype="bfloat16",
    attention_dropout_rate=0.0,
)
PRESETS = {
    "data_parallel": sharding.MeshConfig(),
    "fsdp": sharding.MeshConfig(fsdp=True),
    "tp2": sharding.MeshConfig(model=2),
    "tp8": sharding.MeshConfig(model=8),
}
EMBEDDING = f"[{CFG.vocab_size},{CFG.hidden_size}]"


def _compile(mesh_config, batch_size=16, seq_len=128, **changes):
    compiled, _ = compile_train_step(
        CFG.replace(**changes),
        mesh_config,
        batch_size=batch_size,
        seq_len=seq_len,
        target=V5E_2X4,
    )
    return compiled


def _by_kind(compiled) -> dict[str, list[collectives.Collective]]:
    out: dict[str, list] = {}
    for c in collectives.parse(compiled.as_text()):
        out.setdefault(c.kind, []).append(c)
    return out


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_sharding_preset_compiles_with_the_collectives_it_implies(name):
    found = _by_kind(_compile(PRESETS[name]))
    gathers = [c.shapes for c in found.get("all-gather", [])]
    layers = CFG.num_layers
    if name == "data_parallel":
        # Gradients (and the loss sums) are all-reduced over the 8 data shards; nothing gathered.
        assert set(found) == {"all-reduce"}
        reduced = sum(c.payload_bytes * c.count for c in found["all-reduce"])
        assert reduced >= 2 * sum(_param_counts())  # every bf16 gradient at least once
    elif name == "fsdp":
        # ZeRO-3: parameters gathered where they are used (twice per layer: forward and
        # backward), gradients reduce-scattered back to their shards.
        assert len(gathers) >= 2 * layers
        assert any(EMBEDDING in s for s in gathers)  # FSDP gathers the embedding by design
        assert "reduce-scatter" in found
    else:
        # Megatron: per layer, an activation all-reduce after attention and after the MLP,
        # forward and backward; the vocabulary-split embedding is never gathered whole.
        model = PRESETS[name].model
        activation = f"[{16 // (8 // model)},128,{CFG.hidden_size}]"  # this device's rows
        block_reduces = [
            c for c in found["all-reduce"] if activation in c.shapes and c.group_size == model
        ]
        assert sum(c.count * c.shapes.count(activation) for c in block_reduces) >= 4 * layers
        assert not any(EMBEDDING in s for s in gathers)
        assert "reduce-scatter" not in found or all(
            EMBEDDING not in c.shapes for c in found["reduce-scatter"]
        )


def _param_counts() -> list[int]:
    from xlmr_jax.config import parameter_counts

    return [parameter_counts(CFG)["total"]]


def test_splash_kernel_is_in_the_program():
    text = _compile(PRESETS["data_parallel"], attention_impl="splash").as_text()
    assert "tpu_custom_call" in text and "splash" in text
    assert "tpu_custom_call" not in _compile(PRESETS["data_parallel"]).as_text()


@pytest.mark.slow
def test_splash_uses_less_memory_than_xla_at_long_sequences():
    """One layer, two 2048-token sequences per chip: measured 41 MB of temporaries per chip
    with splash, 433 MB with xla (the [heads, L, L] scores). Up to 1024 tokens libtpu keeps
    xla attention as small as splash (9.5 MB both at 2 x 512 and 1 x 1024 per chip), so the
    test needs the long shape (4-5 minutes per compile on a busy 2-core machine)."""
    shape = dict(batch_size=16, seq_len=2048, num_layers=1, max_positions=2050)
    splash = _compile(PRESETS["data_parallel"], attention_impl="splash", **shape)
    xla = _compile(PRESETS["data_parallel"], attention_impl="xla", **shape)
    splash_bytes = splash.memory_analysis().temp_size_in_bytes
    xla_bytes = xla.memory_analysis().temp_size_in_bytes
    assert splash_bytes < 0.5 * xla_bytes, (splash_bytes, xla_bytes)


def test_splash_compiles_under_tensor_parallel():
    text = _compile(PRESETS["tp8"], attention_impl="splash").as_text()
    assert "tpu_custom_call" in text


@pytest.mark.slow
def test_the_plan_search_compiles_each_setting_with_libtpu():
    """`xlmr plan --target tpu:... --remat auto` is `plan.search` on the target: libtpu compiles
    each setting and refuses those over the chip's HBM. The tiny model at 2048 x 512 tokens on
    one v5e chip (16 GiB): remat none and dots_saveable are refused (a refusal stops early),
    full remat fits (the compile that takes the time: 193 s for the test on the loaded 2-core
    machine, 112 s of CPU)."""
    cfg = preset("tiny").replace(dtype="bfloat16", scan_layers=True)
    best, tried = plan.search(
        cfg,
        sharding.MeshConfig(),
        batch_size=2048,
        seq_len=512,
        target=targets.parse("tpu:v5e:1x1"),
    )
    assert [p.remat_policy for p in tried] == ["none", "dots_saveable", "full"]
    assert all(p.compiler.startswith("libtpu") for p in tried)
    for p in tried[:2]:
        assert p.fits is False and "RESOURCE_EXHAUSTED" in p.error
        assert p.per_device_bytes["total"] > p.budget_bytes == 16 * 2**30
    assert best is tried[-1] and best.fits and best.error is None and best.microbatches == 1
    needed = [p.per_device_bytes["total"] for p in tried]
    assert needed[0] > needed[1] > needed[2]  # each remat level saves memory on the chip
