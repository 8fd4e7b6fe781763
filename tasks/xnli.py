"""seqio tasks for XNLI (15 languages, accuracy): `xlmr.xnli.<lang>`, `xlmr.xnli.translate_test.<lang>`.

`xlmr.xnli.<lang>` splits: train = MultiNLI train in <lang> (XNLI-MT's machine translation; the
English file is MultiNLI itself, the cross-lingual transfer training set), validation / test =
XNLI dev / test in <lang>. `xlmr.xnli.translate_test.<lang>`: XNLI dev / test of <lang>
machine-translated into English (XNLI-MT), for translate-test.

Files under data_dir, the first existing one is read:
  train       XNLI-MT-1.0/multinli/multinli.train.<lang>.tsv
              (en also: multinli_1.0/multinli_1.0_train.jsonl)
  validation  xnli/dev-<lang>.tsv (XTREME layout), XNLI-1.0/xnli.dev.{tsv,jsonl}
  test        xnli/test-<lang>.tsv, XNLI-1.0/xnli.test.{tsv,jsonl}
  translate-test  XNLI-MT-1.0/xnli/xnli.{dev,test}.en.{tsv,jsonl}
source="tfds" reads prepared TFDS `xnli` (validation, test) and `multi_nli` (English train).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import gin

from xlmr_jax.data.formats.nli import (
    NLI_LABELS,
    XNLI_LANGUAGES,
    read_multinli,
    read_xnli_mt_train,
    read_xnli_original,
    read_xnli_tsv,
)
from xlmr_jax.finetuning.registration import as_vocabulary, register_task
from xlmr_jax.finetuning.sources import LocalFiles, TaskInfo
from xlmr_jax.finetuning.tfds_records import PairFields, TfdsRecords, XnliFields
from xlmr_jax.vocab import XLMRVocabulary

PREFIX = "xlmr.xnli"
_FILE_SPLITS = {"validation": "dev", "test": "test"}


def _eval_files(data_dir, lang: str, split: str) -> LocalFiles:
    name = _FILE_SPLITS[split]
    original = functools.partial(read_xnli_original, languages=[lang])
    return LocalFiles(
        data_dir,
        [
            (f"xnli/{name}-{lang}.tsv", functools.partial(read_xnli_tsv, language=lang)),
            (f"XNLI-1.0/xnli.{name}.tsv", original),
            (f"XNLI-1.0/xnli.{name}.jsonl", original),
        ],
    )


def _train_files(data_dir, lang: str) -> LocalFiles:
    options = [
        (
            f"XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv",
            functools.partial(read_xnli_mt_train, language=lang),
        )
    ]
    if lang == "en":
        options.append(("multinli_1.0/multinli_1.0_train.jsonl", read_multinli))
    return LocalFiles(data_dir, options)


def _translate_test_files(data_dir, lang: str, split: str) -> LocalFiles:
    name = _FILE_SPLITS[split]
    read = functools.partial(read_xnli_original, languages=[lang])
    return LocalFiles(
        data_dir,
        [(f"XNLI-MT-1.0/xnli/xnli.{name}.en.{ext}", read) for ext in ("tsv", "jsonl")],
    )


@gin.configurable
def register_xnli(
    data_dir: str | os.PathLike = gin.REQUIRED,
    vocabulary: XLMRVocabulary | str = gin.REQUIRED,
    *,
    languages: Sequence[str] = XNLI_LANGUAGES,
    source: str = "files",
    tfds_data_dir: str | None = None,
) -> list[str]:
    """Registers the XNLI tasks of `languages`; returns their names."""
    if source not in ("files", "tfds"):
        raise ValueError(f"register_xnli.source must be 'files' or 'tfds', got {source!r}")
    vocab = as_vocabulary(vocabulary)
    names = []
    for lang in languages:
        readers = {"train": _train_files(data_dir, lang)}
        for split in _FILE_SPLITS:
            readers[split] = (
                TfdsRecords("xnli", split, XnliFields(lang), tfds_data_dir)
                if source == "tfds"
                else _eval_files(data_dir, lang, split)
            )
        if source == "tfds" and lang == "en":
            fields = PairFields("premise", "hypothesis")
            readers["train"] = TfdsRecords("multi_nli", "train", fields, tfds_data_dir)
        info = TaskInfo("classification", "xnli", lang, "xnli", NLI_LABELS)
        names.append(f"{PREFIX}.{lang}")
        register_task(names[-1], readers, info, vocab, pair=True)

        readers = {split: _translate_test_files(data_dir, lang, split) for split in _FILE_SPLITS}
        names.append(f"{PREFIX}.translate_test.{lang}")
        register_task(names[-1], readers, info, vocab, pair=True)
    return names
