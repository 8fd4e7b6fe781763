"""`xlmr finetune --seeds N`: the parsed setting run N times with seeds s, s+1, ... (s =
Recipe.seed), each in MODEL_DIR/seed_<k>/, then the mean and standard deviation per language,
as the 2019 paper's Table 1 reports XLM-R over five seeds.

Writes MODEL_DIR/results.json (the mean, a results.json like any run's), results.md and
seeds.json: seeds, each run's metrics, and per column and metric the mean and the sample
standard deviation (n - 1), with the same for the table's averages.
"""

from __future__ import annotations

import dataclasses
import json
import statistics

import gin
import jax

from xlmr_jax import storage
from xlmr_jax.finetuning.loop import finetune
from xlmr_jax.finetuning.reporting import PRIMARY, RESULTS_FILE
from xlmr_jax.metrics.tables import (
    RunResult,
    Table,
    build_tables,
    cell_metrics,
    load_results,
    save_results,
)


@dataclasses.dataclass(frozen=True)
class SeedsResult:
    model_dir: storage.Path
    runs: list[RunResult]
    mean: RunResult | None
    std: dict[str, dict[str, float]]
    table: str
    preempted: bool = False  # SIGTERM/Ctrl-C: a seed's run saved; run again to continue


def finetune_seeds(n: int) -> SeedsResult:
    """Runs the parsed fine-tuning setting with n consecutive seeds and aggregates them."""
    if n < 2:
        raise ValueError(f"--seeds {n}: give at least 2 (one seed is a plain `xlmr finetune`)")
    model_dir = gin.query_parameter("%MODEL_DIR")
    if not isinstance(model_dir, str):
        raise ValueError("set MODEL_DIR (--gin.MODEL_DIR=\"'/runs/x'\"): the seeds' runs go inside")
    model_dir = storage.as_path(model_dir, "MODEL_DIR")
    first = _bound("Recipe.seed", 0)
    seeds = list(range(first, first + n))
    runs = []
    for seed in seeds:
        with gin.unlock_config():
            gin.bind_parameter("finetune.model_dir", str(model_dir / f"seed_{seed}"))
            gin.bind_parameter("Recipe.seed", seed)
        done = model_dir / f"seed_{seed}" / RESULTS_FILE
        if done.exists() and not _bound("finetune.overwrite", False):
            run = load_results(done)  # finished before an interruption of the seeds
        else:
            finished = finetune()
            if finished.preempted:  # this seed's run saved; the next call resumes it
                return SeedsResult(finished.model_dir, runs, None, {}, "", preempted=True)
            results = finished.results
            run = results.get(PRIMARY) or next(iter(results.values()))
        runs.append(dataclasses.replace(run, model=f"{run.model} seed {seed}"))
    mean, std = aggregate(runs)
    mean = dataclasses.replace(
        mean, model=f"{mean.model.rsplit(' seed ', 1)[0]} (mean of {n} seeds)"
    )
    (table,) = build_tables([*runs, mean])
    text = table.markdown() + "\n" + _std_row(table, runs, std)
    if jax.process_index() == 0:
        save_results(mean, model_dir / "results.json")
        storage.write_text(model_dir / "results.md", text + "\n")
        summary = {
            "seeds": seeds,
            "runs": [r.metrics for r in runs],
            "mean": mean.metrics,
            "std": std,
            "average": _averages(table),
        }
        storage.write_text(model_dir / "seeds.json", json.dumps(summary, indent=2) + "\n")
    return SeedsResult(model_dir, runs, mean, std, text)


def aggregate(runs: list[RunResult]) -> tuple[RunResult, dict[str, dict[str, float]]]:
    """Per column and metric, the mean (as a RunResult) and the sample standard deviation."""
    columns = {c: sorted(m) for c, m in runs[0].metrics.items()}
    for run in runs[1:]:
        if {c: sorted(m) for c, m in run.metrics.items()} != columns:
            raise ValueError("the seeds' runs report different columns or metrics")
    values = {c: {m: [r.metrics[c][m] for r in runs] for m in ms} for c, ms in columns.items()}
    mean = {c: {m: statistics.fmean(v) for m, v in ms.items()} for c, ms in values.items()}
    std = {c: {m: statistics.stdev(v) for m, v in ms.items()} for c, ms in values.items()}
    return dataclasses.replace(runs[0], metrics=mean), std


def _averages(table: Table) -> dict[str, dict[str, list[float] | None]]:
    """Mean and sample std over the seed rows of each table average (e.g. the XNLI avg)."""
    seed_rows = table.rows[:-1]
    out = {}
    for i, name in enumerate(table.averages):
        cells = [row[2][i] for row in seed_rows]
        if any(cell is None for cell in cells):
            out[name] = None
            continue
        columns = list(zip(*cells))
        out[name] = {
            "mean": [statistics.fmean(c) for c in columns],
            "std": [statistics.stdev(c) for c in columns],
        }
    return out


def _std_row(table: Table, runs: list[RunResult], std: dict) -> str:
    """A markdown row under the table: the std per column and of each average, over seeds."""
    cells = []
    for column in table.columns:
        names = cell_metrics(table.benchmark, column)
        ok = column in std and all(name in std[column] for name in names) and names
        cells.append(" / ".join(f"{std[column][n]:.2f}" for n in names) if ok else "-")
    for average in _averages(table).values():
        cells.append("-" if average is None else " / ".join(f"{v:.2f}" for v in average["std"]))
    return f"| std ({len(runs)} seeds) | {' | '.join(cells)} |"


def _bound(name: str, default):
    try:
        return gin.query_parameter(name)
    except ValueError:
        return default
