"""seqio tasks for CoNLL-2002/2003 NER (en, nl, es, de; entity-level F1): `xlmr.conll.<lang>`.

Splits train / validation / test are the files `.train` / `.testa` / `.testb`. Tags are read
from the last column and converted to IOB2 (CoNLL-2003 is IOB1), so every language shares the
label set `finetuning.ner.NER_LABELS`; the conversion keeps every chunk, so conlleval scores
are unchanged. Files under data_dir, the first existing one is read:
  en  conll2003/eng.{train,testa,testb}
  de  conll2003/german/deu.{train,testa,testb}, conll2003/deu.{train,testa,testb}
  es  conll2002/esp.{train,testa,testb}
  nl  conll2002/ned.{train,testa,testb}
source="tfds" reads prepared TFDS `conll2003` (English) and `conll2002/<es|nl>`; German has no
TFDS builder and always reads files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import gin

from xlmr_jax.data.formats.conll import NER_LANGUAGES, NerSentence, iob1_to_iob2, read_conll
from xlmr_jax.finetuning.ner import NER_LABELS
from xlmr_jax.finetuning.registration import as_vocabulary, register_task
from xlmr_jax.finetuning.sources import LocalFiles, TaskInfo
from xlmr_jax.finetuning.tfds_records import TfdsRecords, conll_record
from xlmr_jax.vocab import XLMRVocabulary

PREFIX = "xlmr.conll"
FILE_STEMS = {
    "en": ("conll2003/eng",),
    "de": ("conll2003/german/deu", "conll2003/deu"),
    "es": ("conll2002/esp",),
    "nl": ("conll2002/ned",),
}
SPLIT_SUFFIXES = {"train": "train", "validation": "testa", "test": "testb"}
TFDS_BUILDERS = {"en": "conll2003", "es": "conll2002/es", "nl": "conll2002/nl"}
TFDS_SPLITS = {"train": "train", "validation": "dev", "test": "test"}


def read_iob2(path: Path) -> list[NerSentence]:
    """A CoNLL file's sentences with IOB2 tags."""
    return [dataclasses.replace(s, tags=iob1_to_iob2(s.tags)) for s in read_conll(path)]


@gin.configurable
def register_conll(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str = gin.REQUIRED,
    *,
    languages: Sequence[str] = NER_LANGUAGES,
    source: str = "files",
    tfds_data_dir: str | None = None,
) -> list[str]:
    """Registers `xlmr.conll.<lang>` for `languages`; returns the names."""
    if source not in ("files", "tfds"):
        raise ValueError(f"register_conll.source must be 'files' or 'tfds', got {source!r}")
    vocab = as_vocabulary(vocabulary)
    names = []
    for lang in languages:
        if lang not in FILE_STEMS:
            raise ValueError(f"no CoNLL NER data for {lang!r}; choose from {sorted(FILE_STEMS)}")
        readers = {}
        for split, suffix in SPLIT_SUFFIXES.items():
            if source == "tfds" and lang in TFDS_BUILDERS:
                builder = TFDS_BUILDERS[lang]
                readers[split] = TfdsRecords(
                    builder, TFDS_SPLITS[split], conll_record, tfds_data_dir
                )
            else:
                options = [(f"{stem}.{suffix}", read_iob2) for stem in FILE_STEMS[lang]]
                readers[split] = LocalFiles(data_dir, options)
        info = TaskInfo("ner", "conll", lang, "conll", NER_LABELS)
        names.append(f"{PREFIX}.{lang}")
        register_task(names[-1], readers, info, vocab)
    return names
