"""What a fine-tuning setting trains on and evaluates, and the recipe; all gin-configurable.

Task names are templates over `languages`: `EvalSpec(task="xlmr.xnli.{lang}", languages=XNLI)`
names one task per language (for GLUE the "languages" are task names). A setting file in
gin/finetune/ binds a `TrainSpec`, a dev `EvalSpec` (model selection) and optionally a test
`EvalSpec` (final evaluation; none: report the selected model's dev results).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import gin

from xlmr_jax.finetuning.selection import MODES
from xlmr_jax.validation import at_least, check_field_types, non_negative


def _expand(templates: Sequence[str], languages: Sequence[str]) -> list[str]:
    """Each template once per language if it has `{lang}`, else as it is."""
    names = []
    for template in templates:
        if "{lang}" in template and not languages:
            raise ValueError(f"task template {template!r} needs languages")
        names += (
            [template.format(lang=lang) for lang in languages]
            if "{lang}" in template
            else [template]
        )
    return names


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Training tasks (templates over `languages`), trained together as one data set.

    one_model_per_language: train a separate model per language on that language's tasks and
    evaluate it on that language only (translate-train, NER "each"); results are merged.
    """

    tasks: Sequence[str]
    languages: Sequence[str] = ()
    split: str = "train"
    one_model_per_language: bool = False

    def __post_init__(self):
        if isinstance(self.tasks, str):
            object.__setattr__(self, "tasks", (self.tasks,))
        if self.one_model_per_language and not self.languages:
            raise ValueError("TrainSpec.one_model_per_language needs languages")

    def task_names(self, languages: Sequence[str] | None = None) -> list[str]:
        return _expand(self.tasks, self.languages if languages is None else languages)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """One task per language (`task` with `{lang}`), evaluated on `split`."""

    task: str
    languages: Sequence[str]
    split: str = "validation"

    def __post_init__(self):
        if not self.languages:
            raise ValueError(f"EvalSpec({self.task!r}) has no languages")

    def tasks(self) -> dict[str, str]:
        """{language: task name}."""
        return {lang: self.task.format(lang=lang) for lang in self.languages}

    def restrict(self, languages: Sequence[str]) -> EvalSpec:
        return dataclasses.replace(self, languages=tuple(languages))


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Recipe:
    """Optimisation, evaluation and selection settings (defaults: the papers' batch 32, 10 epochs).

    learning_rate peaks after warmup_fraction of the steps, then decays linearly to 0 (Adam
    betas, eps, weight decay and clipping: `make_optimizer`). eval_every None evaluates
    after every epoch. patience: evaluations without a better dev average before stopping (None:
    train all epochs; the best evaluation is selected either way). selection: "joint" (one
    model, best dev average) and/or "per_language" (best dev score of each language).
    max_steps caps training (smoke tests; the schedule spans the capped length).
    """

    batch_size: int = 32
    num_epochs: int = 10
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    max_length: int = 128
    eval_batch_size: int = 64
    log_every: int = 50
    eval_every: int | None = None
    patience: int | None = None
    selection: Sequence[str] = ("joint",)
    max_steps: int | None = None
    seed: int = 0

    def __post_init__(self):
        check_field_types(self)
        unknown = [mode for mode in self.selection if mode not in MODES]
        if unknown or not self.selection:
            raise ValueError(f"Recipe.selection {list(self.selection)}: choose from {MODES}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"Recipe.warmup_fraction must be in [0, 1), got {self.warmup_fraction}"
            )
        for name in ("batch_size", "num_epochs", "max_length", "eval_batch_size", "log_every"):
            at_least(f"Recipe.{name}", getattr(self, name), 1)
        for name in ("eval_every", "patience", "max_steps"):  # None: every epoch, no cap
            at_least(f"Recipe.{name}", getattr(self, name), 1, optional=True)
        non_negative("Recipe.learning_rate", self.learning_rate)
