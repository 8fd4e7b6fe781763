"""Run outputs: results.json (evaluation/tables.py schema), results.md, evaluation.json, predictions.

`results.json` holds the primary selection's results ("joint" when it ran), `results_<mode>.json`
the others; results.md has the papers' table (languages as columns, average last) with one row
per selection mode; evaluation.json lists per language the task, split, number of evaluated
examples, metrics and predictions file. Only process 0 writes (under jax.distributed); every
process gets the same return values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import jax
from jax.experimental import multihost_utils

from xlmr_jax import storage
from xlmr_jax.finetuning.prediction import TaskEvaluation
from xlmr_jax.finetuning.predictions import predictions_path, write_predictions
from xlmr_jax.metrics.tables import RunResult, markdown_tables, save_results

PRIMARY = "joint"
RESULTS_FILE = "results.json"  # the primary selection's results; present once a run finished
PREDICTIONS = "predictions"  # the primary selection's prediction files, per split
ROW_SUFFIX = {"joint": "", "per_language": "per-language selection"}


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0; every process computes them)."""
    return jax.process_index() == 0


def split_name(split: str) -> str:
    """The results.json split: seqio's "validation" is the papers' "dev"."""
    return "dev" if split == "validation" else split


def row_setting(setting: str, mode: str) -> str | None:
    parts = [part for part in (setting, ROW_SUFFIX.get(mode, mode)) if part]
    return ", ".join(parts) or None


def run_result(
    evaluations: Mapping[str, TaskEvaluation], model_name: str, setting: str | None
) -> RunResult:
    """One table row: every evaluation's metrics under its column."""
    first = next(iter(evaluations.values()))
    return RunResult(
        benchmark=first.info.benchmark,
        model=model_name,
        metrics={ev.info.column: dict(ev.metrics) for ev in evaluations.values()},
        setting=setting,
        split=split_name(first.split),
    )


def export_predictions(
    evaluations: Mapping[str, TaskEvaluation], directory: storage.Path, steps: Mapping[str, int]
) -> dict[str, dict]:
    """Writes `<directory>/<split>/<column>.<ext>` per language; returns evaluation.json rows."""
    rows = {}
    for lang, ev in evaluations.items():
        stem = directory / split_name(ev.split) / ev.info.column
        path = write_predictions(ev, stem) if is_writer() else predictions_path(ev, stem)
        rows[lang] = {
            "task": ev.task,
            "split": ev.split,
            "column": ev.info.column,
            "examples": ev.examples,
            "metrics": ev.metrics,
            "predictions": str(path),
            "step": steps.get(lang),
        }
    return rows


def replace_finished(
    directory: storage.Path, overwrite: bool, clear: Callable[[storage.Path], None], refusal: str
) -> None:
    """A directory with RESULTS_FILE holds finished results: raise FileExistsError with
    "<directory> <refusal>" unless `overwrite`; then process 0 runs `clear` and every process
    waits for it."""
    if not (directory / RESULTS_FILE).exists():
        return
    if not overwrite:
        raise FileExistsError(f"{directory} {refusal}")
    if is_writer():
        clear(directory)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"cleared {directory}")


def clear_report(directory: storage.Path) -> None:
    """Deletes what `write_report` and `export_predictions(directory / PREDICTIONS)` wrote, and
    nothing else: the checkpoints of a run in the same folder stay."""
    (directory / RESULTS_FILE).unlink(missing_ok=True)  # first: no longer reads as finished
    for path in [*directory.glob("results*.json"), directory / "results.md"]:
        path.unlink(missing_ok=True)
    (directory / "evaluation.json").unlink(missing_ok=True)
    if (directory / PREDICTIONS).exists():
        (directory / PREDICTIONS).rmtree()


def write_report(
    model_dir: storage.Path, results: Mapping[str, RunResult], details: Mapping[str, Mapping]
) -> str:
    """Writes results.md, evaluation.json, results_<mode>.json and, last (it marks a finished
    run), results.json; returns the markdown table. Only process 0 writes."""
    table = markdown_tables(list(results.values()))
    if not is_writer():
        return table
    primary = PRIMARY if PRIMARY in results else next(iter(results))
    storage.write_text(model_dir / "results.md", table + "\n")
    storage.write_text(
        model_dir / "evaluation.json",
        json.dumps(details, indent=2, ensure_ascii=False) + "\n",
    )
    for mode, result in results.items():
        if mode != primary:
            save_results(result, model_dir / f"results_{mode}.json")
    save_results(results[primary], model_dir / RESULTS_FILE)
    return table
