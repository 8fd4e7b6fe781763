"""The demo's figure: per-language validation loss over steps, the alpha sampling table, and
masked-token accuracy against the unigram baseline; one PNG (matplotlib, the `demo` extra)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from xlmr_jax.data.mixing import LanguageShare
from xlmr_jax.metrics.masked_lm import LanguageAccuracy


def validation_losses(metrics_jsonl: Path) -> dict[str, list[tuple[int, float]]]:
    """Language -> [(step, validation loss)] from a run's metrics.jsonl."""
    out: dict[str, list[tuple[int, float]]] = {}
    for line in metrics_jsonl.read_text().splitlines():
        record = json.loads(line)
        if record["split"] != "validation":
            continue
        for key, value in record.items():
            if key.startswith("loss/"):
                out.setdefault(key[len("loss/") :], []).append((record["step"], value))
    return out


def write_figure(
    path: Path,
    losses: dict[str, list[tuple[int, float]]],
    rows: Sequence[LanguageShare],
    accuracies: Sequence[LanguageAccuracy],
    highlight: Sequence[str],
    alpha: float,
) -> Path:
    """Write the three panels to `path` (PNG); raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_rates, ax_acc) = plt.subplots(3, 1, figsize=(12, 13))
    colors = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]  # 7 is grey
    shown_langs = [lang for lang in sorted(losses) if lang in highlight]
    for lang, points in sorted(losses.items()):
        steps, values = zip(*points)
        shown = lang in highlight
        color = colors[shown_langs.index(lang) % len(colors)] if shown else "0.8"
        ax_loss.plot(steps, values, lw=1.8 if shown else 0.5, color=color,
                     label=lang if shown else None, zorder=2 if shown else 1)  # fmt: skip
    others = " (grey: the other languages)" if len(shown_langs) < len(losses) else ""
    ax_loss.set(xlabel="step", ylabel="validation MLM loss",
                title=f"Validation loss per language{others}")  # fmt: skip
    ax_loss.legend(ncol=5, fontsize=8)

    by_size = sorted(rows, key=lambda r: -r.p)
    x = range(len(by_size))
    ax_rates.bar([i - 0.2 for i in x], [100 * r.p for r in by_size], 0.4, label="p (corpus share)")
    ax_rates.bar([i + 0.2 for i in x], [100 * r.q for r in by_size], 0.4, label=f"q ~ p^{alpha}")
    ax_rates.set_xticks(list(x), [r.lang for r in by_size], **_tick_style(len(by_size)))
    ax_rates.set(ylabel="% of sentences", title=f"Language sampling, alpha = {alpha}")
    ax_rates.legend()

    x = range(len(accuracies))
    ax_acc.bar([i - 0.2 for i in x], [100 * a.model for a in accuracies], 0.4, label="model")
    ax_acc.bar([i + 0.2 for i in x], [100 * a.unigram for a in accuracies], 0.4,
               label="unigram baseline")  # fmt: skip
    ax_acc.set_xticks(list(x), [a.lang for a in accuracies], **_tick_style(len(accuracies)))
    ax_acc.set(ylabel="% correct", title="Masked-token accuracy on held-out SIB-200 dev text")
    ax_acc.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _tick_style(count: int) -> dict:
    """Language codes upright while they fit (the default 8, the 15 XNLI ones), else turned."""
    return {"rotation": 0, "fontsize": 9} if count <= 15 else {"rotation": 90, "fontsize": 6}
