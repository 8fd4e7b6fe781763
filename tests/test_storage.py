"""The path layer against a real GCS API server on 127.0.0.1 (and the same calls on local disk)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from xlmr_jax import storage


@pytest.fixture(params=["local", "gcs"])
def root(request, tmp_path):
    """The same tests on a local folder and on a bucket of the server."""
    if request.param == "local":
        return storage.as_path(tmp_path)
    server = request.getfixturevalue("gcs")
    return storage.as_path(server.url(request.node.name.replace("[", "-").rstrip("]")))


def test_whole_file_writes_appear_only_when_complete(root):
    storage.write_text(root / "a" / "b.txt", "hello")
    assert (root / "a" / "b.txt").read_text() == "hello"
    with pytest.raises(RuntimeError), storage.atomic_writer(root / "never.bin") as f:
        f.write(b"half")
        raise RuntimeError("the writer fails half-way")
    assert not (root / "never.bin").exists()
    assert sorted(p.name for p in (root / "a").iterdir()) == ["b.txt"]


def test_append_file_grows_and_survives_reopening(root):
    log = storage.AppendFile(root / "metrics.jsonl")
    log.write(b"1\n")
    log.flush()
    log.write(b"2\n")
    log.flush()
    assert (root / "metrics.jsonl").read_bytes() == b"1\n2\n"  # visible after each flush
    log.close()
    again = storage.AppendFile(root / "metrics.jsonl")
    again.write(b"3\n")
    again.close()
    assert (root / "metrics.jsonl").read_bytes() == b"1\n2\n3\n"
    storage.AppendFile(root / "metrics.jsonl", keep=b"1\n").close()
    assert (root / "metrics.jsonl").read_bytes() == b"1\n"


def test_byte_ranges_and_file_keys(root):
    data = np.arange(100_000, dtype=np.int32).tobytes()
    storage.write_bytes(root / "part.tokens", data)
    starts, ends = [0, 4000, 399_996], [8, 4100, 400_000]
    got = storage.read_ranges(root / "part.tokens", starts, ends)
    assert got == [data[s:e] for s, e in zip(starts, ends)]
    key = storage.fs_info(root / "part.tokens")
    assert key["size"] == len(data) and key["mtime_ns"] > 0


def test_atomic_directory_keeps_the_old_one_until_asked(root):
    target = root / "model"
    with storage.atomic_directory(target, "config.json") as d:
        storage.write_text(d / "weights", "v1")
        storage.write_text(d / "config.json", "{}")
    with pytest.raises(FileExistsError, match="--overwrite"):
        with storage.atomic_directory(target, "config.json"):
            pass
    with (
        pytest.raises(RuntimeError),
        storage.atomic_directory(target, "config.json", overwrite=True),
    ):
        raise RuntimeError("export failed")
    if storage.is_remote(root):  # no rename on object stores: a failed overwrite leaves nothing
        assert not (target / "config.json").exists()
    else:
        assert (target / "weights").read_text() == "v1"
    with storage.atomic_directory(target, "config.json", overwrite=True) as d:
        storage.write_text(d / "weights", "v2")
        storage.write_text(d / "config.json", "{}")
    assert (target / "weights").read_text() == "v2"


def test_paths_are_checked_and_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert os.fspath(storage.as_path("~/run")) == str(tmp_path / "run")
    with pytest.raises(ValueError, match="MODEL_DIR is empty"):
        storage.as_path(" ", "MODEL_DIR")
    assert os.fspath(storage.as_path("gs://bucket/a/b")) == "gs://bucket/a/b"


def test_emulator_endpoint_reaches_tensorstore():
    env = {"STORAGE_EMULATOR_HOST": "127.0.0.1:9023"}
    storage.configure_environment(env)
    assert env["TENSORSTORE_GCS_HTTP_URL"] == "http://127.0.0.1:9023"
    assert env["EPATH_USE_TF"] == "false"
    real = {}
    storage.configure_environment(real)  # real GCS: nothing points elsewhere
    assert "TENSORSTORE_GCS_HTTP_URL" not in real


def _xlmr(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xlmr_jax.cli", *argv], capture_output=True, text=True, timeout=300
    )


def test_missing_bucket_and_object_are_one_error_line(gcs):
    missing_bucket = _xlmr("fill-mask", "--checkpoint", "gs://no-such-bucket/model", "a <mask>")
    missing_object = _xlmr(
        "score", "--benchmark", "xnli", "--gold", gcs.url("absent", "dev.tsv"),
        "--predictions", gcs.url("absent", "preds.jsonl"),
    )  # fmt: skip
    for proc, url in (
        (missing_bucket, "gs://no-such-bucket/model"),
        (missing_object, gcs.url("absent")),
    ):
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert "error:" in last and url in last, proc.stderr
    assert "bucket gs://no-such-bucket does not exist" in missing_bucket.stderr


def test_gin_files_and_includes_from_a_bucket(gcs):
    import gin

    from xlmr_jax import gin_utils

    storage.write_text(gcs.url("gin", "base.gin"), "include 'models/tiny.gin'\nPEAK_LR = 1e-4\n")
    storage.write_text(gcs.url("gin", "exp.gin"), "include 'base.gin'\nPEAK_LR = 3e-4\n")
    gin_utils.parse([gcs.url("gin", "exp.gin")], ["MODEL_DIR = 'x'"], [gcs.url("gin")])
    assert gin.query_parameter("%PEAK_LR") == 3e-4
    assert gin.query_parameter("ModelConfig.num_layers") == 2  # from the package's models/
