"""`xlmr results RUN_DIR... [--json]`: the `results.json` of several runs as the papers' tables.

Each RUN_DIR holds a `results.json` (schema in `xlmr_jax.evaluation.tables`); a path to such a
file works too. Runs of one benchmark and split share a table, one row per run.
"""

from __future__ import annotations

import argparse
import json

from xlmr_jax import storage
from xlmr_jax.evaluation.tables import build_tables, load_results, markdown_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directory or results.json"
    )
    parser.add_argument("--json", action="store_true", help="print the tables as one JSON object")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    results = []
    for run_dir in args.run_dirs:
        path = storage.as_path(run_dir)
        path = path / "results.json" if path.is_dir() else path
        if not path.is_file():
            parser.error(f"{run_dir}: no results.json")
        try:
            results.append(load_results(path))
        except ValueError as e:
            parser.error(str(e))
    if args.json:
        tables = [table.to_dict() for table in build_tables(results)]
        print(json.dumps({"tables": tables}, ensure_ascii=False))
    else:
        print(markdown_tables(results))
    return 0
