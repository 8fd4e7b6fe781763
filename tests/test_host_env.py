"""`xlmr` re-executes itself with glibc malloc on transparent huge pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xlmr_jax import host_env


def test_tunable_is_added_once_and_user_choice_kept():
    assert host_env.with_malloc_hugepages({})["GLIBC_TUNABLES"] == host_env.TUNABLE
    env = host_env.with_malloc_hugepages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{host_env.TUNABLE}"
    chosen = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert host_env.with_malloc_hugepages(chosen) == chosen


@pytest.mark.skipif(not host_env.malloc_hugepages_available(), reason="needs glibc and THP")
@pytest.mark.parametrize("opt_out", [False, True])
def test_reexec_sets_the_tunable(tmp_path, opt_out):
    (tmp_path / "show_env.py").write_text(
        "import os, sys\nprint(os.environ.get('GLIBC_TUNABLES'), sys.argv[1:])\n"
    )
    code = (
        "import sys; from xlmr_jax import host_env; "
        "host_env.reexec_with_malloc_hugepages('show_env', ['a', '--b=1']); print('not re-executed')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "XLMR_NO_HUGEPAGES")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    if opt_out:
        env["XLMR_NO_HUGEPAGES"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    expected = "not re-executed" if opt_out else f"{host_env.TUNABLE} ['a', '--b=1']"
    assert out.strip() == expected
