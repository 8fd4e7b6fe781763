"""Encoder behaviour that does not need a peer: positions, padding, scan/remat equivalence, dtypes."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xlmr_jax import model as model_lib
from xlmr_jax.config import preset
from xlmr_jax.model import (
    XLMRoberta,
    init_params,
    position_ids_from_input_ids,
    stack_layers,
    unstack_layers,
)

CFG = preset("tiny").replace(vocab_size=300)
IDS = jnp.array([[0, 10, 11, 12, 2, 1, 1], [0, 20, 21, 22, 23, 24, 2]])


def test_position_ids_fairseq_convention():
    ids = jnp.array([[0, 5, 2, 1, 1], [1, 1, 0, 5, 2]])  # right and left padding
    np.testing.assert_array_equal(
        position_ids_from_input_ids(ids, 1), [[2, 3, 4, 1, 1], [1, 1, 2, 3, 4]]
    )


@pytest.mark.parametrize("pre_layer_norm", [False, True])
def test_padding_does_not_change_real_positions(pre_layer_norm):
    cfg = CFG.replace(pre_layer_norm=pre_layer_norm)
    model = XLMRoberta(cfg)
    params = init_params(model, jax.random.key(0))
    short = model.apply({"params": params}, IDS[:1, :5])["last_hidden_state"]
    padded = model.apply({"params": params}, IDS[:1])["last_hidden_state"]
    np.testing.assert_allclose(short, padded[:, :5], atol=1e-6)


def test_masked_positions_equal_gathered_full_logits():
    model = XLMRoberta(CFG)
    params = init_params(model, jax.random.key(1))
    full = model.apply({"params": params}, IDS)["logits"]
    positions = jnp.array([[1, 3], [2, 5]])
    part = model.apply({"params": params}, IDS, masked_positions=positions)["logits"]
    np.testing.assert_allclose(part, jnp.take_along_axis(full, positions[..., None], 1), atol=1e-6)


@pytest.mark.parametrize("remat_policy", ["none", "full", "dots_saveable"])
def test_scan_and_remat_match_unrolled(remat_policy):
    model = XLMRoberta(CFG)
    params = nn.unbox(init_params(model, jax.random.key(2)))
    scanned = XLMRoberta(CFG.replace(scan_layers=True, remat_policy=remat_policy))
    stacked = stack_layers(params, CFG.num_layers)

    def loss(m, p):
        return jnp.sum(m.apply({"params": p}, IDS)["logits"] ** 2)

    np.testing.assert_allclose(loss(model, params), loss(scanned, stacked), rtol=1e-5)
    g_ref = jax.grad(lambda p: loss(model, p))(params)
    g_scan = unstack_layers(jax.grad(lambda p: loss(scanned, p))(stacked), CFG.num_layers)
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_scan)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(
        jax.tree.leaves(unstack_layers(stacked, CFG.num_layers)), jax.tree.leaves(params)
    ):
        np.testing.assert_array_equal(a, b)


def test_bf16_compute_keeps_fp32_params_and_close_outputs():
    model = XLMRoberta(CFG)
    params = init_params(model, jax.random.key(3))
    bf16 = XLMRoberta(CFG.replace(dtype="bfloat16"))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nn.unbox(params)))
    ref = model.apply({"params": params}, IDS)["logits"]
    out = bf16.apply({"params": params}, IDS)["logits"]
    assert out.dtype == jnp.float32  # logits and loss are float32
    assert float(jnp.max(jnp.abs(out - ref))) < 0.1


def test_dropout_is_active_only_when_not_deterministic():
    model = XLMRoberta(CFG)
    params = init_params(model, jax.random.key(4))
    a = model.apply(
        {"params": params}, IDS, deterministic=False, rngs={"dropout": jax.random.key(0)}
    )
    b = model.apply(
        {"params": params}, IDS, deterministic=False, rngs={"dropout": jax.random.key(1)}
    )
    c = model.apply({"params": params}, IDS)
    d = model.apply({"params": params}, IDS)
    assert not np.allclose(a["logits"], b["logits"])
    np.testing.assert_array_equal(c["logits"], d["logits"])


def test_task_heads_shapes_and_shared_backbone_names():
    trees = {}
    for head, n in [
        ("sequence_classification", 3),
        ("token_classification", 9),
        ("question_answering", 0),
    ]:
        model = XLMRoberta(CFG, head=head, num_labels=n)
        params = init_params(model, jax.random.key(5))
        out = model.apply({"params": params}, IDS)
        trees[head] = set(params)
        if head == "question_answering":
            assert out["start_logits"].shape == out["end_logits"].shape == IDS.shape
        elif head == "token_classification":
            assert out["logits"].shape == (*IDS.shape, 9)
        else:
            assert out["logits"].shape == (2, 3)
    assert all({"embeddings", "encoder"} <= t for t in trees.values())


def test_too_long_and_bad_head_are_clear_errors():
    model = XLMRoberta(CFG)
    with pytest.raises(ValueError, match="exceeds the model's 512 tokens"):
        init_params(model, jax.random.key(0), seq_len=513)
    with pytest.raises(ValueError, match="unknown head"):
        init_params(XLMRoberta(CFG, head="ranking"), jax.random.key(0))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_tied_decoder_gradients_equal_autodiff(dtype):
    keys = jax.random.split(jax.random.key(0), 4)
    h = jax.random.normal(keys[0], (2, 3, 16)).astype(dtype)
    embedding = jax.random.normal(keys[1], (50, 16)).astype(dtype)
    bias = jax.random.normal(keys[2], (50,))
    g = jax.random.normal(keys[3], (2, 3, 50))
    _, vjp = jax.vjp(model_lib._decode, h, embedding, bias)
    expected = vjp(g)
    _, vjp = jax.vjp(model_lib.tied_decoder, h, embedding, bias)
    rows, h_rows = g.reshape(6, 50), h.reshape(6, 16)
    both = [model_lib._decoder_grads(rows.astype(dtype), h_rows, embedding, rows)]
    both.append(model_lib._decoder_grads_cpu(rows.astype(dtype), h_rows, embedding, rows))
    tol = 1e-6 if dtype == jnp.float32 else 2e-2
    for got in [vjp(g), *[(d[0].reshape(h.shape), d[1], d[2]) for d in both]]:
        for a, b in zip(got, expected):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(
                np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tol, atol=tol
            )
