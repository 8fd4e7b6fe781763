"""Checks of a parsed gin configuration before anything runs (issue 13).

A value left at `%gin.REQUIRED`, a `%MACRO` that is never defined, a value of the wrong type
for its parameter's annotation (int, float, bool, str, `X | None`) and a value outside the range
`RANGES` gives its binding are each one ValueError naming the binding (and the macro it comes
from). gin offers no public way to list its bindings, so they are read from `gin.config._CONFIG`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from gin import config as gin_config

from xlmr_jax import validation


def _path(binding: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{binding} = {value!r}: expected a non-empty path or gs:// URL.")


def _at_least(minimum: int, optional: bool = False) -> Callable[[str, Any], None]:
    return functools.partial(validation.at_least, minimum=minimum, optional=optional)


# "configurable.parameter" -> check(binding, value); the dataclass configs check themselves.
RANGES: dict[str, Callable[[str, Any], None]] = {
    "train.model_dir": _path,
    "train.total_steps": _at_least(1),
    "train.batch_size": _at_least(1),
    "train.microbatches": _at_least(1),
    "train.log_every": _at_least(1),
    "train.eval_every": _at_least(0),  # 0: no validation
    "train.eval_batches": _at_least(1),
    "train.stop_after": _at_least(1, optional=True),
    "train.init_checkpoint": _path,
    "finetune.model_dir": _path,
    "finetune.init_checkpoint": _path,
    "mlm_inputs.vocabulary": _path,
    "PretrainPipeline.global_batch_size": _at_least(1),
    "PretrainPipeline.prefetch": _at_least(0),
    "learning_rate_schedule.total_steps": _at_least(1),
    "learning_rate_schedule.warmup_steps": _at_least(0),
    "learning_rate_schedule.peak_learning_rate": validation.non_negative,
    "make_optimizer.b1": validation.probability,
    "make_optimizer.b2": validation.probability,
    "register_cc100.data_dir": _path,
    "register_cc100.alpha": validation.probability,
    "register_cc100.tokens_per_sample": _at_least(3),  # <s> ... </s> around one token
}


def check(require: bool = True) -> None:
    """Raise ValueError for the first binding that is undefined, mistyped, out of range or (with
    `require`) left at %gin.REQUIRED."""
    for (scope, selector), params in list(gin_config._CONFIG.items()):
        is_macro = selector == "gin.macro"
        for param, raw in params.items():
            binding = scope if is_macro else _binding(scope, selector, param)
            value, via = _resolve(raw, binding)
            if value is gin_config.REQUIRED and require:
                name = via[-1] if via else binding
                raise ValueError(f"{name} is required: set it with --gin.{name}=VALUE.")
            if is_macro or value is gin_config.REQUIRED:
                continue
            named = f"{binding} (from {' <- '.join(via)})" if via else binding
            _check_value(named, selector, param, value)


def _binding(scope: str, selector: str, param: str) -> str:
    short = selector.rsplit(".", 1)[-1]
    return f"{scope}/{short}.{param}" if scope else f"{short}.{param}"


def _resolve(value: Any, binding: str) -> tuple[Any, list[str]]:
    """The literal a value stands for, following macros, and the macro names on the way."""
    via: list[str] = []
    while isinstance(value, gin_config.ConfigurableReference) and value.evaluate:
        wrapped = value.configurable.wrapped
        if wrapped is gin_config._retrieve_constant:
            return value.scoped_configurable_fn(), via
        if wrapped is not gin_config.macro:
            return value, via
        name = "/".join(value.scopes)
        if (name, "gin.macro") not in gin_config._CONFIG:
            raise ValueError(f"{binding}: macro %{name} is not defined in the gin files.")
        via.append(name)
        value = gin_config._CONFIG[(name, "gin.macro")]["value"]
    return value, via


def _check_value(binding: str, selector: str, param: str, value: Any) -> None:
    if isinstance(value, gin_config.ConfigurableReference):
        return
    annotation = _annotations(selector).get(param)
    if annotation is not None:
        validation.check_type(binding, value, annotation)
    check = RANGES.get(selector.rsplit(".", 1)[-1] + "." + param)
    if check is not None:
        check(binding, value)


@functools.cache
def _annotations(selector: str) -> dict[str, Any]:
    """Parameter annotations of a registered configurable (a dataclass: its fields)."""
    configurable = gin_config._REGISTRY.get_match(selector)
    if configurable is None:
        return {}
    fn = configurable.wrapped
    if dataclasses.is_dataclass(fn):
        return typing.get_type_hints(fn)
    target = fn.__init__ if inspect.isclass(fn) else fn
    hints = typing.get_type_hints(target)
    return {k: v for k, v in hints.items() if k in inspect.signature(target).parameters}
