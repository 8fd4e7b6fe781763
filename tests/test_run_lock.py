"""One job per run directory: the lock on local disk (flock) and in a bucket (a lease object)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from xlmr_jax import storage
from xlmr_jax.training import run_lock
from xlmr_jax.training.run_lock import LOCK_FILE, RunDirInUse, RunLock


def test_a_local_directory_is_held_by_one_lock_at_a_time(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunDirInUse, match=f"in use by pid {os.getpid()} on "):
            RunLock(tmp_path / "run")
    RunLock(tmp_path / "run").release()  # released with the first


def test_a_bucket_directory_is_held_by_one_lease_at_a_time(gcs, caplog, monkeypatch):
    root = gcs.url("locks", "run")
    first = RunLock(root)
    holder = json.loads(storage.read_bytes(f"{root}/{LOCK_FILE}"))
    assert holder["pid"] == os.getpid()
    with pytest.raises(RunDirInUse, match=f"in use by pid {os.getpid()} on "):
        RunLock(root)
    first.release()
    assert not storage.as_path(f"{root}/{LOCK_FILE}").exists()

    # A job that died holding the lease: once it is not renewed for LEASE_SECONDS, taken over.
    dead = {"pid": 1, "host": "gone", "command": "xlmr train", "since": "2026-11-29 00:00:00 UTC"}
    storage.write_bytes(f"{root}/{LOCK_FILE}", json.dumps(dead).encode())
    with pytest.raises(RunDirInUse, match="in use by pid 1 on gone"):
        RunLock(root)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    here = {**dead, "pid": int(ended.stdout), "host": socket.gethostname()}
    storage.write_bytes(f"{root}/{LOCK_FILE}", json.dumps(here).encode())
    with caplog.at_level(logging.WARNING), RunLock(root):  # its process here is gone: at once
        assert "Taking over" in caplog.text
    storage.write_bytes(f"{root}/{LOCK_FILE}", json.dumps(dead).encode())
    caplog.clear()
    monkeypatch.setattr(run_lock, "LEASE_SECONDS", 0)
    with caplog.at_level(logging.WARNING), RunLock(root):
        assert "Taking over" in caplog.text
        assert json.loads(storage.read_bytes(f"{root}/{LOCK_FILE}"))["pid"] == os.getpid()
