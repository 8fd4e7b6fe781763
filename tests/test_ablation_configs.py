"""Every ablation gin file against what its comments claim: parameter count and language set;
the two vocabulary sweeps of Conneau et al. 2019 section 5.1; named language lists."""

from __future__ import annotations

import re
from pathlib import Path

import gin
import pytest

from xlmr_jax import gin_utils
from xlmr_jax.config import PRESETS, SIZE_FIELDS, parameter_counts
from xlmr_jax.data.cc100 import language_set
from xlmr_jax.data.languages import (
    WIKI100_LANGUAGES,
    WIKI_XNLI_LANGUAGES,
    resolve_languages,
    wiki_language_set,
)

ABLATIONS = sorted((gin_utils.package_gin_dir() / "pretrain" / "ablations").glob("*.gin"))
REQUIRED = ["MODEL_DIR = '/m'", "DATA_DIR = '/d'", "SPM_MODEL = '/s'", "TRAIN_STEPS = 1"]


def _operative(path: Path) -> tuple:
    """(ModelConfig, LANGUAGES, ALPHA) of a gin file as `xlmr train` would parse it."""
    gin_utils.parse([str(path)], REQUIRED)
    try:
        config = gin.query_parameter("%MODEL_CONFIG").scoped_configurable_fn()
        return config, gin.query_parameter("%LANGUAGES"), gin.query_parameter("%ALPHA")
    finally:
        gin.clear_config()


def _claim(path: Path, field: str) -> str:
    match = re.search(rf"^# {field}: (.+)$", path.read_text(), re.MULTILINE)
    assert match, f"{path.name} has no '# {field}:' comment"
    return match[1]


def test_every_ablation_file_is_checked():
    names = {p.stem for p in ABLATIONS}
    assert len(names) == 20
    assert {f"vocab_base_{k}k" for k in (128, 256, 512)} <= names
    assert {f"vocab_fixed_{k}k" for k in (32, 64, 128, 256, 512)} <= names


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_parameter_count_and_languages_match_comments(path):
    config, languages, _ = _operative(path)
    claimed = int(_claim(path, "Parameters").split()[0].replace(",", ""))
    assert parameter_counts(config)["total"] == claimed
    name = _claim(path, "Languages").split()[0]
    assert languages == name
    n = int(name.removeprefix("wiki"))
    assert resolve_languages(languages) == list(wiki_language_set(n))
    assert len(set(resolve_languages(languages))) == n
    pieces = int(re.search(r"SPM_MODEL \((\d+)-piece", path.read_text())[1])
    assert config.vocab_size == pieces + 2  # N pieces -> N + 2 ids, as tiny_cpu.gin (8000 -> 8002)


def test_vocabulary_sweeps():
    """Fixed capacity (32K-256K within 4% of the 256K model) vs capacity growing at width 768."""
    by_name = {p.stem: _operative(p)[0] for p in ABLATIONS}
    fixed = {k: parameter_counts(by_name[f"vocab_fixed_{k}k"])["total"] for k in (32, 64, 128)}
    reference = parameter_counts(by_name["vocab_fixed_256k"])["total"]
    assert all(abs(total - reference) / reference < 0.04 for total in fixed.values())
    growing = [by_name[f"vocab_base_{k}k"] for k in (128, 256, 512)]
    assert {(c.hidden_size, c.num_layers, c.num_heads, c.mlp_dim) for c in growing} == {
        (768, 12, 12, 3072)  # BERT-Base, section 5.1
    }
    totals = [parameter_counts(c)["total"] for c in growing]
    assert totals == [184_477_186, 282_909_186, 479_773_186]
    assert by_name["vocab_base_256k"] == by_name["vocab_fixed_256k"]


def test_ablations_sample_alpha_and_widths_of_the_paper():
    alphas = {p.stem: _operative(p)[2] for p in ABLATIONS if p.stem.startswith("alpha_")}
    assert alphas == {f"alpha_{a}": float(a) for a in ("0.3", "0.5", "0.7", "1.0")}
    widths = {p.stem: _operative(p)[0].hidden_size for p in ABLATIONS if "width" in p.stem}
    assert widths == {"width_768": 768, "width_960": 960, "width_1152": 1152}


def test_named_language_lists():
    assert len(WIKI100_LANGUAGES) == len(set(WIKI100_LANGUAGES)) == 100
    assert set(WIKI_XNLI_LANGUAGES) <= set(WIKI100_LANGUAGES)
    assert resolve_languages("wiki7") == ["en", "fr", "de", "ru", "zh", "sw", "ur"]
    assert resolve_languages("wiki30")[:15] == list(WIKI_XNLI_LANGUAGES)
    assert resolve_languages("wiki30")[15:18] == ["pt", "it", "ja"]  # README order after XNLI's
    assert resolve_languages("cc15") == resolve_languages(15) == list(language_set(15))
    assert resolve_languages("100") == list(language_set(100))
    assert resolve_languages("sw,zh_yue") == resolve_languages(["sw", "zh_yue"]) == ["sw", "zh_yue"]
    assert resolve_languages("en") == ["en"]  # a plain code
    assert resolve_languages(None) is None
    with pytest.raises(ValueError, match="named list|set size"):
        resolve_languages("en,,fr")


OVERLAYS = {"fused_attention"}  # included after a run, not runs themselves
RUNS = [
    p
    for p in sorted((gin_utils.package_gin_dir() / "pretrain").glob("*.gin"))
    if p.stem not in OVERLAYS
]


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_every_pretraining_run_parses_with_its_includes(path):
    config, _, alpha = _operative(path)
    assert config.vocab_size > 0 and 0 < alpha <= 1


def test_the_fused_attention_overlay_turns_attention_dropout_off():
    """Its comment: the fused kernels apply no attention dropout, so the overlay sets it to 0."""
    base = _operative(gin_utils.package_gin_dir() / "pretrain" / "xlmr_base.gin")[0]
    gin_utils.parse(["pretrain/xlmr_base.gin", "pretrain/fused_attention.gin"], REQUIRED)
    try:
        fused = gin.query_parameter("%MODEL_CONFIG").scoped_configurable_fn()
    finally:
        gin.clear_config()
    assert base.attention_impl == "auto" and base.attention_dropout_rate == 0.1  # -> `xla`
    assert fused.attention_impl == "auto" and fused.attention_dropout_rate == 0.0
    assert fused.replace(attention_dropout_rate=0.1) == base


@pytest.mark.parametrize("name", ["base", "large", "xl", "xxl"])
def test_model_gin_files_are_the_presets(name):
    """gin/models/<name>.gin and config.PRESETS[name] give the same sizes (issue 12)."""
    gin_utils.parse([f"models/{name}.gin"], [])
    try:
        config = gin.query_parameter("%MODEL_CONFIG").scoped_configurable_fn()
    finally:
        gin.clear_config()
    preset = PRESETS[name]
    assert {k: getattr(config, k) for k in SIZE_FIELDS} == {
        k: getattr(preset, k) for k in SIZE_FIELDS
    }
