"""Pieces shared by the benchmark readers: the error type, decoding, tab-separated rows, labels."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping, Sequence

from xlmr_jax import storage

PathLike = str | os.PathLike


class FormatError(ValueError):
    """Bad input in a benchmark file; the message starts with `file:line:`."""

    def __init__(self, path: PathLike, line: int | None, message: str):
        self.path = path
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclasses.dataclass(frozen=True)
class PairExample:
    """One sentence or sentence-pair classification/regression example.

    `id` is the dataset's own id where the format has one, else the 0-based data row number;
    `label` is an index into the reader's label tuple, a float for regression (STS-B), or None
    for unlabeled (test) files; `line` is the 1-based line the example starts on.
    """

    id: str
    text_a: str
    text_b: str | None
    label: int | float | None
    language: str | None
    line: int


def read_text(path: PathLike, encoding: str | None = None) -> str:
    """File contents as text: UTF-8 (leading BOM dropped), or Latin-1 when not valid UTF-8.

    The fallback fits the CoNLL files, whose originals are ISO-8859-1 while some mirrors are
    re-encoded as UTF-8; Latin-1 decodes any bytes, so pass `encoding` to be strict.
    """
    data = storage.read_bytes(path)
    if encoding is not None:
        text = data.decode(encoding)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return text.removeprefix("\ufeff")


def text_lines(path: PathLike, encoding: str | None = None) -> list[str]:
    """Lines split on "\\n" only (never on Unicode line separators inside text), "\\r" dropped."""
    return [line.removesuffix("\r") for line in read_text(path, encoding).split("\n")]


def tsv_rows(
    path: PathLike, num_columns: int | None = None, encoding: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, fields) of every line of a tab-separated file, no quoting.

    Trailing empty lines are allowed; an empty line before the end, a line with the wrong
    number of fields (`num_columns`, or the first line's count) or an empty file is an error.
    """
    lines = text_lines(path, encoding)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise FormatError(path, None, "empty file")
    expected = num_columns
    for number, line in enumerate(lines, start=1):
        if not line:
            raise FormatError(path, number, "empty line inside the file")
        fields = line.split("\t")
        expected = len(fields) if expected is None else expected
        if len(fields) != expected:
            raise FormatError(
                path, number, f"expected {expected} tab-separated columns, got {len(fields)}"
            )
        yield number, fields


def label_index(
    value: str,
    labels: Sequence[str],
    path: PathLike,
    line: int,
    aliases: Mapping[str, str] | None = None,
) -> int:
    """Index of `value` in `labels`; a decimal index ("0", "1", ...) is accepted as well."""
    name = (aliases or {}).get(value, value)
    if name in labels:
        return labels.index(name)
    if name.isdigit() and int(name) < len(labels):
        return int(name)
    raise FormatError(path, line, f"label {value!r} is not one of {tuple(labels)}")


def parse_number(value: str, path: PathLike, line: int) -> float:
    """A regression label (STS-B score) or prediction; nan and inf are errors."""
    try:
        number = float(value)
    except ValueError:
        raise FormatError(path, line, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise FormatError(path, line, f"{value!r} is not a finite number")
    return number


def require_examples(examples: list, path: PathLike) -> list:
    """`examples` unless empty (an empty split is always a mistake upstream)."""
    if not examples:
        raise FormatError(path, None, "no examples")
    return examples
