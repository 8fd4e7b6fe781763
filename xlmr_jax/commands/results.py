"""`xlmr results RUN_DIR... [--with_paper [--compare MODEL]] [--json]`: runs as the papers' tables.

Each RUN_DIR holds a `results.json` (schema in `xlmr_jax.metrics.tables`); a path to such a
file works too. Runs of one benchmark and split share a table, one row per run. --with_paper
adds the papers' rows of each benchmark (`resources/paper_results.json`, with their table
references) and, per run, its difference to the paper's row of --compare in the same setting;
without RUN_DIR it prints the papers' tables alone.
"""

from __future__ import annotations

import argparse
import json

from xlmr_jax import storage
from xlmr_jax.metrics.paper_results import paper_rows
from xlmr_jax.metrics.tables import (
    DEFAULT_COMPARE,
    build_tables,
    load_results,
    markdown_tables,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", nargs="*", metavar="RUN_DIR", help="run directory or results.json"
    )
    parser.add_argument(
        "--with_paper", action="store_true", help="add the papers' rows and the differences"
    )
    parser.add_argument(
        "--compare",
        default=DEFAULT_COMPARE,
        help=f"the paper model our runs are compared with (default {DEFAULT_COMPARE!r})",
    )
    parser.add_argument("--json", action="store_true", help="print the tables as one JSON object")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if not args.run_dirs and not args.with_paper:
        raise ValueError("give at least one RUN_DIR (or --with_paper for the papers' tables)")
    models = sorted({row.model for row in paper_rows()})
    if args.with_paper and args.compare not in models:
        raise ValueError(f"--compare {args.compare!r} is not a paper row; choose one of {models}")
    results = []
    for run_dir in args.run_dirs:
        path = storage.as_path(run_dir)
        path = path / "results.json" if path.is_dir() else path
        if not path.is_file():
            raise ValueError(f"{run_dir}: no results.json")
        results.append(load_results(path))
    if args.json:
        tables = build_tables(results, with_paper=args.with_paper, compare=args.compare)
        print(json.dumps({"tables": [t.to_dict() for t in tables]}, ensure_ascii=False))
    else:
        print(markdown_tables(results, with_paper=args.with_paper, compare=args.compare))
    return 0
