"""Per-example prediction files in the formats `xlmr score` and the official scripts read.

classification: one label name per line in gold order (regression: one number); NER: CoNLL
columns `token gold pred`, a blank line between sentences (conlleval's input); QA: a JSON object
{question id: answer text} (SQuAD/MLQA evaluation scripts).
"""

from __future__ import annotations

import json
import os

from xlmr_jax import storage
from xlmr_jax.finetuning.evaluation import TaskEvaluation

SUFFIXES = {"classification": ".txt", "regression": ".txt", "ner": ".conll", "qa": ".json"}


def write_predictions(evaluation: TaskEvaluation, stem: storage.PathLike) -> storage.Path:
    """Writes `<stem><suffix>` for the evaluation's task kind; returns the path."""
    info = evaluation.info
    path = storage.as_path(f"{os.fspath(stem)}{SUFFIXES[info.kind]}")
    if info.kind == "qa":
        answers = {r.id: a for r, a in zip(evaluation.records, evaluation.predictions)}
        text = json.dumps(answers, ensure_ascii=False, indent=1) + "\n"
    elif info.kind == "ner":
        sentences = [
            "".join(f"{t} {g} {p}\n" for t, g, p in zip(r.tokens, r.tags, tags))
            for r, tags in zip(evaluation.records, evaluation.predictions)
        ]
        text = "\n".join(sentences)
    elif info.kind == "regression":
        text = "".join(f"{value:.6g}\n" for value in evaluation.predictions)
    else:
        text = "".join(f"{info.labels[label]}\n" for label in evaluation.predictions)
    storage.write_text(path, text)
    return path
