"""SHA-256 checksums of parameter arrays, written with model checkpoints and exports and verified
on load, so damaged weights fail with the file named instead of giving NaNs (issue 13)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
from flax import traverse_util


def flat_arrays(params: Mapping) -> dict[str, np.ndarray]:
    """ "/"-joined path -> array of a nested parameter tree (a flat dict is returned as it is)."""
    if all(not isinstance(v, Mapping) for v in params.values()):
        return dict(params)
    return traverse_util.flatten_dict(dict(params), sep="/")


def array_checksum(array) -> str:
    """SHA-256 of an array's dtype, shape and C-order bytes."""
    array = np.ascontiguousarray(np.asarray(array))
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def checksums(params: Mapping) -> dict[str, str]:
    """Path -> checksum of every array of `params` (nested tree or flat dict)."""
    return {key: array_checksum(value) for key, value in sorted(flat_arrays(params).items())}


def verify(params: Mapping, expected: Mapping[str, str], where: object) -> None:
    """Raise ValueError naming `where` and the first arrays whose bytes differ from `expected`."""
    found = checksums(params)
    damaged = sorted(k for k in expected if found.get(k) != expected[k])
    if damaged:
        more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        raise ValueError(
            f"{where}: checksum mismatch in {', '.join(damaged[:3])}{more}: the file is damaged; "
            "copy, import or export it again."
        )
