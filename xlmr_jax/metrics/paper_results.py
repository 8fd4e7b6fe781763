"""The papers' own result rows (`resources/paper_results.json`), as table rows beside ours.

Each row keeps its reference (paper and table), the paper's row label and the cells as printed,
so a test can find every number in the papers' text. Column names are ours (`tables.COLUMNS`);
GLUE's 2019 "MNLI-m/mm" cell is the column pair `mnli/mnli-mm`; `avg*` columns are the
printed averages (`tables.AVERAGES`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources

Cell = tuple[float, ...] | None
SHORT = {"conneau2019": "2019", "goyal2021": "2021"}


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """One printed row: `cells` and `averages` map our column / average names to values."""

    paper: str
    table: str
    benchmark: str
    split: str
    model: str
    setting: str
    printed: str
    line: int
    values: tuple[str, ...]
    cells: dict[str, Cell]
    averages: dict[str, Cell]

    @property
    def reference(self) -> str:
        return f"{SHORT[self.paper]} {self.table}"

    @property
    def row_name(self) -> str:
        setting = f" ({self.setting})" if self.setting else ""
        return f"{self.model}{setting} [{self.reference}]"


def parse_cell(text: str) -> Cell:
    """'88.7' -> (88.7,), '80.1 / 67.7' -> (80.1, 67.7) (F1 / EM), '-' -> None."""
    if text.strip() == "-":
        return None
    return tuple(float(part) for part in text.split(" / "))


@functools.cache
def paper_data() -> dict:
    text = resources.files("xlmr_jax.resources").joinpath("paper_results.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def paper_rows(benchmark: str | None = None) -> tuple[PaperRow, ...]:
    """The rows of every table of `benchmark` (all benchmarks when None), in file order."""
    rows = []
    for table in paper_data()["tables"]:
        if benchmark is not None and table["benchmark"] != benchmark:
            continue
        for row in table["rows"]:
            if len(row["values"]) != len(table["columns"]):
                raise ValueError(f"paper_results.json: {row['printed']!r} has a wrong cell count")
            cells, means = {}, {}
            for column, value in zip(table["columns"], row["values"]):
                if "/" in column and " / " not in value:  # GLUE 2019: "88.4/88.5", "86.6/-"
                    for name, part in zip(column.split("/"), value.split("/")):
                        cells[name] = parse_cell(part)
                else:
                    (means if column.startswith("avg") else cells)[column] = parse_cell(value)
            rows.append(
                PaperRow(
                    table["paper"],
                    table["table"],
                    table["benchmark"],
                    table["split"],
                    row["model"],
                    row["setting"],
                    row["printed"],
                    row["line"],
                    tuple(row["values"]),
                    cells,
                    means,
                )  # fmt: skip
            )
    return tuple(rows)
