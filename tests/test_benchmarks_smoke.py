"""benchmarks/train_step.py runs end to end on a minuscule shape and reports complete results.

Only the report's structure and sanity are checked: timings on a shared machine are never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_train_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "train_step.json"
    bench = _load_benchmark()
    returned = bench.main(
        [
            "--shapes=tiny",
            "--impls=ours,hf_torch",
            "--seq-len=32",
            "--batch-size=2",
            "--steps=1",
            "--warmup=0",
            "--threads=1",
            "--timeout=300",
            f"--json={out}",
        ]
    )
    written = json.loads(out.read_text())
    assert written["ratios"] == json.loads(json.dumps(returned["ratios"]))
    return written


def test_report_header(report: dict):
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["cpu_model"]
    assert len(report["load_average_start"]) == 3
    assert report["versions"]["jax"] and report["versions"]["torch"]
    assert report["settings"]["steps"] == 1
    shape = report["shapes"]["tiny"]
    assert (shape["seq_len"], shape["batch_size"], shape["vocab_size"]) == (32, 2, 8002)
    assert shape["masked_per_sequence"] == round(0.15 * 30)


@pytest.mark.parametrize("impl", ["ours", "hf_torch"])
def test_each_implementation_measured(report: dict, impl: str):
    (result,) = [r for r in report["results"] if r["impl"] == impl]
    assert result["status"] == "ok", result.get("reason")
    for key in (
        "tokens_per_second",
        "step_seconds_median",
        "peak_rss_mib",
        "flops_per_step",
        "achieved_tflops_per_second",
    ):
        assert result[key] > 0, key
    assert len(result["step_seconds"]) == 1
    # first step + 1 timed step, each a finite loss near ln(vocab) for a fresh model
    assert len(result["losses"]) == 2
    assert all(math.isfinite(x) and 0 < x < 2 * math.log(8002) for x in result["losses"])
    assert result["peak_rss_mib"] >= result["rss_before_setup_mib"]


def test_ours_reports_compile_and_masked_head(report: dict):
    (ours,) = [r for r in report["results"] if r["impl"] == "ours"]
    (torch_run,) = [r for r in report["results"] if r["impl"] == "hf_torch"]
    assert ours["compile_seconds"] > 0
    assert "compile_seconds" not in torch_run  # eager
    assert ours["head_positions_per_sequence"] < torch_run["head_positions_per_sequence"] == 32
    assert ours["flops_per_step"] < torch_run["flops_per_step"]


def test_ratios(report: dict):
    entry = report["ratios"]["hugepages"]["tiny"]
    assert entry["best_peer"] == "hf_torch"
    assert entry["ours_over_best_peer"] == pytest.approx(
        entry["tokens_per_second"]["ours"] / entry["tokens_per_second"]["hf_torch"]
    )
