"""Model selection on dev results: one model by the average over languages, or one per language.

The papers select on the joint dev set of all languages (the average of the per-language
metric; one model, the 2019 paper's recommendation) or per language (N models). Early stopping
counts evaluations without a new best average. A tie keeps the earlier evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

MODES = ("joint", "per_language")


@dataclasses.dataclass(frozen=True)
class Choice:
    step: int
    score: float


@dataclasses.dataclass(frozen=True)
class Update:
    """What one evaluation changed: a new joint best, new per-language bests, time to stop."""

    joint_improved: bool
    improved_languages: tuple[str, ...]
    stop: bool


class ModelSelection:
    """Feeds on `update(step, {language: dev metric})` after each evaluation."""

    def __init__(self, languages: Sequence[str], patience: int | None = None):
        if not languages:
            raise ValueError("model selection needs at least one dev language")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 evaluations (or None), got {patience}")
        self.languages = tuple(languages)
        self.patience = patience
        self.history: list[tuple[int, dict[str, float]]] = []
        self.joint: Choice | None = None
        self.per_language: dict[str, Choice] = {}
        self._since_best = 0

    def update(self, step: int, scores: Mapping[str, float]) -> Update:
        missing = [lang for lang in self.languages if lang not in scores]
        if missing:
            raise ValueError(f"dev results at step {step} lack languages {missing}")
        scores = {lang: float(scores[lang]) for lang in self.languages}
        self.history.append((step, scores))
        average = sum(scores.values()) / len(scores)
        joint_improved = self.joint is None or average > self.joint.score
        if joint_improved:
            self.joint, self._since_best = Choice(step, average), 0
        else:
            self._since_best += 1
        improved = tuple(
            lang
            for lang in self.languages
            if lang not in self.per_language or scores[lang] > self.per_language[lang].score
        )
        for lang in improved:
            self.per_language[lang] = Choice(step, scores[lang])
        return Update(joint_improved, improved, self.stopped)

    @property
    def stopped(self) -> bool:
        """Whether early stopping has run out of patience."""
        return self.patience is not None and self._since_best >= self.patience

    def per_language_steps(self) -> set[int]:
        """Steps some language currently selects (their checkpoints must be kept)."""
        return {choice.step for choice in self.per_language.values()}

    def restore(self, saved: Mapping) -> None:
        """Replays the evaluations of `to_dict()` (a checkpoint's) into a fresh selection."""
        for record in saved["history"]:
            self.update(int(record["step"]), record["scores"])

    def to_dict(self) -> dict:
        return {
            "languages": list(self.languages),
            "patience": self.patience,
            "history": [{"step": step, "scores": scores} for step, scores in self.history],
            "joint": dataclasses.asdict(self.joint) if self.joint else None,
            "per_language": {k: dataclasses.asdict(v) for k, v in self.per_language.items()},
        }
