"""One job per run directory: an exclusive lock on MODEL_DIR that ends with its holder.

Local (and NFS) directories: `flock` on `MODEL_DIR/.xlmr.lock`, released by the kernel when
the process dies. Object stores have no locks: the lock is an object created only if absent
(GCS `ifGenerationMatch=0`) and renewed every RENEW_SECONDS; one not renewed for LEASE_SECONDS,
or whose process on this host is gone, is taken over with a warning. Process 0 takes the lock for the whole job
and every process learns the outcome, so a refused multi-host job stops on all hosts.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

from xlmr_jax import storage

log = logging.getLogger(__name__)

LOCK_FILE = ".xlmr.lock"
RENEW_SECONDS = 60
LEASE_SECONDS = 300


class RunDirInUse(OSError):
    """Another job holds this run directory."""


class RunLock:
    """This job's hold on MODEL_DIR: `with RunLock(model_dir): ...` (or `release()`)."""

    def __init__(self, model_dir: storage.PathLike):
        """Takes MODEL_DIR; raises RunDirInUse at once if another job holds it."""
        model_dir = storage.as_path(model_dir, "MODEL_DIR")
        self._lock, refused = None, None
        if jax.process_index() == 0:
            model_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._lock = (_Lease if storage.is_remote(model_dir) else _Flock)(model_dir)
            except RunDirInUse as e:
                refused = e
        if jax.process_count() > 1:
            anyone = multihost_utils.process_allgather(np.array(refused is not None)).any()
            if anyone and not refused:
                refused = RunDirInUse(f"{model_dir} is in use by another job (see process 0).")
        if refused:
            raise refused

    def release(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder() -> bytes:
    return json.dumps(
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:2]]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }
    ).encode()


def _in_use(model_dir: storage.Path, holder: bytes) -> RunDirInUse:
    try:
        h = json.loads(holder)
        who = f"pid {h['pid']} on {h['host']} ({h['command']}, since {h['since']})"
    except (ValueError, KeyError, TypeError):
        who = "another job"
    return RunDirInUse(
        f"{model_dir} is in use by {who}; wait for it to end, stop it, or choose another "
        "MODEL_DIR (one job per run directory)."
    )


def _ended_here(holder: bytes) -> bool:
    """Whether the holder ran on this host and its process is gone (e.g. it died while the
    store was unreachable and could not delete its lease)."""
    try:
        h = json.loads(holder)
        if h["host"] != socket.gethostname():
            return False
        os.kill(int(h["pid"]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, KeyError, TypeError, PermissionError):
        return False
    return False


class _Flock:
    def __init__(self, model_dir: storage.Path):
        self._fd = os.open(model_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 4096, 0)
            os.close(self._fd)
            raise _in_use(model_dir, holder) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, _holder(), 0)

    def release(self) -> None:
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor releases the flock


class _Lease:
    def __init__(self, model_dir: storage.Path):
        self._path, self._holder = model_dir / LOCK_FILE, _holder()
        if not storage.create_exclusive(self._path, self._holder):
            holder = storage.read_bytes(self._path)
            age = time.time() - storage.fs_info(self._path)["mtime_ns"] / 1e9
            if age < LEASE_SECONDS and not _ended_here(holder):
                raise _in_use(model_dir, holder)
            log.warning(
                "Taking over %s: its job has ended (not renewed for %.0f s, or its process on "
                "this host is gone).",
                self._path,
                age,
            )
            self._path.unlink(missing_ok=True)
            if not storage.create_exclusive(self._path, self._holder):
                raise _in_use(model_dir, storage.read_bytes(self._path))
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True, name="xlmr-lease")
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            try:
                storage.write_bytes(self._path, self._holder)
            except OSError as e:  # the next renewal may succeed; a lapse is only logged
                log.warning("Could not renew %s: %s", self._path, e)

    def release(self) -> None:
        self._stop.set()
        self._renewer.join()
        try:
            self._path.unlink(missing_ok=True)
        except OSError as e:  # the store is unreachable: the lease lapses on its own
            log.warning(
                "Could not remove %s (%s); another job can take it over after %d s.",
                self._path,
                e,
                LEASE_SECONDS,
            )
