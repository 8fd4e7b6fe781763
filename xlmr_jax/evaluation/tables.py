"""Run results (`results.json`) and the papers' result tables built from them.

`results.json` schema (one file per run directory; a JSON object):

    {
      "benchmark": "xnli",          # xnli | pawsx | conll | mlqa | xquad | squad | glue
      "model": "xlmr-large",        # row label
      "setting": "translate-train-all",  # optional: transfer setting, appended to the row label
      "split": "test",              # optional: "dev" or "test" (default "test")
      "metrics": {                  # column (language, or GLUE task) -> metric -> percentage
        "en": {"accuracy": 88.7},
        "fr": {"accuracy": 85.2}
      }
    }

Metric names are those of `xlmr_jax.evaluation.metrics` (accuracy, f1, exact_match, mcc,
pearson, spearman, precision, recall). A table has one row per run and the columns in the
paper's order (`COLUMNS`; unknown columns follow, sorted), then the average. The average is
over the paper's averaged columns (`AVERAGED`: all of them, except GLUE, whose 2021 average
is over MNLI-m, QNLI, QQP, SST-2, MRPC) and only shown when the row has all of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence

from xlmr_jax import storage
from xlmr_jax.data.formats.conll import NER_LANGUAGES
from xlmr_jax.data.formats.nli import PAWSX_LANGUAGES, XNLI_LANGUAGES
from xlmr_jax.data.formats.squad import MLQA_LANGUAGES, XQUAD_LANGUAGES
from xlmr_jax.evaluation.metrics import GLUE_METRICS

GLUE_COLUMNS = ("mnli", "mnli-mm", "qnli", "qqp", "sst2", "mrpc", "stsb", "cola", "rte", "wnli")
COLUMNS: dict[str, tuple[str, ...]] = {
    "xnli": XNLI_LANGUAGES,
    "pawsx": PAWSX_LANGUAGES,
    "conll": NER_LANGUAGES,
    "mlqa": MLQA_LANGUAGES,
    "xquad": XQUAD_LANGUAGES,
    "squad": ("en",),
    "glue": GLUE_COLUMNS,
}
AVERAGED: dict[str, tuple[str, ...]] = {
    **COLUMNS,
    "glue": ("mnli", "qnli", "qqp", "sst2", "mrpc"),
}
# Metrics shown in a cell ("F1 / EM" for QA), per benchmark.
CELL_METRICS: dict[str, tuple[str, ...]] = {
    "xnli": ("accuracy",),
    "pawsx": ("accuracy",),
    "conll": ("f1",),
    "mlqa": ("f1", "exact_match"),
    "xquad": ("f1", "exact_match"),
    "squad": ("f1", "exact_match"),
}
DIGITS = {"conll": 2}  # the 2019 paper's NER table has two decimals, the others one


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The contents of one run's `results.json` (see the module docstring)."""

    benchmark: str
    model: str
    metrics: dict[str, dict[str, float]]
    setting: str | None = None
    split: str = "test"

    def __post_init__(self):
        if self.benchmark not in COLUMNS:
            raise ValueError(
                f"unknown benchmark {self.benchmark!r}; choose one of {sorted(COLUMNS)}"
            )

    @property
    def row_name(self) -> str:
        return f"{self.model} ({self.setting})" if self.setting else self.model

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fields in results: {sorted(unknown)}")
        metrics = {
            column: {name: float(value) for name, value in values.items()}
            for column, values in data["metrics"].items()
        }
        return cls(**{**data, "metrics": metrics})


def save_results(result: RunResult, path: str | os.PathLike) -> None:
    storage.write_text(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")


def load_results(path: str | os.PathLike) -> RunResult:
    try:
        return RunResult.from_dict(json.loads(storage.as_path(path).read_text(encoding="utf-8")))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a valid results.json: {e}") from None


def cell_metrics(benchmark: str, column: str) -> tuple[str, ...]:
    """The metrics a table cell shows (GLUE: the task's first customary metric)."""
    return GLUE_METRICS.get(column, ())[:1] if benchmark == "glue" else CELL_METRICS[benchmark]


@dataclasses.dataclass(frozen=True)
class Table:
    """One benchmark/split: column names and, per row, the cell values (None when missing)."""

    benchmark: str
    split: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[tuple[float, ...] | None, ...], tuple[float, ...] | None], ...]

    def to_dict(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "split": self.split,
            "columns": [*self.columns, "avg"],
            "rows": [
                {"name": name, "cells": [*map(_listed, cells), _listed(average)]}
                for name, cells, average in self.rows
            ],
        }

    def markdown(self) -> str:
        digits = DIGITS.get(self.benchmark, 1)
        lines = [
            f"| {self.benchmark} ({self.split}) | {' | '.join(self.columns)} | avg |",
            "|---" * (len(self.columns) + 2) + "|",
        ]
        for name, cells, average in self.rows:
            shown = [_format(cell, digits) for cell in (*cells, average)]
            lines.append(f"| {name} | {' | '.join(shown)} |")
        return "\n".join(lines)


def _listed(values: tuple[float, ...] | None) -> list[float] | None:
    return None if values is None else list(values)


def _format(values: tuple[float, ...] | None, digits: int) -> str:
    return "-" if values is None else " / ".join(f"{v:.{digits}f}" for v in values)


def build_tables(results: Iterable[RunResult]) -> list[Table]:
    """One `Table` per (benchmark, split), in order of first appearance."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.benchmark, result.split), []).append(result)
    return [_table(benchmark, split, runs) for (benchmark, split), runs in groups.items()]


def _table(benchmark: str, split: str, runs: Sequence[RunResult]) -> Table:
    present = {column for run in runs for column in run.metrics}
    known = COLUMNS[benchmark]
    columns = tuple(c for c in known if c in present) + tuple(sorted(present - set(known)))
    rows = []
    for run in runs:
        cells = tuple(_cell(run, column) for column in columns)
        averaged = [_cell(run, column) for column in AVERAGED[benchmark]]
        average = None
        if all(cell is not None for cell in averaged):
            average = tuple(sum(values) / len(values) for values in zip(*averaged))
        rows.append((run.row_name, cells, average))
    return Table(benchmark, split, columns, tuple(rows))


def _cell(run: RunResult, column: str) -> tuple[float, ...] | None:
    values = run.metrics.get(column, {})
    names = cell_metrics(run.benchmark, column)
    if not names or any(name not in values for name in names):
        return None
    return tuple(values[name] for name in names)


def markdown_tables(results: Iterable[RunResult]) -> str:
    return "\n\n".join(table.markdown() for table in build_tables(results))
