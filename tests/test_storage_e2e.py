"""Every path on a real GCS API server: corpus, SentencePiece, block cache (local workers, Beam on
DirectRunner and DaskRunner), pretraining with SIGTERM and resume, export, fine-tuning, scoring.

The commands are the ones docs/scale.md gives a TPU-pod user, with the bucket of the local server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from etils import epath
from train_runs import device_env

from xlmr_jax import exit_codes, storage
from xlmr_jax.convert.hf import load_hf

pytestmark = pytest.mark.slow

LANGUAGES = "en,fr,de,sw,ar,zh-Hans"
COMMITTED = "commit_success.txt"  # what orbax writes last into a checkpoint on GCS
CACHE = ["--name", "xlmr.cc100", "--tokens_per_sample", "32", "--validation_fraction", "0.05"]
TRAIN = [
    "--gin_file=pretrain/tiny_cpu.gin",
    "--gin.ModelConfig.vocab_size=2002",
    "--gin.TOKENS_PER_SAMPLE=32",
    "--gin.BATCH_SIZE=8",
    "--gin.TRAIN_STEPS=12",
    "--gin.WARMUP_STEPS=2",
    "--gin.CheckpointConfig.period=4",
    "--gin.train.log_every=1",
    "--gin.train.eval_every=0",
]


def xlmr(*argv: str, timeout: int = 600) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "xlmr_jax.cli", *argv],
        env=device_env(1),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def tree(url: str) -> dict[str, bytes]:
    """Every file under `url`, relative name -> bytes (listed afresh: other processes write)."""
    epath.backend.fsspec_backend.fs(url).invalidate_cache()
    out = {}
    for directory, _, files in storage.as_path(url).walk():
        directory = os.fspath(directory)  # fsspec gives bucket/..., without the scheme
        for name in files:
            path = storage.as_path(directory if "://" in directory else f"gs://{directory}") / name
            out[os.fspath(path)[len(url) + 1 :]] = path.read_bytes()
    return out


def losses(model_dir: str) -> dict[int, float]:
    records = storage.as_path(model_dir, "MODEL_DIR").joinpath("metrics.jsonl").read_text()
    return {r["step"]: r["loss"] for r in map(json.loads, records.splitlines())}


def params(model_dir: str, step: int) -> dict:
    path = storage.as_path(model_dir) / "checkpoints" / str(step) / "state"
    return ocp.PyTreeCheckpointer().restore(path)["params"]


@pytest.fixture(scope="module")
def bucket(gcs, data_dir, tmp_path_factory):
    """The corpus and SentencePiece model in the bucket, and the cache built three ways."""
    b = gcs.url("e2e")
    xlmr("data", "sample-corpus", "--text_dir", str(data_dir / "text"), "--out", f"{b}/corpus",
         "--languages", LANGUAGES)  # fmt: skip
    xlmr("spm-train", "--data_dir", f"{b}/corpus", "--model_prefix", f"{b}/spm", "--vocab_size",
         "2000", "--num_threads", "2")  # fmt: skip
    cache = ["data", "cache", "--data_dir", f"{b}/corpus", "--vocab", f"{b}/spm.model", *CACHE]
    xlmr(*cache, "--workers", "2")  # DATA_DIR/xlmr_cache, where training looks
    direct = ["--pipeline_option=--direct_num_workers=2"]
    direct += ["--pipeline_option=--direct_running_mode=multi_processing"]
    xlmr(*cache, "--cache_dir", f"{b}/beam_direct", "--runner", "DirectRunner", *direct)
    return b


def test_beam_caches_on_gcs_are_byte_identical_to_the_local_build(bucket, tmp_path):
    from dask.distributed import LocalCluster

    local = tree(f"{bucket}/corpus/xlmr_cache")
    assert any(name.endswith("index.json") for name in local) and len(local) > 12
    assert tree(f"{bucket}/beam_direct") == local
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        address = f"--pipeline_option=--dask_client_address={cluster.scheduler_address}"
        out = xlmr("data", "cache", "--data_dir", f"{bucket}/corpus", "--vocab",
                   f"{bucket}/spm.model", *CACHE, "--cache_dir", f"{bucket}/beam_dask",
                   "--runner", "DaskRunner", address)  # fmt: skip
    assert "(DaskRunner)" in out
    assert tree(f"{bucket}/beam_dask") == local


def run_bindings(bucket: str) -> list[str]:
    return [*TRAIN, f"--gin.DATA_DIR='{bucket}/corpus'", f"--gin.SPM_MODEL='{bucket}/spm.model'"]


@pytest.fixture(scope="module")
def straight(bucket) -> str:
    """An uninterrupted run in the bucket: what every interrupted run must end equal to."""
    model_dir = f"{bucket}/straight"
    xlmr("train", *run_bindings(bucket), f"--gin.MODEL_DIR='{model_dir}'")
    return model_dir


def test_pretrain_resume_export_finetune_score(bucket, straight, data_dir, gcs):
    run = run_bindings(bucket)

    # SIGTERM once the run has logged step 2; it saves at the next step and exits for requeue.
    # Before that, a second job on the same bucket directory is refused by the run's lock.
    preempted = f"{bucket}/preempted"
    argv = [sys.executable, "-m", "xlmr_jax.cli", "train", *run, f"--gin.MODEL_DIR='{preempted}'"]
    proc = subprocess.Popen(argv, env=device_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = storage.as_path(preempted) / "metrics.jsonl"
    while proc.poll() is None:
        if metrics.exists() and max(losses(preempted), default=0) >= 2:
            proc.send_signal(signal.SIGSTOP)  # frozen while a second job tries the directory
            second = subprocess.run(argv, env=device_env(1), capture_output=True, text=True)
            errors = [line for line in second.stderr.splitlines() if "error:" in line]
            assert second.returncode == 2 and len(errors) == 1, second.stderr[-3000:]
            assert f"is in use by pid {proc.pid} on " in errors[0]
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
            break
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == exit_codes.PREEMPTED, err[-4000:]
    assert b"preempted: checkpoint saved" in out, "the run ended before SIGTERM"
    stopped = max(losses(preempted))
    assert stopped < 12
    xlmr("train", *run, f"--gin.MODEL_DIR='{preempted}'")  # resumes from the bucket

    assert losses(preempted) == losses(straight)  # bitwise: the same floats, every step
    a, b = params(preempted, 12), params(straight, 12)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert (storage.as_path(straight) / "config.gin").read_text().count("gs://") >= 2
    events = list((storage.as_path(straight) / "tensorboard" / "train").iterdir())
    assert events and events[0].name.startswith("events.out.tfevents.")

    # Export the final model to the bucket; it loads back through transformers' layout.
    hf = f"{bucket}/hf"
    xlmr("export", "--checkpoint", f"{straight}/model", "--to", "hf", "--out", hf)
    assert load_hf(hf).config.vocab_size == 2002

    # Fine-tune from the bucket: init checkpoint, benchmark file and run directory.
    rte = f"{bucket}/benchmarks/glue/RTE/dev.tsv"
    storage.copy_file(data_dir / "glue" / "RTE" / "dev.tsv", rte)
    finetuned = f"{bucket}/rte"
    finetune = ["--gin_file=finetune/glue_rte.gin", "--gin_file=models/tiny.gin",
                "--gin.ModelConfig.vocab_size=2002", f"--gin.INIT_CHECKPOINT='{straight}/model'",
                f"--gin.DATA_DIR='{bucket}/benchmarks'", f"--gin.MODEL_DIR='{finetuned}'",
                "--gin.TrainSpec.split='validation'", "--gin.TEST=None",
                "--gin.Recipe.max_steps=4", "--gin.Recipe.eval_every=4"]  # fmt: skip
    xlmr("finetune", *finetune)
    evaluation = json.loads((storage.as_path(finetuned) / "evaluation.json").read_text())
    row = evaluation["joint"]["rte"]
    assert row["examples"] == 277 and row["predictions"].startswith(finetuned)
    scored = json.loads(
        xlmr(
            "score",
            "--benchmark",
            "glue-rte",
            "--gold",
            rte,
            "--predictions",
            row["predictions"],
            "--json",
        )  # fmt: skip
    )
    results = json.loads((storage.as_path(finetuned) / "results.json").read_text())
    assert scored["accuracy"] == pytest.approx(results["metrics"]["rte"]["accuracy"])

    # The finished run is refused, then cleared and re-run when asked, in the bucket too.
    again = [sys.executable, "-m", "xlmr_jax.cli", "finetune", *finetune]
    refused = subprocess.run(again, env=device_env(1), capture_output=True, text=True)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr, refused.stderr[-3000:]
    before = tree(finetuned)
    xlmr("finetune", *finetune, "--overwrite")
    after = tree(finetuned)
    assert after["results.json"] == before["results.json"]
    # Array chunks and event files have new names each run; the old ones must be gone.
    named = lambda files: {k for k in files if "/d/" not in k and "tfevents" not in k}  # noqa: E731
    assert named(after) == named(before)
    assert not (before.keys() - named(before)) & after.keys()


def test_server_stopped_during_a_save_then_resume_loses_nothing(bucket, straight, gcs):
    """The trainer is frozen inside its step-8 save, the server stops, the trainer goes on: it
    fails with one error line naming the checkpoint; with the server back, a rerun resumes from
    step 4 and ends equal to the uninterrupted run."""
    run = run_bindings(bucket)
    model_dir = f"{bucket}/outage"
    argv = [sys.executable, "-m", "xlmr_jax.cli", "train", *run, f"--gin.MODEL_DIR='{model_dir}'"]
    proc = subprocess.Popen(argv, env=device_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoints = storage.as_path(model_dir) / "checkpoints"
    saving = False
    while proc.poll() is None and not saving:  # on GCS orbax commits with a marker file, last
        saving = (checkpoints / "8").exists() and not (checkpoints / "8" / COMMITTED).exists()
    assert saving, "the run ended before its second save"
    proc.send_signal(signal.SIGSTOP)  # frozen mid-save while the server goes away
    gcs.stop()
    proc.send_signal(signal.SIGCONT)
    try:
        _, err = proc.communicate(timeout=600)
    finally:
        gcs.start()
    assert proc.returncode == 2, err[-3000:]
    err = err.decode()  # orbax's save thread may log its exception around the error line
    lines = [line for line in err.splitlines() if line.startswith("xlmr train: error:")]
    assert len(lines) == 1 and "saving checkpoint 8 to " + model_dir in lines[0], err[-3000:]
    assert "resume" in lines[0]

    xlmr("train", *run, f"--gin.MODEL_DIR='{model_dir}'")
    assert losses(model_dir) == losses(straight)
    jax.tree.map(np.testing.assert_array_equal, params(model_dir, 12), params(straight, 12))


def test_a_damaged_checkpoint_in_the_bucket_is_set_aside(bucket, straight):
    """A deleted object in the latest checkpoint: resume warns, moves it to
    checkpoints_damaged/ in the bucket, and ends equal to the uninterrupted run."""
    run = run_bindings(bucket)
    model_dir = f"{bucket}/damaged"
    xlmr("train", *run, f"--gin.MODEL_DIR='{model_dir}'", "--gin.train.stop_after=8")
    state = storage.as_path(model_dir) / "checkpoints" / "8" / "state"
    largest = max(tree(os.fspath(state)).items(), key=lambda item: len(item[1]))[0]
    (state / largest).unlink()

    argv = [sys.executable, "-m", "xlmr_jax.cli", "train", *run, f"--gin.MODEL_DIR='{model_dir}'"]
    proc = subprocess.run(argv, env=device_env(1), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warning = [line for line in proc.stderr.splitlines() if "cannot be restored" in line]
    assert len(warning) == 1 and "Checkpoint 8 " in warning[0], proc.stderr[-3000:]
    assert f"{model_dir}/checkpoints_damaged/8" in warning[0]
    kept = tree(f"{model_dir}/checkpoints_damaged/8")  # for inspection: all but the lost object
    assert "_CHECKPOINT_METADATA" in kept and f"state/{largest}" not in kept
    assert losses(model_dir) == losses(straight)
    jax.tree.map(np.testing.assert_array_equal, params(model_dir, 12), params(straight, 12))
