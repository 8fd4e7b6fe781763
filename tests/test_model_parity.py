"""xlmr-jax vs HuggingFace PyTorch on converted random weights: hidden states, MLM and task logits."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import transformers
from hf_peer import hf_model, hf_outputs, padded_batch

from xlmr_jax.convert import hf
from xlmr_jax.model import XLMRoberta, init_params
from xlmr_jax.model_checkpoint import check_params

pytestmark = pytest.mark.parity

TOL = 1e-5
LENGTHS = [13, 9, 4]  # right padding of different lengths, pad id 1
# (pre_layer_norm, hidden, heads): head_dim 64, 16 and 16 with an odd head count.
SHAPES = [(False, 128, 2), (True, 64, 4), (False, 48, 3), (True, 48, 3)]


def _convert(model, pre_layer_norm: bool):
    config = hf.config_from_hf(model.config.to_dict())
    assert config.pre_layer_norm == pre_layer_norm
    params, head = hf.params_from_hf(model.state_dict(), config)
    return config, params, head


def _max_diff(ours, theirs, mask) -> float:
    return float(np.max(np.abs(np.asarray(ours) - theirs)[mask]))


def _run(config, head, num_labels, params, ids, **kw):
    module = XLMRoberta(config, head, num_labels)
    return module.apply({"params": params}, jnp.asarray(ids), **kw)


@pytest.mark.parametrize("pre_layer_norm,hidden,heads", SHAPES)
def test_mlm_hidden_states_and_logits_match_hf(pre_layer_norm, hidden, heads):
    model = hf_model(pre_layer_norm, hidden=hidden, heads=heads, seed=hidden)
    config, params, head = _convert(model, pre_layer_norm)
    assert head == "mlm"
    ids = padded_batch(LENGTHS, seed=1)
    real = ids != 1
    theirs = hf_outputs(model, ids)
    ours = _run(config, "mlm", 0, params, ids)
    hidden_diff = _max_diff(ours["last_hidden_state"], theirs["last_hidden_state"], real)
    logits_diff = _max_diff(ours["logits"], theirs["logits"], real)
    print(
        f"max|diff| mlm pre={pre_layer_norm} D={hidden} H={heads}: {max(hidden_diff, logits_diff):.2e}"
    )
    assert hidden_diff <= TOL and logits_diff <= TOL, (hidden_diff, logits_diff)
    assert np.abs(theirs["logits"][real]).max() > 0.1  # the comparison is not between zeros

    # fairseq runs the head only at masked positions: same numbers as gathering the full logits.
    positions = np.array([[1, 5, 11], [2, 3, 7], [1, 2, 2]], np.int32)
    masked = _run(config, "mlm", 0, params, ids, masked_positions=jnp.asarray(positions))["logits"]
    gathered = np.take_along_axis(np.asarray(ours["logits"]), positions[..., None], axis=1)
    np.testing.assert_allclose(masked, gathered, rtol=0, atol=1e-6)
    hf_gathered = np.take_along_axis(theirs["logits"], positions[..., None], axis=1)
    assert (
        np.abs(np.asarray(masked) - hf_gathered)[positions < np.array(LENGTHS)[:, None]].max()
        <= TOL
    )


HEAD_CASES = [
    ("sequence_classification", 3, ("logits",)),
    ("sequence_classification", 1, ("logits",)),  # regression
    ("token_classification", 5, ("logits",)),
    ("question_answering", 2, ("start_logits", "end_logits")),
]


@pytest.mark.parametrize("pre_layer_norm", [False, True])
@pytest.mark.parametrize("head,num_labels,keys", HEAD_CASES)
def test_task_heads_match_hf(pre_layer_norm, head, num_labels, keys):
    kw = {"problem_type": "regression"} if num_labels == 1 else {}
    model = hf_model(pre_layer_norm, head, num_labels=num_labels, hidden=48, heads=3, seed=7, **kw)
    config, params, found = _convert(model, pre_layer_norm)
    assert found == head
    ours_labels = num_labels if head != "question_answering" else 0
    check_params(params, config, head, ours_labels)
    ids = padded_batch(LENGTHS, seed=2)
    theirs = hf_outputs(model, ids)
    ours = _run(config, head, ours_labels, params, ids)
    for key in keys:
        mask = np.ones(theirs[key].shape, bool)
        if head != "sequence_classification":  # per-token outputs: compare real tokens only
            mask = np.broadcast_to(
                (ids != 1).reshape(ids.shape + (1,) * (mask.ndim - 2)), mask.shape
            )
        diff = _max_diff(ours[key], theirs[key], mask)
        print(f"max|diff| {head}/{num_labels} pre={pre_layer_norm} {key}: {diff:.2e}")
        assert ours[key].shape == theirs[key].shape
        assert np.abs(theirs[key]).max() > 1e-2  # not a comparison of near-zeros
        assert diff <= TOL, (key, diff)


@pytest.mark.parametrize("pre_layer_norm", [False, True])
def test_pretrained_mlm_tree_initialises_a_classifier(pre_layer_norm, tmp_path):
    """HF's from_pretrained(MLM dir) into a classifier == our MLM embeddings/encoder + its head."""
    mlm = hf_model(pre_layer_norm, hidden=48, heads=3, seed=3)
    config, mlm_params, _ = _convert(mlm, pre_layer_norm)
    mlm.save_pretrained(tmp_path)
    cls_name = hf.architecture(config, "sequence_classification")
    classifier = getattr(transformers, cls_name).from_pretrained(tmp_path, num_labels=4).eval()

    fresh = init_params(XLMRoberta(config, "sequence_classification", 4), jax.random.PRNGKey(0))
    head_params, _ = hf.params_from_hf(classifier.state_dict(), config)
    params = {
        "embeddings": mlm_params["embeddings"],
        "encoder": mlm_params["encoder"],
        "classifier": head_params["classifier"],
    }
    assert jax.tree.structure(params) == jax.tree.structure(nn.unbox(fresh))
    ids = padded_batch(LENGTHS, seed=4)
    theirs = hf_outputs(classifier, ids)
    ours = _run(config, "sequence_classification", 4, params, ids)
    diff = _max_diff(ours["logits"], theirs["logits"], np.ones(theirs["logits"].shape, bool))
    print(f"max|diff| mlm->classifier pre={pre_layer_norm}: {diff:.2e}")
    assert diff <= TOL
