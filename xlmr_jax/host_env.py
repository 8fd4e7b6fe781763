"""Process settings: TensorFlow kept off the accelerators, and glibc malloc on transparent huge
pages for `xlmr` processes (a large CPU speed-up).

TensorFlow runs only the input pipelines (tf.data under seqio/tfds). On a GPU host it would
otherwise take most of every GPU's memory at its first op, memory JAX needs; T5X and MaxText
hide the accelerators from it the same way, before any tf.data work.

XLA:CPU allocates an executable's temporaries afresh on every call, and glibc serves large
blocks with fresh mmaps, so every train step page-faults (and the kernel zeroes) gigabytes in
4 KiB pages: ~630K faults and ~1 s of kernel CPU time per step of the base model at seq 128.
The glibc tunable `glibc.malloc.hugetlb=1` makes malloc ask for transparent huge pages (2 MiB),
which cuts the faults ~100x (docs/benchmarks.md). Tunables are read when a process starts, so
the `xlmr` console command re-executes itself once with the tunable set; XLMR_NO_HUGEPAGES=1
turns this off.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from pathlib import Path

TUNABLE = "glibc.malloc.hugetlb=1"
_THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def with_malloc_hugepages(env: dict[str, str]) -> dict[str, str]:
    """`env` with the huge-page tunable added to GLIBC_TUNABLES (kept if already chosen)."""
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return dict(env)
    return {**env, "GLIBC_TUNABLES": ":".join(filter(None, [tunables, TUNABLE]))}


def malloc_hugepages_available() -> bool:
    """Linux with glibc and transparent huge pages not set to `never`."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return "[never]" not in _THP_SETTING.read_text()
    except OSError:
        return False


def reexec_with_malloc_hugepages(module: str, argv: list[str]) -> None:
    """Replace this process by `python -m module argv` with the tunable, once, if it helps."""
    if os.environ.get("XLMR_NO_HUGEPAGES") or not malloc_hugepages_available():
        return
    env = with_malloc_hugepages(dict(os.environ))
    if env.get("GLIBC_TUNABLES") == os.environ.get("GLIBC_TUNABLES"):
        return  # already set: this is the re-executed process (or the user chose)
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def hide_accelerators_from_tensorflow() -> None:
    """Make TensorFlow see only the CPU (idempotent; call before any tf.data work)."""
    import tensorflow as tf

    hidden = [d for d in tf.config.get_visible_devices() if d.device_type != "CPU"]
    if not hidden:
        return
    try:
        tf.config.set_visible_devices(tf.config.list_physical_devices("CPU"))
    except RuntimeError:  # TensorFlow already ran an op with the accelerators visible
        logging.getLogger(__name__).warning(
            "TensorFlow was initialised before xlmr_jax could hide %s from it: it may hold "
            "accelerator memory. Call xlmr_jax.host_env.hide_accelerators_from_tensorflow() "
            "before any TensorFlow op.",
            [d.name for d in hidden],
        )
