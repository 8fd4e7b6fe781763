"""Where `import xlmr_jax.tasks` finds data: gin (`task_locations.*`) first, then environment.

For T5X users, who name a task module and a task (`MIXTURE_OR_TASK_MODULE = 'xlmr_jax.tasks'`,
`MIXTURE_OR_TASK_NAME = 'xlmr.xnli.de'`) and whose trainer imports that module after gin is
parsed. Bind the locations in gin (import this module, not `xlmr_jax.tasks`, in the gin file) or
set XLMR_SPM_MODEL (the SentencePiece model), XLMR_BENCHMARK_DIR (XNLI, CoNLL, SQuAD/MLQA/XQuAD
and GLUE files; layouts in docs/finetuning.md) and XLMR_CORPUS_DIR (a CC-100-layout corpus).
"""

from __future__ import annotations

import dataclasses
import os

import gin

ENV = {
    "spm_model": "XLMR_SPM_MODEL",
    "benchmark_dir": "XLMR_BENCHMARK_DIR",
    "corpus_dir": "XLMR_CORPUS_DIR",
}


@dataclasses.dataclass(frozen=True)
class TaskLocations:
    spm_model: str | None
    benchmark_dir: str | None
    corpus_dir: str | None


@gin.configurable
def task_locations(
    spm_model: str | None = None,
    benchmark_dir: str | None = None,
    corpus_dir: str | None = None,
) -> TaskLocations:
    """The bound values, each falling back to its environment variable (ENV)."""
    given = {"spm_model": spm_model, "benchmark_dir": benchmark_dir, "corpus_dir": corpus_dir}
    return TaskLocations(**{k: v or os.environ.get(ENV[k]) or None for k, v in given.items()})
