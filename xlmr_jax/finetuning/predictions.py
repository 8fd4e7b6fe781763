"""Per-example prediction files in the formats `xlmr score` and the official scripts read.

classification: one label name per line in gold order (regression: one number); NER: CoNLL
columns `token gold pred`, a blank line between sentences (conlleval's input); QA: a JSON object
{question id: answer text} (SQuAD/MLQA evaluation scripts).
"""

from __future__ import annotations

import os

from xlmr_jax import storage
from xlmr_jax.finetuning.prediction import TaskEvaluation


def predictions_path(evaluation: TaskEvaluation, stem: storage.PathLike) -> storage.Path:
    """`<stem><suffix>`, the suffix of the evaluation's task kind."""
    return storage.as_path(f"{os.fspath(stem)}{evaluation.info.task_kind.predictions_suffix}")


def write_predictions(evaluation: TaskEvaluation, stem: storage.PathLike) -> storage.Path:
    """Writes `<stem><suffix>` in the format of the evaluation's task kind; returns the path."""
    info = evaluation.info
    kind = info.task_kind
    path = predictions_path(evaluation, stem)
    storage.write_text(
        path, kind.predictions_text(info, evaluation.records, evaluation.predictions)
    )
    return path
