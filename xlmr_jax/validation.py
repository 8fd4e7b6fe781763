"""Checks of configuration values where they enter: one ValueError naming the gin binding, the
value and what is accepted (issue 13). Used by the gin-configurable dataclasses and by
`gin_checks` for the bindings of configurable functions."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any

_NUMBER_TYPES = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}


def check_field_types(instance: Any) -> None:
    """Every field of a dataclass holds its annotated type (int, float, bool, str, or
    `X | None` of those); other annotations are not checked."""
    hints = typing.get_type_hints(type(instance))
    name = type(instance).__name__
    for field in dataclasses.fields(instance):
        check_type(f"{name}.{field.name}", getattr(instance, field.name), hints[field.name])


def check_type(binding: str, value: Any, annotation: Any) -> None:
    """`value` has the simple type `annotation` (ints pass as floats, bools never as numbers)."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = typing.get_args(annotation)
        optional = type(None) in args
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return
        annotation = rest[0]
    if annotation not in _NUMBER_TYPES or (optional and value is None):
        return
    accepted = {int: numbers.Integral, float: numbers.Real}.get(annotation, annotation)
    ok = isinstance(value, accepted) and (annotation is bool or not isinstance(value, bool))
    if not ok:
        expected = _NUMBER_TYPES[annotation] + (" or None" if optional else "")
        raise ValueError(f"{binding} = {value!r}: expected {expected}.")


def at_least(binding: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    """An integer >= minimum (or None when `optional`)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        none = " or None" if optional else ""
        raise ValueError(f"{binding} = {value!r}: expected an integer >= {minimum}{none}.")


def probability(binding: str, value: Any) -> None:
    """A number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{binding} = {value!r}: expected a probability in [0, 1].")


def non_negative(binding: str, value: Any) -> None:
    """A number >= 0 (a learning rate of 0 keeps the weights: tests of initialisation use it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{binding} = {value!r}: expected a number >= 0.")
