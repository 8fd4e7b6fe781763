"""Language sampling: q_i = p_i^alpha / sum_j p_j^alpha, the CC-100 table and language sets, the
`xlmr data stats` table, and the empirical language distribution of the registered mixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from xlmr_jax.cli import main
from xlmr_jax.data.cc100 import XNLI_LANGUAGES, cc100_sizes, cc100_table, language_set
from xlmr_jax.data.mixing import mixing_rates
from xlmr_jax.data.mixture import get_pretrain_mixture
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sampling import LanguageSampler
from xlmr_jax.tasks.pretrain import register_cc100


def test_mixing_rates_formula():
    sizes = {"en": 900.0, "sw": 90.0, "ur": 10.0}
    assert mixing_rates(sizes, 1.0) == pytest.approx({"en": 0.9, "sw": 0.09, "ur": 0.01})
    assert mixing_rates(sizes, 0.0) == pytest.approx({k: 1 / 3 for k in sizes})
    q = mixing_rates(sizes, 0.5)
    assert q["en"] / q["ur"] == pytest.approx((900 / 10) ** 0.5)
    assert sum(q.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="without data: ur"):
        mixing_rates({"en": 1, "ur": 0})
    with pytest.raises(ValueError, match="alpha"):
        mixing_rates(sizes, 1.5)


def test_cc100_table_and_language_sets():
    table = cc100_table()
    assert len(table) == 100 and len({r.code for r in table}) == 100
    gib = cc100_sizes()
    assert sum(gib.values()) == pytest.approx(2394.3, abs=0.1)  # "2.5 TB"
    assert (gib["en"], cc100_sizes("tokens")["en"]) == (300.8, 55608)
    assert (gib["sw"], gib["ur"], gib["my_zaw"], gib["zh-Hant"]) == (1.6, 5.7, 1.6, 16.6)
    assert sum(r.code.endswith("_rom") for r in table) == 5
    sets = {n: language_set(n) for n in (7, 15, 30, 60, 100)}
    assert sets[7] == ("en", "fr", "de", "ru", "zh-Hans", "sw", "ur")
    assert sets[15] == XNLI_LANGUAGES
    for small, large in [(7, 15), (15, 30), (30, 60), (60, 100)]:
        assert set(sets[small]) <= set(sets[large])
    for n, langs in sets.items():
        assert len(langs) == len(set(langs)) == n and set(langs) <= set(gib)
    assert sets[30][15:18] == ("id", "fa", "uk")  # the largest non-XNLI corpora come next


def test_stats_table_shows_low_resource_upsampling(capsys):
    assert main(["data", "stats", "--table", "cc100", "--alpha", "0.3", "--json"]) == 0
    rows = {r["lang"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 100 and set(rows["en"]) == {"lang", "size", "p", "q"}
    ratio = {lang: r["q"] / r["p"] for lang, r in rows.items()}
    assert ratio["sw"] > 1 and ratio["ur"] > 1 and ratio["en"] < 1
    assert ratio["sw"] > ratio["ur"] > ratio["fr"] > ratio["en"]
    assert sum(r["q"] for r in rows.values()) == pytest.approx(1.0)

    assert main(["data", "stats", "--table", "cc100", "--alpha", "1.0", "--languages", "7"]) == 0
    out = capsys.readouterr().out
    assert "7 languages, size in gib, alpha = 1.0" in out
    assert [line.split()[0] for line in out.splitlines()[2:]] == "en ru de fr zh-Hans ur sw".split()
    assert all(line.split()[-1] == "1.00" for line in out.splitlines()[2:])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("corpus91")
    lines = write_sample_corpus(data_dir / "text", out)
    return out, lines


def test_stats_of_a_data_dir(corpus, capsys):
    path, lines = corpus
    args = ["data", "stats", "--data_dir", str(path), "--validation_fraction", "0", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["lang"]: r["size"] for r in rows} == lines


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_sampled_languages_follow_q(corpus, spm_model, alpha):
    path, lines = corpus
    assert len(lines) >= 50
    name = register_cc100(path, spm_model, name=f"mix{alpha}", alpha=alpha, validation_fraction=0)
    mixture = get_pretrain_mixture(name)
    rates, langs = mixture.rates, mixture.languages
    total = sum(lines.values())
    q = np.array([(lines[lang] / total) ** alpha for lang in langs])
    q /= q.sum()
    assert np.allclose(rates, q)

    # The pipeline draws languages through this sampler (60,000 examples, any offset).
    draws, _ = LanguageSampler(rates, seed=17).draw(12_345, 72_345)
    observed = np.bincount(draws, minlength=len(langs))
    chi2 = stats.chisquare(observed, q * len(draws))
    assert chi2.pvalue > 0.01, chi2
    if alpha < 1:
        p = np.array([lines[lang] / total for lang in langs])
        assert observed[np.argmin(p)] / len(draws) > 2 * p.min()  # low resource up-sampled
