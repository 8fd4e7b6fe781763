"""`xlmr demo` end to end at a small size: the accuracy-vs-unigram table, fills and the figure.

The learning claim is checked without timing: a fixed run (seed 0, CPU) of the demo's model
(gin/pretrain/demo_cpu.gin) must beat the unigram baseline on held-out masked tokens by the
margins below, which are what this run gives (README, demo section) less a safety allowance.
"""

from __future__ import annotations

import re

import pytest

from xlmr_jax.cli import main
from xlmr_jax.commands.demo import FILLS_PER_LANGUAGE

# The fixed run: 4 languages in 2 scripts, the 2000-piece vocabulary, STEPS steps.
LANGUAGES = ["de", "en", "fr", "zh-Hans"]
STEPS = 400
# Measured (2026-11-29, 2-core CPU): model 5.8% vs unigram 4.9% (mean), better in 2 of 4 (en 6.6
# vs 5.6, zh-Hans 6.7 vs 4.4; de and fr equal); the allowance covers float differences between
# CPUs. (400 steps are a tenth of the demo's; its full run is in the README.)
MIN_MEAN_GAIN = 0.5  # percentage points of mean accuracy over the unigram baseline
MIN_WINS = 2  # languages where the model beats the baseline


@pytest.mark.slow
def test_demo_beats_the_unigram_baseline_and_writes_the_figure(data_dir, tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path), "--text_dir", str(data_dir / "text"),
            "--languages", ",".join(LANGUAGES), "--steps", str(STEPS), "--vocab_size", "2000"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = out.split("== 5.")[1].split("== 6.")[0]
    rows = re.findall(r"^(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+\S+$", table, flags=re.M)
    assert [r[0] for r in rows] == LANGUAGES
    assert all(int(masked) > 300 for _, masked, _, _ in rows)  # SIB-200 dev, 15% of tokens
    model = [float(m) for _, _, m, _ in rows]
    unigram = [float(u) for _, _, _, u in rows]
    assert all(0 <= m <= 100 and 0 < u < 100 for m, u in zip(model, unigram))
    assert sum(m > u for m, u in zip(model, unigram)) >= MIN_WINS
    assert sum(model) / len(model) >= sum(unigram) / len(unigram) + MIN_MEAN_GAIN
    assert re.search(r"all 4 languages: model [\d.]+% vs unigram [\d.]+% \(mean, [\d.]+x\)", out)
    assert len(re.findall(r"^    truth ", out, flags=re.M)) == FILLS_PER_LANGUAGE * 4
    assert re.search(r"top guess right in \d+ of 12 \(in \d of 4 languages\); the truth", out)
    figure = tmp_path / "demo.png"
    assert f"{figure}" in out and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.stat().st_size > 20_000
