"""Reader records from prepared tensorflow-datasets builders (never downloads).

For users who have run `tfds build` (or have a TFDS data directory): the same records the file
readers give, so the tasks, featurization and metrics are unchanged. Builders: `xnli`,
`multi_nli`, `glue/<task>`, `squad/v1.1`, `mlqa/<lang>`, `xquad/<lang>`, `conll2003`,
`conll2002/<es|nl>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from xlmr_jax.data.formats.common import PairExample
from xlmr_jax.data.formats.conll import NerSentence, iob1_to_iob2
from xlmr_jax.data.formats.squad import Answer, QAExample

# TFDS conll2002/conll2003 `ner` ClassLabel names.
TFDS_NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclasses.dataclass(frozen=True)
class TfdsRecords:
    """A reader: `convert(row, example)` of every example of a prepared TFDS split, streamed."""

    name: str
    split: str
    convert: Callable[[int, dict], object]
    data_dir: str | None = None

    def __call__(self) -> StreamedRecords:
        """Opens the split (a builder that is not prepared fails here, in the caller); its
        records are read and converted only while they are iterated."""
        import tensorflow_datasets as tfds

        dataset = tfds.load(self.name, split=self.split, data_dir=self.data_dir, download=False)
        name = f"TFDS {self.name}:{self.split}"
        if int(dataset.cardinality()) == 0:  # when unknown (-2), iterating checks it
            raise ValueError(f"{name} has no examples")
        return StreamedRecords(name, dataset, self.convert)


@dataclasses.dataclass(frozen=True)
class StreamedRecords:
    """The converted records of a tf.data dataset, one at a time: each iteration reads the split
    again through tf.data and nothing is listed into memory (`list()` it for random access)."""

    name: str
    dataset: Any  # tf.data.Dataset
    convert: Callable[[int, dict], object]

    def __iter__(self) -> Iterator:
        rows = 0
        for rows, example in enumerate(self.dataset.as_numpy_iterator(), 1):
            yield self.convert(rows - 1, example)
        if not rows:
            raise ValueError(f"{self.name} has no examples")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _label(value, regression: bool = False) -> int | float | None:
    if regression:
        return float(value)
    return None if int(value) < 0 else int(value)  # TFDS marks unlabeled (test) rows -1


@dataclasses.dataclass(frozen=True)
class PairFields:
    """Field names of a sentence(-pair) builder (glue/<task>, multi_nli)."""

    text_a: str
    text_b: str | None
    language: str = "en"
    regression: bool = False

    def __call__(self, row: int, ex: dict) -> PairExample:
        text_b = _text(ex[self.text_b]) if self.text_b else None
        label = _label(ex["label"], self.regression)
        example_id = str(ex["idx"]) if "idx" in ex else str(row)
        return PairExample(example_id, _text(ex[self.text_a]), text_b, label, self.language, row)


@dataclasses.dataclass(frozen=True)
class XnliFields:
    """TFDS `xnli`: premise {lang: text}, hypothesis {language: [...], translation: [...]}."""

    language: str

    def __call__(self, row: int, ex: dict) -> PairExample:
        hypothesis = ex["hypothesis"]
        languages = [_text(lang) for lang in hypothesis["language"]]
        text_b = _text(hypothesis["translation"][languages.index(self.language)])
        premise = _text(ex["premise"][self.language])
        return PairExample(str(row), premise, text_b, _label(ex["label"]), self.language, row)


def squad_record(row: int, ex: dict) -> QAExample:
    answers = ex["answers"]
    return QAExample(
        _text(ex["id"]),
        _text(ex["title"]),
        _text(ex["context"]),
        _text(ex["question"]),
        tuple(
            Answer(_text(text), int(start))
            for text, start in zip(answers["text"], answers["answer_start"])
        ),
    )


def conll_record(row: int, ex: dict) -> NerSentence:
    tags = tuple(TFDS_NER_TAGS[i] for i in np.asarray(ex["ner"]))
    tokens = tuple(_text(t) for t in ex["tokens"])
    return NerSentence(str(row), tokens, iob1_to_iob2(tags), 0, row)
