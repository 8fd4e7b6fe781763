"""`xlmr demo` end to end at a small size: the accuracy-vs-unigram table, fills and the figure."""

from __future__ import annotations

import re

import pytest

from xlmr_jax.cli import main


@pytest.mark.slow
def test_demo_prints_accuracy_against_unigram_and_writes_the_figure(data_dir, tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path), "--text_dir", str(data_dir / "text"),
            "--languages", "en,fr,de,ru", "--steps", "40", "--vocab_size", "2000"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = out.split("== 5.")[1].split("== 6.")[0]
    rows = re.findall(r"^(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+\S+$", table, flags=re.M)
    assert [r[0] for r in rows] == ["de", "en", "fr", "ru"]
    assert all(int(masked) > 500 for _, masked, _, _ in rows)  # SIB-200 dev, 15% of tokens
    assert all(0 <= float(m) <= 100 and 0 < float(u) < 100 for _, _, m, u in rows)
    assert re.search(r"all 4 languages: model [\d.]+% vs unigram [\d.]+% \(mean\)", out)
    assert len(re.findall(r"^    truth ", out, flags=re.M)) == 8  # 2 held-out sentences x 4
    figure = tmp_path / "demo.png"
    assert f"{figure}" in out and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.stat().st_size > 20_000
