"""Readers for the official distribution formats of the fine-tuning benchmarks.

Each reader takes a file path and returns a list of plain records (`PairExample`,
`QAExample`, `NerSentence`) with a stable id, and raises `FormatError` ("file:line: ...") on
bad input. Where tensorflow-datasets has a builder for a benchmark, it reads the same files:

| benchmark | reader | TFDS builder |
|---|---|---|
| XNLI (XTREME tsv) | `read_xnli_tsv` | - (XTREME's export of `xnli`) |
| XNLI-1.0 dev/test tsv, jsonl | `read_xnli_original` | `xnli` |
| XNLI-MT translated train | `read_xnli_mt_train` | - |
| MultiNLI 1.0 jsonl | `read_multinli` | `multi_nli` |
| PAWS-X | `read_pawsx` | `paws_x_wiki/<lang>` |
| GLUE | `read_glue` | `glue/<task>` (cola, sst2, mrpc, qqp, stsb, mnli, mnli_matched, mnli_mismatched, qnli, rte, wnli, ax) |
| SQuAD v1.1 | `read_squad` | `squad/v1.1` |
| MLQA | `read_squad` | `mlqa/<lang>` |
| XQuAD | `read_squad` | `xquad/<lang>` |
| CoNLL-2002 | `read_conll` | `conll2002/<es or nl>` |
| CoNLL-2003 | `read_conll` | `conll2003` (English only) |
"""

from xlmr_jax.data.formats.common import FormatError, PairExample
from xlmr_jax.data.formats.conll import NerSentence, iob1_to_iob2, read_conll, tag_scheme
from xlmr_jax.data.formats.glue import GLUE_TASKS, glue_task, read_glue, read_mrpc_dev_ids
from xlmr_jax.data.formats.nli import (
    NLI_LABELS,
    PAWSX_LABELS,
    XNLI_LANGUAGES,
    read_multinli,
    read_pawsx,
    read_xnli_mt_train,
    read_xnli_original,
    read_xnli_tsv,
)
from xlmr_jax.data.formats.squad import Answer, QAExample, read_squad

__all__ = [
    "GLUE_TASKS",
    "NLI_LABELS",
    "PAWSX_LABELS",
    "XNLI_LANGUAGES",
    "Answer",
    "FormatError",
    "NerSentence",
    "PairExample",
    "QAExample",
    "glue_task",
    "iob1_to_iob2",
    "read_conll",
    "read_glue",
    "read_mrpc_dev_ids",
    "read_multinli",
    "read_pawsx",
    "read_squad",
    "read_xnli_mt_train",
    "read_xnli_original",
    "read_xnli_tsv",
    "tag_scheme",
]
