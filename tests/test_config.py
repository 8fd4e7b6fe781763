"""ModelConfig presets, gin model files and parameter counts against XLMR_SPEC.md."""

import json

import flax.linen as nn
import gin
import jax
import pytest

from xlmr_jax import cli
from xlmr_jax.config import PRESETS, ModelConfig, parameter_counts, preset
from xlmr_jax.gin_utils import package_gin_dir
from xlmr_jax.model import XLMRoberta, init_params

# XLMR_SPEC.md "Sizes": encoder + MLM head (tied).
SPEC_PARAMS = {"base": 278.30e6, "large": 560.14e6, "xl": 3.4827e9, "xxl": 10.7130e9}


@pytest.mark.parametrize("name", sorted(SPEC_PARAMS))
def test_parameter_counts_match_spec(name):
    total = parameter_counts(preset(name))["total"]
    assert abs(total - SPEC_PARAMS[name]) / SPEC_PARAMS[name] < 1e-3


@pytest.mark.parametrize("pre_layer_norm", [False, True])
def test_parameter_count_equals_initialised_tree(pre_layer_norm):
    cfg = preset("tiny").replace(pre_layer_norm=pre_layer_norm, num_heads=2)
    params = nn.unbox(init_params(XLMRoberta(cfg), jax.random.key(0)))
    assert sum(x.size for x in jax.tree.leaves(params)) == parameter_counts(cfg)["total"]


def test_presets_layout_facts():
    assert preset("base").vocab_size == preset("large").vocab_size == 250002
    assert preset("xl").vocab_size == preset("xxl").vocab_size == 250880
    assert not preset("large").pre_layer_norm and preset("xxl").pre_layer_norm
    assert [preset(n).head_dim for n in ("base", "large", "xl", "xxl")] == [64, 64, 80, 128]
    assert all(p.layer_norm_eps == 1e-5 and p.max_positions == 514 for p in PRESETS.values())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_gin_model_files_equal_presets(name):
    gin.clear_config()
    gin.parse_config_file(str(package_gin_dir() / "models" / f"{name}.gin"))
    cfg = gin.query_parameter("%MODEL_CONFIG").scoped_configurable_fn()
    gin.clear_config()
    assert cfg == preset(name)


def test_bad_config_errors():
    with pytest.raises(ValueError, match="not divisible"):
        ModelConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match="remat_policy"):
        ModelConfig(remat_policy="sometimes")
    with pytest.raises(ValueError, match="Unknown model"):
        preset("huge")


def test_model_info_cli(capsys):
    assert cli.main(["model-info", "--model", "xxl", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["total"] == parameter_counts(preset("xxl"))["total"]
    assert info["total"] == info["embeddings"] + info["encoder"] + info["lm_head"]
    assert cli.main(["model-info", "--model", "base"]) == 0
    assert "278.30M" in capsys.readouterr().out


def test_sinusoidal_position_init_is_the_scaled_table_and_only_the_start():
    import numpy as np

    from xlmr_jax.model import _embedding_init

    cfg = ModelConfig(hidden_size=8, num_heads=2, position_init="sinusoidal", init_std=0.1)
    table = np.asarray(
        nn.meta.unbox(_embedding_init(cfg, (None, "embed"), 1, True)(jax.random.PRNGKey(0), (6, 8)))
    )
    assert (table[1] == 0).all()  # the padding row
    angle = 3 * 10000.0 ** (-2 / 8)  # position row 3, frequency index 1
    np.testing.assert_allclose(
        table[3, 2:4], 0.1 * 2**0.5 * np.array([np.sin(angle), np.cos(angle)]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="position_init"):
        ModelConfig(position_init="rotary")
