"""Console hygiene for `xlmr`: our INFO lines, libraries' only when asked, TensorFlow started quietly,
progress bars that suit a terminal and a job's log file alike.

TensorFlow (seqio's and tfds' input pipelines only) prints oneDNN, CPU-feature and CUDA-probe lines
from C++ before its logging is initialised, which no environment variable silences in 2.21; it is
imported once here with the process's stderr parked, and kept off accelerators (JAX owns them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import tempfile

import tqdm

from xlmr_jax import host_env

# A bar in a log file (stderr not a terminal) is a line this often at most, in seconds.
LOG_FILE_PROGRESS_SECONDS = 30
# Python loggers of libraries that log progress at INFO (orbax and etils log through absl).
LIBRARY_LOGGERS = ("absl", "jax", "orbax", "tensorflow", "transformers")
# Benign warnings of orbax that every read of a CheckpointManager step prints.
_BENIGN = ("Metadata file does not exist",)


class _DropBenign(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_BENIGN)


_DROP_BENIGN = _DropBenign()


def configure(verbosity: int = 0) -> None:
    """0: our INFO, libraries' WARNING; 1: every library's INFO too; 2: DEBUG everywhere."""
    level = logging.INFO if verbosity < 2 else logging.DEBUG
    library_level = logging.WARNING if verbosity == 0 else level
    logging.basicConfig(
        level=library_level, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    logging.getLogger("xlmr_jax").setLevel(level)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(library_level)
        if verbosity == 0:
            logger.addFilter(_DROP_BENIGN)
    # gcsfs logs every request that ran out of retries with a traceback at ERROR; the failure
    # itself reaches the user as the command's one `error:` line.
    logging.getLogger("gcsfs").setLevel(logging.CRITICAL if verbosity == 0 else level)
    try:  # absl's own threshold (absl.logging.info goes to the "absl" logger only past it)
        from absl import logging as absl_logging

        absl_logging.set_verbosity("warning" if verbosity == 0 else "info")
    except ImportError:
        pass


@contextlib.contextmanager
def _stderr_parked(replay_on_error: bool = True):
    """Send file descriptor 2 to a temporary file; replay it if the block raises (unless told
    not to)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if replay_on_error:
                parked.seek(0)
                sys.stderr.write(parked.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def probe_tpu_quietly(verbosity: int = 0) -> None:
    """Let JAX's TPU probe run with stderr parked (shown with verbosity >= 1).

    libtpu (the `tpu` extra, which `xlmr plan` compiles with) prints topology and worker-address
    warnings from C++ whenever JAX looks for a TPU, also on machines without one. A failed probe
    still reaches JAX's log as "Unable to initialize backend 'tpu': ...".
    """
    if verbosity:
        return
    from jax._src import xla_bridge  # no public hook; left alone if its shape changes

    registration = getattr(xla_bridge, "_backend_factories", {}).get("tpu")
    if registration is None or not dataclasses.is_dataclass(registration):
        return
    probe = registration.factory

    def quiet_probe(*args, **kwargs):
        with _stderr_parked(replay_on_error=False):
            return probe(*args, **kwargs)

    xla_bridge._backend_factories["tpu"] = dataclasses.replace(registration, factory=quiet_probe)


def import_tensorflow_quietly(verbosity: int = 0) -> None:
    """Import TensorFlow without its start-up lines (shown with verbosity >= 1); hide GPUs/TPUs
    from it so that it never takes accelerator memory from JAX."""
    if "tensorflow" in sys.modules:
        return
    with contextlib.nullcontext() if verbosity else _stderr_parked():
        import tensorflow  # noqa: F401

        host_env.hide_accelerators_from_tensorflow()


class _Lines:
    """tqdm's output as whole lines: each carriage-return redraw becomes its own line and a
    cleared bar (blanks) none, so a job's log holds readable lines, not one endless line."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> None:
        for part in text.split("\r"):
            if part.strip():
                self._stream.write(part.rstrip() + "\n")

    def flush(self) -> None:
        self._stream.flush()


def progress(iterable=None, **kwargs) -> tqdm.tqdm:
    """A tqdm progress bar on stderr. When stderr is not a terminal (a job's log file), the bar
    is written as a line at its start, every LOG_FILE_PROGRESS_SECONDS and (unless
    `leave=False`) at its end."""
    if not sys.stderr.isatty():
        kwargs = {
            "file": _Lines(sys.stderr),
            "mininterval": LOG_FILE_PROGRESS_SECONDS,
            "ncols": 100,
            **kwargs,
            "dynamic_ncols": False,
        }
    return tqdm.tqdm(iterable, **kwargs)
