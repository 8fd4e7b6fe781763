"""Language sampling rates: q_i = p_i^alpha / sum_j p_j^alpha (XLM-R paper, section 3 and 5.1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

DEFAULT_ALPHA = 0.3


@dataclasses.dataclass(frozen=True)
class LanguageShare:
    """One language's corpus size, its share p of the corpus and its sampling probability q."""

    lang: str
    size: float
    p: float
    q: float

    @property
    def ratio(self) -> float:
        """q / p: above 1 the language is up-sampled, below 1 down-sampled."""
        return self.q / self.p

    def to_dict(self) -> dict[str, float | str]:
        return {"lang": self.lang, "size": self.size, "p": self.p, "q": self.q}


def mixing_rates(sizes: Mapping[str, float], alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
    """Sampling probability per language, proportional to size^alpha (sums to 1).

    alpha = 1 samples in proportion to the data, alpha = 0 uniformly over languages.
    """
    if not sizes:
        raise ValueError("mixing_rates: no languages given.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"mixing_rates: alpha must be in [0, 1], got {alpha}.")
    empty = sorted(lang for lang, n in sizes.items() if not n > 0)
    if empty:
        raise ValueError(f"mixing_rates: languages without data: {', '.join(empty)}.")
    total = float(sum(sizes.values()))
    smoothed = {lang: (n / total) ** alpha for lang, n in sizes.items()}
    norm = sum(smoothed.values())
    return {lang: s / norm for lang, s in smoothed.items()}


def sampling_table(sizes: Mapping[str, float], alpha: float = DEFAULT_ALPHA) -> list[LanguageShare]:
    """Per language: size, p_i, q_i; largest corpus first."""
    total = float(sum(sizes.values()))
    q = mixing_rates(sizes, alpha)
    rows = [LanguageShare(lang, float(n), n / total, q[lang]) for lang, n in sizes.items()]
    return sorted(rows, key=lambda r: (-r.size, r.lang))
