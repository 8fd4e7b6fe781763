"""Parameter trees as {"/"-joined path: shape}, and how two of them differ (one checker for
model checkpoints, train-state checkpoints and imports)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

Shape = tuple[int, ...]


def path_shapes(tree: Any) -> dict[str, Shape | None]:
    """Every leaf with a `.shape` (arrays, abstract arrays, orbax metadata) by its path."""
    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))[0]
    return {
        "/".join(str(_key(k)) for k in path): (
            None if getattr(leaf, "shape", None) is None else tuple(leaf.shape)
        )
        for path, leaf in leaves
    }


def _key(entry) -> Any:
    """The name in a path entry: attribute (dataclass), key (dict) or index (sequence)."""
    return getattr(entry, "name", getattr(entry, "key", getattr(entry, "idx", entry)))


@dataclasses.dataclass(frozen=True)
class ShapeDiff:
    """Paths `expected` has and `found` lacks, the reverse, and (path, expected, found)."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, Shape, Shape]]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)


def compare(expected: dict[str, Shape | None], found: dict[str, Shape | None]) -> ShapeDiff:
    """What differs; a shape of None (unknown) matches any shape."""
    common = sorted(set(expected) & set(found))
    return ShapeDiff(
        missing=sorted(set(expected) - set(found)),
        unexpected=sorted(set(found) - set(expected)),
        mismatched=[
            (k, expected[k], found[k])
            for k in common
            if None not in (expected[k], found[k]) and expected[k] != found[k]
        ],
    )
