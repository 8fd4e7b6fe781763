"""What a user meets at the prompt: `python -m xlmr_jax`, `--version`, a quiet start, library logs
behind `--verbosity`, T5X's gin flag names, progress bars."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

import gin
import numpy as np
import pytest

import xlmr_jax
from xlmr_jax import gin_utils, logs

NOISE = ("absl::InitializeLog", "cudart_stub", "oneDNN", "cpu_feature_guard")


def _xlmr(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xlmr_jax", *argv], capture_output=True, text=True, timeout=300
    )


def test_python_m_and_version():
    proc = _xlmr("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"xlmr-jax {xlmr_jax.__version__}"
    helped = _xlmr("--help")
    assert helped.returncode == 0 and "--verbosity" in helped.stdout
    assert "download" not in _xlmr("data", "--help").stdout


def test_start_is_quiet_unless_verbosity_asks():
    argv = ("data", "stats", "--table", "cc100", "--languages", "7")
    quiet = _xlmr(*argv)
    assert quiet.returncode == 0 and "en " in quiet.stdout
    assert not [n for n in NOISE if n in quiet.stderr], quiet.stderr
    loud = _xlmr("--verbosity", "1", *argv)
    assert loud.returncode == 0 and "absl::InitializeLog" in loud.stderr  # TF's start-up lines
    bad = _xlmr("--verbosity", "x", *argv)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "error:" in bad.stderr


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("verbosity", [0, 1])
def test_orbax_info_lines_only_with_verbosity(verbosity, tmp_path):
    import orbax.checkpoint as ocp

    logs.configure(verbosity)
    seen = _Records()
    logging.getLogger().addHandler(seen)
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(tmp_path / "c", {"w": np.ones(3, np.float32)})
            checkpointer.wait_until_finished()
        logging.getLogger("xlmr_jax.test").info("ours")
    finally:
        logging.getLogger().removeHandler(seen)
        logs.configure(0)
    library = [r for r in seen.records if r.name == "absl" and r.levelno == logging.INFO]
    assert (len(library) > 0) == bool(verbosity)
    assert [r.getMessage() for r in seen.records if r.name == "xlmr_jax.test"] == ["ours"]


def test_t5x_gin_flag_names(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "size.gin").write_text("ModelConfig.num_layers = 3\n")
    (tmp_path / "exp.gin").write_text("include 'size.gin'\n")
    parser = argparse.ArgumentParser()
    gin_utils.add_gin_arguments(parser)
    args = parser.parse_args(
        [
            f"--gin_file={tmp_path / 'exp.gin'}",
            f"--gin_search_paths=/nonexistent,{tmp_path / 'inc'}",
            "--gin_bindings=ModelConfig.hidden_size = 96",
            "--gin_bindings=ModelConfig.num_heads = 3",
        ]
    )
    gin_utils.parse_args(args, ["ModelConfig.mlp_dim = 384"])
    from xlmr_jax.config import ModelConfig

    config = ModelConfig()
    assert (config.num_layers, config.hidden_size, config.num_heads, config.mlp_dim) == (
        3,
        96,
        3,
        384,
    )
    gin.clear_config()


def test_data_cache_shows_progress(pretrain_corpus, spm_model, tmp_path):
    proc = _xlmr(
        "data", "cache", "--data_dir", str(pretrain_corpus), "--vocab", spm_model,
        "--languages", "en,fr", "--cache_dir", str(tmp_path), "--tokens_per_sample", "32",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cache: 100%" in proc.stderr and "2/2" in proc.stderr
    assert "\r" not in proc.stderr  # a log file gets lines, not redraws
    assert len(proc.stdout.strip().splitlines()) == 2  # one summary line per language


@pytest.mark.parametrize("leave", [True, False])
def test_progress_in_a_log_file_is_whole_lines(leave, capsys):
    """capsys's stderr is not a terminal, as a job's log file."""
    for _ in logs.progress(range(3), desc="work", leave=leave):
        pass
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and all(line.strip() for line in lines), repr(err)
    assert lines[0].startswith("work:   0%") and "0/3" in lines[0]
    assert ("3/3" in lines[-1]) == leave  # a bar that leaves nothing writes no end line


@pytest.mark.parametrize("verbosity", [0, 1])
def test_the_tpu_probe_is_quiet_on_a_machine_without_tpu(verbosity):
    """libtpu (the `tpu` extra) prints worker and topology warnings when JAX looks for a TPU."""
    pytest.importorskip("libtpu")
    code = (
        f"from xlmr_jax import logs; logs.probe_tpu_quietly({verbosity}); "
        "import jax; print(jax.devices()[0].platform)"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}  # let JAX probe
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "cpu", proc.stderr[-2000:]
    assert ("TPU" in proc.stderr) == bool(verbosity), proc.stderr[-2000:]
