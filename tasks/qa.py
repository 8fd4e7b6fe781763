"""seqio tasks for extractive QA: `xlmr.squad`, `xlmr.mlqa.<context>.<question>`, `xlmr.xquad.<lang>`.

SQuAD v1.1 (English; train, validation), MLQA (validation = dev, test; every context x
question language pair, scored with the context language's MLQA rules) and XQuAD (test only;
SQuAD v1.1 rules). Features: max length 384 (sequence_length), `doc_stride` 128,
`max_query_length` 64 (qa.py). Answers whose `answer_start` does not match the context are
errors by default (`on_mismatch`, see read_squad). Files under data_dir, first existing wins:
  squad  squad/train-v1.1.json, squad/dev-v1.1.json
  mlqa   mlqa/<dev|test>-context-<c>-question-<q>.json,
         MLQA_V1/<dev|test>/<dev|test>-context-<c>-question-<q>.json
  xquad  xquad/xquad.<lang>.json
source="tfds" reads prepared TFDS `squad/v1.1`, `mlqa/<lang>` (same-language pairs only) and
`xquad/<lang>`.
"""

from __future__ import annotations

import functools
import os

import gin

from xlmr_jax.data.formats.squad import MLQA_LANGUAGES, XQUAD_LANGUAGES, read_squad
from xlmr_jax.finetuning.qa_features import DOC_STRIDE, MAX_QUERY_LENGTH
from xlmr_jax.finetuning.registration import as_vocabulary, register_task
from xlmr_jax.finetuning.sources import LocalFiles, TaskInfo
from xlmr_jax.finetuning.tfds_records import TfdsRecords, squad_record
from xlmr_jax.vocab import XLMRVocabulary

_MLQA_SPLITS = {"validation": "dev", "test": "test"}


def mlqa_column(context: str, question: str) -> str:
    """The table column: the language for same-language pairs (the papers' MLQA table)."""
    return context if context == question else f"{context}-{question}"


@gin.configurable
def register_qa(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str = gin.REQUIRED,
    *,
    doc_stride: int = DOC_STRIDE,
    max_query_length: int = MAX_QUERY_LENGTH,
    on_mismatch: str = "error",
    source: str = "files",
    tfds_data_dir: str | None = None,
) -> list[str]:
    """Registers the SQuAD, MLQA and XQuAD tasks; returns their names."""
    if source not in ("files", "tfds"):
        raise ValueError(f"register_qa.source must be 'files' or 'tfds', got {source!r}")
    vocab = as_vocabulary(vocabulary)
    read = functools.partial(read_squad, on_mismatch=on_mismatch)
    options = dict(doc_stride=doc_stride, max_query_length=max_query_length)

    def files(*paths: str) -> LocalFiles:
        return LocalFiles(data_dir, [(path, read) for path in paths])

    def tfds(name: str, split: str) -> TfdsRecords:
        return TfdsRecords(name, split, squad_record, tfds_data_dir)

    tasks = {}
    if source == "tfds":
        squad = {split: tfds("squad/v1.1", split) for split in ("train", "validation")}
    else:
        squad = {
            "train": files("squad/train-v1.1.json"),
            "validation": files("squad/dev-v1.1.json"),
        }
    tasks["xlmr.squad"] = (squad, TaskInfo("qa", "squad", "en", "squad"))
    for c in MLQA_LANGUAGES:
        for q in MLQA_LANGUAGES:
            if source == "tfds" and c == q:
                readers = {split: tfds(f"mlqa/{c}", split) for split in _MLQA_SPLITS}
            else:
                readers = {
                    split: files(
                        f"mlqa/{name}-context-{c}-question-{q}.json",
                        f"MLQA_V1/{name}/{name}-context-{c}-question-{q}.json",
                    )
                    for split, name in _MLQA_SPLITS.items()
                }
            info = TaskInfo("qa", "mlqa", mlqa_column(c, q), "mlqa", metric_language=c)
            tasks[f"xlmr.mlqa.{c}.{q}"] = (readers, info)
    for lang in XQUAD_LANGUAGES:
        reader = (
            tfds(f"xquad/{lang}", "test") if source == "tfds" else files(f"xquad/xquad.{lang}.json")
        )
        tasks[f"xlmr.xquad.{lang}"] = ({"test": reader}, TaskInfo("qa", "xquad", lang, "xquad"))
    for name, (readers, info) in tasks.items():
        register_task(name, readers, info, vocab, **options)
    return list(tasks)
