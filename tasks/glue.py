"""seqio tasks for the GLUE dev benchmarks: `xlmr.glue.<task>`.

Tasks cola, sst2, mrpc, qqp, stsb (regression), mnli (matched dev/test), mnli_mm (mismatched
dev/test, same train), qnli, rte, wnli; splits train / validation (dev) / test (unlabeled).
Metrics are GLUE's customary ones (CoLA MCC, STS-B Pearson/Spearman, MRPC/QQP accuracy and F1,
the rest accuracy). Files under data_dir (the GLUE download script's layout):
  glue/<CoLA|SST-2|MRPC|QQP|STS-B|MNLI|QNLI|RTE|WNLI>/{train,dev,test}.tsv
  MNLI: dev_matched.tsv, dev_mismatched.tsv, test_matched.tsv, test_mismatched.tsv
source="tfds" reads prepared TFDS `glue/<task>`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import gin

from xlmr_jax.data.formats.glue import glue_task, read_glue
from xlmr_jax.finetuning.registration import as_vocabulary, register_task
from xlmr_jax.finetuning.sources import LocalFiles, TaskInfo
from xlmr_jax.finetuning.tfds_records import PairFields, TfdsRecords
from xlmr_jax.vocab import XLMRVocabulary

PREFIX = "xlmr.glue"
GLUE_TASKS = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "mnli-mm", "qnli", "rte", "wnli")
DIRECTORIES = {
    "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B",
    "mnli": "MNLI", "mnli-mm": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
}  # fmt: skip
# File names of train / validation / test where they differ from train.tsv, dev.tsv, test.tsv.
_MNLI_FILES = {
    "mnli": {"validation": "dev_matched", "test": "test_matched"},
    "mnli-mm": {"validation": "dev_mismatched", "test": "test_mismatched"},
}
# TFDS glue/<builder> field names and split names.
TFDS_FIELDS = {
    "cola": ("sentence", None), "sst2": ("sentence", None), "mrpc": ("sentence1", "sentence2"),
    "qqp": ("question1", "question2"), "stsb": ("sentence1", "sentence2"),
    "mnli": ("premise", "hypothesis"), "mnli-mm": ("premise", "hypothesis"),
    "qnli": ("question", "sentence"), "rte": ("sentence1", "sentence2"),
    "wnli": ("sentence1", "sentence2"),
}  # fmt: skip
TFDS_MNLI_SPLITS = {
    "mnli": {"validation": "validation_matched", "test": "test_matched"},
    "mnli-mm": {"validation": "validation_mismatched", "test": "test_mismatched"},
}


def task_name(task: str) -> str:
    """`xlmr.glue.<task>` with seqio-safe characters (mnli-mm -> mnli_mm)."""
    return f"{PREFIX}.{task.replace('-', '_')}"


@gin.configurable
def register_glue(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str = gin.REQUIRED,
    *,
    tasks: Sequence[str] = GLUE_TASKS,
    source: str = "files",
    tfds_data_dir: str | None = None,
) -> list[str]:
    """Registers `xlmr.glue.<task>` for `tasks`; returns the names."""
    if source not in ("files", "tfds"):
        raise ValueError(f"register_glue.source must be 'files' or 'tfds', got {source!r}")
    vocab = as_vocabulary(vocabulary)
    names = []
    for task in tasks:
        spec = glue_task(task)
        regression = spec.labels is None
        readers = {}
        for split, stem in {"train": "train", "validation": "dev", "test": "test"}.items():
            if source == "tfds":
                fields = PairFields(*TFDS_FIELDS[spec.name], regression=regression)
                tfds_split = TFDS_MNLI_SPLITS.get(spec.name, {}).get(split, split)
                builder = f"glue/{'mnli' if spec.name == 'mnli-mm' else spec.name}"
                readers[split] = TfdsRecords(builder, tfds_split, fields, tfds_data_dir)
            else:
                stem = _MNLI_FILES.get(spec.name, {}).get(split, stem)
                path = f"glue/{DIRECTORIES[spec.name]}/{stem}.tsv"
                read = functools.partial(read_glue, task=spec.name, labeled=split != "test")
                readers[split] = LocalFiles(data_dir, [(path, read)])
        kind = "regression" if regression else "classification"
        info = TaskInfo(kind, "glue", spec.name, f"glue-{spec.name}", spec.labels)
        names.append(task_name(spec.name))
        register_task(names[-1], readers, info, vocab, pair=spec.text_b is not None)
    return names
