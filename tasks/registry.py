"""`register_from_locations`: the registrations `import xlmr_jax.tasks` performs."""

from __future__ import annotations

import logging

from xlmr_jax.task_locations import task_locations
from xlmr_jax.tasks.glue import register_glue
from xlmr_jax.tasks.ner import register_conll
from xlmr_jax.tasks.pretrain import register_cc100
from xlmr_jax.tasks.qa import register_qa
from xlmr_jax.tasks.xnli import register_xnli

logger = logging.getLogger(__name__)
BENCHMARKS = (register_xnli, register_conll, register_qa, register_glue)


def register_from_locations() -> list[str]:
    """Register the tasks whose data `task_locations()` names; returns the names registered."""
    where = task_locations()
    if not where.spm_model:
        return []
    names = []
    if where.benchmark_dir:
        for register in BENCHMARKS:
            names += register(where.benchmark_dir, where.spm_model)
    if where.corpus_dir:
        names.append(register_cc100(where.corpus_dir, where.spm_model, lazy=True))
    logger.info("xlmr_jax.tasks registered %d tasks and mixtures.", len(names))
    return names
