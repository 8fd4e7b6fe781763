"""seqio tasks for PAWS-X (7 languages, accuracy): `xlmr.pawsx.<lang>`.

Splits: train = the English training set (`en`) or its machine translation (the others),
validation / test = the human-translated dev / test sets. Files under data_dir, the first
existing one is read (`read_pawsx` tells the layouts apart):
  train       pawsx/train-<lang>.tsv (XTREME), x-final/<lang>/train.tsv (en, original),
              x-final/<lang>/translated_train.tsv (the others, original)
  validation  pawsx/dev-<lang>.tsv, x-final/<lang>/dev_2k.tsv
  test        pawsx/test-<lang>.tsv, x-final/<lang>/test_2k.tsv
A test file without the label column is predicted but not scored.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import gin

from xlmr_jax.data.formats.nli import PAWSX_LABELS, PAWSX_LANGUAGES, read_pawsx
from xlmr_jax.finetuning.registration import as_vocabulary, register_task
from xlmr_jax.finetuning.sources import LocalFiles, TaskInfo
from xlmr_jax.vocab import XLMRVocabulary

PREFIX = "xlmr.pawsx"
_ORIGINAL = {"validation": "dev_2k", "test": "test_2k"}
_XTREME = {"train": "train", "validation": "dev", "test": "test"}


def _files(data_dir, lang: str, split: str) -> LocalFiles:
    original = _ORIGINAL.get(split, "train" if lang == "en" else "translated_train")
    read = functools.partial(read_pawsx, language=lang, labeled=split != "test")
    return LocalFiles(
        data_dir,
        [(f"pawsx/{_XTREME[split]}-{lang}.tsv", read), (f"x-final/{lang}/{original}.tsv", read)],
    )


@gin.configurable
def register_pawsx(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str = gin.REQUIRED,
    *,
    languages: Sequence[str] = PAWSX_LANGUAGES,
) -> list[str]:
    """Registers `xlmr.pawsx.<lang>` for `languages`; returns their names."""
    vocab = as_vocabulary(vocabulary)
    names = []
    for lang in languages:
        readers = {split: _files(data_dir, lang, split) for split in _XTREME}
        info = TaskInfo("classification", "pawsx", lang, "pawsx", PAWSX_LABELS)
        names.append(f"{PREFIX}.{lang}")
        register_task(names[-1], readers, info, vocab, pair=True)
    return names
