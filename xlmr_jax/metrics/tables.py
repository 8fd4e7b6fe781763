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

Metric names are those of `xlmr_jax.metrics.official` (accuracy, f1, exact_match, mcc,
pearson, spearman, precision, recall). A table has one row per run and the columns in the
paper's order (`COLUMNS`; unknown columns follow, sorted), then the averages (`AVERAGES`):
"avg" over every column, except GLUE, whose "avg" is the 2021 paper's (Table 2: MNLI-m, QNLI,
QQP, SST-2, MRPC) and "avg6" the 2019 paper's (Table 4: the same and STS-B). An average is only
shown when the row has all of its columns. With `with_paper`, the papers' rows of the benchmark
follow ours (`paper_results.py`), then ours minus the paper's row of one model and setting.
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
from xlmr_jax.metrics.official import GLUE_METRICS
from xlmr_jax.metrics.paper_results import PaperRow, paper_rows

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
GLUE_2021_AVERAGED = ("mnli", "qnli", "qqp", "sst2", "mrpc")  # 2021 paper, Table 2
AVERAGES: dict[str, dict[str, tuple[str, ...]]] = {
    **{benchmark: {"avg": columns} for benchmark, columns in COLUMNS.items()},
    "glue": {"avg": GLUE_2021_AVERAGED, "avg6": (*GLUE_2021_AVERAGED, "stsb")},  # 2019, Table 4
}
DEFAULT_COMPARE = "XLM-R Large"
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


Cell = tuple[float, ...] | None
Row = tuple[str, tuple[Cell, ...], tuple[Cell, ...]]  # name, cells, averages


@dataclasses.dataclass(frozen=True)
class Table:
    """One benchmark/split: column and average names and, per row, the cells and averages (None
    when missing)."""

    benchmark: str
    split: str
    columns: tuple[str, ...]
    averages: tuple[str, ...]
    rows: tuple[Row, ...]

    def to_dict(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "split": self.split,
            "columns": [*self.columns, *self.averages],
            "rows": [
                {"name": name, "cells": [_listed(cell) for cell in (*cells, *averages)]}
                for name, cells, averages in self.rows
            ],
        }

    def markdown(self) -> str:
        digits = DIGITS.get(self.benchmark, 1)
        names = (*self.columns, *self.averages)
        lines = [
            f"| {self.benchmark} ({self.split}) | {' | '.join(names)} |",
            "|---" * (len(names) + 1) + "|",
        ]
        for name, cells, averages in self.rows:
            shown = [_format(cell, digits) for cell in (*cells, *averages)]
            lines.append(f"| {name} | {' | '.join(shown)} |")
        return "\n".join(lines)


def _listed(values: Cell) -> list[float] | None:
    return None if values is None else list(values)


def _format(values: Cell, digits: int) -> str:
    return "-" if values is None else " / ".join(f"{v:.{digits}f}" for v in values)


def build_tables(
    results: Iterable[RunResult], with_paper: bool = False, compare: str = DEFAULT_COMPARE
) -> list[Table]:
    """One `Table` per (benchmark, split), in order of first appearance.

    with_paper: the papers' rows of each benchmark follow ours, then per run of ours its
    difference to each paper row of model `compare` in the same setting. Without runs, the
    papers' tables alone.
    """
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.benchmark, result.split), []).append(result)
    if with_paper and not groups:
        return [
            _table(benchmark, split, [], _paper_rows(benchmark, split))
            for benchmark, split in dict.fromkeys((r.benchmark, r.split) for r in paper_rows())
        ]
    tables = []
    for (benchmark, split), runs in groups.items():
        paper = paper_rows(benchmark) if with_paper else ()
        tables.append(_table(benchmark, split, runs, paper, compare))
    return tables


def _paper_rows(benchmark: str, split: str) -> tuple[PaperRow, ...]:
    return tuple(row for row in paper_rows(benchmark) if row.split == split)


def _table(
    benchmark: str,
    split: str,
    runs: Sequence[RunResult],
    paper: Sequence[PaperRow] = (),
    compare: str = DEFAULT_COMPARE,
) -> Table:
    present = {column for run in runs for column in run.metrics}
    present |= {column for row in paper for column, cell in row.cells.items() if cell}
    known = COLUMNS[benchmark]
    columns = tuple(c for c in known if c in present) + tuple(sorted(present - set(known)))
    averages = AVERAGES[benchmark]
    ours: list[Row] = []
    for run in runs:
        cells = tuple(_cell(run, column) for column in columns)
        means = tuple(_mean([_cell(run, c) for c in averaged]) for averaged in averages.values())
        ours.append((run.row_name, cells, means))
    theirs: list[Row] = [
        (
            row.row_name if row.split == split else f"{row.row_name} ({row.split})",
            tuple(row.cells.get(column) for column in columns),
            tuple(row.averages.get(name) for name in averages),
        )
        for row in paper
    ]
    differences: list[Row] = []
    for run, (name, cells, means) in zip(runs, ours):
        for row, (_, paper_cells, paper_means) in zip(paper, theirs):
            if row.model == compare and _setting(run.setting) == _setting(row.setting):
                differences.append(
                    (
                        f"{name} − {row.model} [{row.reference}]",
                        tuple(map(_difference, cells, paper_cells)),
                        tuple(map(_difference, means, paper_means)),
                    )
                )
    return Table(benchmark, split, columns, tuple(averages), (*ours, *theirs, *differences))


def _setting(setting: str | None) -> str:
    """The transfer setting without a selection suffix ("..., per-language selection")."""
    return (setting or "").split(", ")[0]


def _mean(cells: list[Cell]) -> Cell:
    if any(cell is None for cell in cells):
        return None
    return tuple(sum(values) / len(values) for values in zip(*cells))


def _difference(ours: Cell, theirs: Cell) -> Cell:
    if ours is None or theirs is None:
        return None
    return tuple(a - b for a, b in zip(ours, theirs))


def _cell(run: RunResult, column: str) -> Cell:
    values = run.metrics.get(column, {})
    names = cell_metrics(run.benchmark, column)
    if not names or any(name not in values for name in names):
        return None
    return tuple(values[name] for name in names)


def markdown_tables(results: Iterable[RunResult], **paper) -> str:
    """The tables of `build_tables(results, **paper)` in markdown, blank line between."""
    return "\n\n".join(table.markdown() for table in build_tables(results, **paper))
