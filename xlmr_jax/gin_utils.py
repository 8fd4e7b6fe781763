"""Gin flags in T5X's conventions: repeatable --gin_file, --gin.NAME=VALUE (or T5X's
--gin_bindings='NAME = VALUE'), --gin_search_path (or T5X's comma-separated --gin_search_paths),
and the package's gin/ folder on the search path."""

from __future__ import annotations

import argparse
import importlib
import importlib.resources
import io
import logging
import os
import tokenize
from pathlib import Path

import gin

from xlmr_jax import gin_checks, storage

# Modules whose configurables gin files may name.
CONFIGURABLE_MODULES = (
    "xlmr_jax.config",
    "xlmr_jax.sharding",
    "xlmr_jax.training.optimizer",
    "xlmr_jax.training.train_checkpoints",
    "xlmr_jax.training.loop",
    "xlmr_jax.training.mlm_data",
    "xlmr_jax.data.masking",
    "xlmr_jax.tasks.pretrain",
    "xlmr_jax.task_locations",
)


def package_gin_dir() -> Path:
    """The shipped gin/ folder (the checkout's gin/ in a development install)."""
    return Path(str(importlib.resources.files("xlmr_jax") / "gin_files"))


def add_gin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gin_file",
        action="append",
        default=[],
        help="gin file (repeatable); relative paths also resolve against the package's gin/",
    )
    parser.add_argument(
        "--gin_search_path", action="append", default=[], help="extra folder for gin includes"
    )
    parser.add_argument(
        "--gin_bindings",
        action="append",
        default=[],
        help="T5X's flag: a binding 'NAME = VALUE' (repeatable), like --gin.NAME=VALUE",
    )
    parser.add_argument(
        "--gin_search_paths",
        action="append",
        default=[],
        help="T5X's flag: comma-separated folders for gin includes",
    )


def parse_args(args: argparse.Namespace, bindings: list[str], *, require: bool = True) -> None:
    """`parse` with the gin flags of `add_gin_arguments` (T5X's spellings included)."""
    search_paths = [*args.gin_search_path]
    for paths in args.gin_search_paths:
        search_paths += [p for p in paths.split(",") if p]
    parse(args.gin_file, [*args.gin_bindings, *bindings], search_paths, require=require)


def split_gin_bindings(argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv without --gin.X=Y flags, ['X = Y', ...])."""
    rest, bindings = [], []
    for arg in argv:
        if arg.startswith("--gin."):
            name, sep, value = arg[len("--gin.") :].partition("=")
            if not sep:
                raise ValueError(f"{arg!r}: gin bindings are written --gin.NAME=VALUE")
            bindings.append(f"{name} = {value}")
        else:
            rest.append(arg)
    return rest, bindings


def parse(
    gin_files: list[str],
    bindings: list[str],
    search_paths: list[str] = (),
    *,
    require: bool = True,
) -> None:
    """Register configurables, parse files and bindings, then check the values (`gin_checks`);
    every error is one ValueError naming the file or binding. `require=False` accepts values
    left at %gin.REQUIRED (for a caller that calls only part of what the files configure)."""
    if not gin_files:
        raise ValueError("no --gin_file given: pass a run configuration, e.g. --gin_file=FILE.gin")
    for module in CONFIGURABLE_MODULES:
        importlib.import_module(module)
    gin.clear_config()
    # gin's own first prefix is "": a name as given (relative to the working directory, a URL).
    for path in [*search_paths, str(package_gin_dir())]:
        gin.add_config_file_search_path(path)
    resolved = [_resolve(name, search_paths) for name in gin_files]
    try:
        gin.parse_config_files_and_bindings(resolved, bindings, finalize_config=False)
    except SyntaxError as e:
        where = f"{e.filename}:{e.lineno}" if e.filename else f"--gin binding {e.text!r}"
        raise ValueError(f"invalid gin configuration: {where}: {e.msg}") from None
    except tokenize.TokenError as e:  # an unclosed bracket: gin does not say where
        raise ValueError(f"invalid gin configuration: {_unclosed(resolved, bindings)}") from e
    except (OSError, ValueError) as e:
        raise ValueError(f"invalid gin configuration: {e}") from None
    gin_checks.check(require=require)


def _unclosed(files: list[str], bindings: list[str]) -> str:
    """Which file (or binding) leaves a bracket or string open at its end."""
    sources = [(f, storage.as_path(f).read_text()) for f in files]
    sources += [(f"--gin binding {b!r}", b) for b in bindings]
    for name, text in sources:
        try:
            list(tokenize.generate_tokens(io.StringIO(text).readline))
        except tokenize.TokenError as e:
            return f"{name}:{e.args[1][0]}: {e.args[0]}"
    return "a bracket or string is not closed"


def parse_setting(
    parser: argparse.ArgumentParser,
    argv: list[str],
    extra_files: tuple[str, ...] = (),
    *,
    require: bool = True,
) -> argparse.Namespace:
    """The flags of a fine-tuning command (`xlmr finetune` / `xlmr eval`): requires a setting
    (--gin_file=finetune/<setting>.gin), parses the setting then `extra_files`."""
    argv, bindings = split_gin_bindings(argv)
    args = parser.parse_args(argv)
    if not args.gin_file:
        raise ValueError("give the setting with --gin_file=finetune/<setting>.gin")
    args.gin_file = [*args.gin_file, *extra_files]
    parse_args(args, bindings, require=require)
    return args


def _resolve(name: str, search_paths) -> str:
    candidates = [
        storage.as_path(name, "--gin_file"),
        *(storage.as_path(p) / name for p in search_paths if not storage.is_remote(name)),
        package_gin_dir() / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return os.fspath(candidate)
    raise FileNotFoundError(
        f"gin file {name!r} not found (looked in {', '.join(str(c.parent) for c in candidates)})."
    )


class _QuietGinSearch(logging.Filter):
    """gin logs an ERROR for every search path an include is not in; only a miss everywhere is."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Path not found")


logging.getLogger().addFilter(_QuietGinSearch())


def _is_remote_file(path: str) -> bool:
    return storage.is_remote(path) and storage.as_path(path).is_file()


# gin reads local files itself; gs:// files and includes from gs:// search paths come from here.
gin.config.register_file_reader(lambda path: storage.as_path(path).open("r"), _is_remote_file)
