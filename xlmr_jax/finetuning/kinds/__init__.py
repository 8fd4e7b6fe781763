"""Fine-tuning task kinds, one object each (base.py); `get_kind` maps a name to its kind."""

from __future__ import annotations

from xlmr_jax.finetuning.kinds import classification, ner, qa, regression
from xlmr_jax.finetuning.kinds.base import TaskKind

KINDS: dict[str, TaskKind] = {
    kind.name: kind for kind in (classification.KIND, regression.KIND, ner.KIND, qa.KIND)
}


def get_kind(name: str) -> TaskKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task kind {name!r}; choose one of {tuple(KINDS)}") from None
