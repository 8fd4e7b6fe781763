"""Readers for XNLI (XTREME tsv, XNLI-1.0 tsv/jsonl, XNLI-MT train), MultiNLI jsonl and PAWS-X.

All return `PairExample`s (text_a = premise / sentence1, text_b = hypothesis / sentence2) with
labels indexing `NLI_LABELS` or `PAWSX_LABELS`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterator

from xlmr_jax import storage
from xlmr_jax.data.formats.common import (
    FormatError,
    PairExample,
    PathLike,
    label_index,
    require_examples,
    text_lines,
    tsv_rows,
)

logger = logging.getLogger(__name__)

NLI_LABELS = ("entailment", "neutral", "contradiction")
# XNLI-MT's translated MultiNLI train files spell the third class "contradictory".
NLI_LABEL_ALIASES = {"contradictory": "contradiction"}
PAWSX_LABELS = ("not_paraphrase", "paraphrase")  # the files hold 0 / 1
# Column order of the papers' XNLI table (Conneau et al. 2019, Table 1).
XNLI_LANGUAGES = (
    "en",
    "fr",
    "es",
    "de",
    "el",
    "bg",
    "ru",
    "tr",
    "ar",
    "vi",
    "th",
    "zh",
    "hi",
    "sw",
    "ur",
)
PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")
PAWSX_COLUMNS = ("id", "sentence1", "sentence2", "label")  # the original files' header
# XNLI-1.0 xnli.{dev,test}.tsv (also XNLI-MT's translate-test xnli/xnli.*.en.tsv): 19 columns.
XNLI_ORIGINAL_COLUMNS = (
    "language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID",
    "genre", "label1", "label2", "label3", "label4", "label5", "sentence1_tokenized",
    "sentence2_tokenized", "match",
)  # fmt: skip


def _nli_label(value: str, path: PathLike, line: int) -> int:
    return label_index(value, NLI_LABELS, path, line, NLI_LABEL_ALIASES)


def _check_header(path: PathLike, fields: list[str], expected: tuple[str, ...]) -> None:
    if tuple(fields) != expected:
        raise FormatError(path, 1, f"header {fields} is not {list(expected)}")


def read_xnli_tsv(path: PathLike, language: str | None = None) -> list[PairExample]:
    """XTREME's XNLI `{dev,test}-<lang>.tsv`: premise, hypothesis, label; no header."""
    examples = [
        PairExample(str(row), premise, hypothesis, _nli_label(label, path, line), language, line)
        for row, (line, (premise, hypothesis, label)) in enumerate(tsv_rows(path, 3))
    ]
    return require_examples(examples, path)


def read_xnli_original(
    path: PathLike, languages: Collection[str] | None = None
) -> list[PairExample]:
    """XNLI-1.0 `xnli.{dev,test}.{tsv,jsonl}` (all languages in one file), optionally filtered.

    The id is `<language>-<pairID>`, unique over the file.
    """
    path = storage.as_path(path)
    records = _jsonl_records(path) if path.suffix == ".jsonl" else _original_tsv_records(path)
    examples = [
        PairExample(
            f"{rec['language']}-{rec['pairID']}",
            rec["sentence1"],
            rec["sentence2"],
            _nli_label(rec["gold_label"], path, line),
            rec["language"],
            line,
        )
        for line, rec in records
        if languages is None or rec["language"] in languages
    ]
    return require_examples(examples, path)


def _original_tsv_records(path: storage.Path) -> Iterator[tuple[int, dict]]:
    rows = tsv_rows(path, len(XNLI_ORIGINAL_COLUMNS))
    _check_header(path, next(rows)[1], XNLI_ORIGINAL_COLUMNS)
    for line, fields in rows:
        yield line, dict(zip(XNLI_ORIGINAL_COLUMNS, fields))


def _jsonl_records(path: storage.Path) -> Iterator[tuple[int, dict]]:
    """(line, record) of a jsonl file whose records carry an NLI pair."""
    required = ("sentence1", "sentence2", "gold_label", "pairID")
    lines = text_lines(path)
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            if any(rest.strip() for rest in lines[line:]):
                raise FormatError(path, line, "empty line inside the file")
            return
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(path, line, f"invalid JSON: {e.msg}") from None
        missing = [key for key in required if key not in record]
        if missing:
            raise FormatError(path, line, f"missing fields {missing}")
        yield line, record


def read_xnli_mt_train(path: PathLike, language: str | None = None) -> list[PairExample]:
    """XNLI-MT `multinli/multinli.train.<lang>.tsv`: header `premise hypo label`."""
    rows = tsv_rows(path, 3)
    _check_header(path, next(rows)[1], ("premise", "hypo", "label"))
    examples = [
        PairExample(str(row), premise, hypothesis, _nli_label(label, path, line), language, line)
        for row, (line, (premise, hypothesis, label)) in enumerate(rows)
    ]
    return require_examples(examples, path)


def read_multinli(path: PathLike) -> list[PairExample]:
    """MultiNLI 1.0 `multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl`; id = pairID.

    Pairs without annotator consensus (gold_label "-") are skipped, as in every published
    recipe; their number is logged.
    """
    examples, skipped = [], 0
    for line, rec in _jsonl_records(storage.as_path(path)):
        if rec["gold_label"] == "-":
            skipped += 1
            continue
        label = _nli_label(rec["gold_label"], path, line)
        examples.append(
            PairExample(rec["pairID"], rec["sentence1"], rec["sentence2"], label, "en", line)
        )
    if skipped:
        logger.info("%s: skipped %d pairs without gold label ('-')", path, skipped)
    return require_examples(examples, path)


def read_pawsx(
    path: PathLike, language: str | None = None, labeled: bool = False
) -> list[PairExample]:
    """PAWS-X in either layout, told apart by the first line.

    Original `x-final/<lang>/{train,translated_train,dev_2k,test_2k}.tsv`: header `id sentence1
    sentence2 label`, id = the id column. XTREME `pawsx/{train,dev,test}-<lang>.tsv`: no header,
    no id, `sentence1 TAB sentence2 TAB label`, or without the label column (unlabeled test
    files: label None, an error when `labeled`); id = the 0-based data row.
    """
    rows = tsv_rows(path)  # every line has the first line's number of columns
    first_line, first = next(rows)
    if first[:1] == ["id"]:
        _check_header(path, first, PAWSX_COLUMNS)
        examples = [_pawsx_example(path, line, language, *fields) for line, fields in rows]
    else:
        if len(first) not in (2, 3):
            raise FormatError(
                path,
                first_line,
                f"expected the original PAWS-X header {list(PAWSX_COLUMNS)} or XTREME's "
                f"sentence1, sentence2[, label] columns, got {len(first)} columns",
            )
        if labeled and len(first) == 2:
            raise FormatError(path, first_line, "no label column (sentence1, sentence2, label)")
        rows = [(first_line, first), *rows]
        examples = [
            _pawsx_example(path, line, language, str(row), *fields)
            for row, (line, fields) in enumerate(rows)
        ]
    return require_examples(examples, path)


def _pawsx_example(path, line, language, pair_id, s1, s2, label=None) -> PairExample:
    label = None if label is None else label_index(label, PAWSX_LABELS, path, line)
    return PairExample(pair_id, s1, s2, label, language, line)
