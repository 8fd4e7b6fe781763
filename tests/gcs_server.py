"""A real GCS JSON-API server on 127.0.0.1 (gcp-storage-emulator), started and stopped by tests.

It stores objects on disk under its own folder, so a stopped server comes back with its data.
Clients reach it the way they would reach real GCS: through `STORAGE_EMULATOR_HOST`, which
xlmr_jax.storage also hands to tensorstore (orbax's array store).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BUCKET = "xlmr-test"


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
        self.root.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("gcp-storage-emulator", path=os.path.dirname(sys.executable))
        self._process = subprocess.Popen(
            [exe, "start", "--host=127.0.0.1", f"--port={self.port}", "--quiet"]
            + [f"--default-bucket={self.bucket}"],
            cwd=self.root,
            env={**os.environ, "STORAGE_BASE": str(self.root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
