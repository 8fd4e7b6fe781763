"""`xlmr` command line: one subcommand per module in `xlmr_jax.commands`, imported on use.

Expected failures (bad input, missing files) print one `error:` line and exit 2; set XLMR_DEBUG=1
for the traceback. `train` and `finetune` stopped by SIGTERM or Ctrl-C save a checkpoint and
exit 75 (EX_TEMPFAIL: requeue; the same command resumes); a second Ctrl-C exits 130 at once. `--verbosity N` (anywhere; as in T5X) shows libraries' logs: 0 (default) only
their warnings, 1 their INFO lines (orbax, absl, TensorFlow start-up), 2 DEBUG.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from xlmr_jax import __version__, exit_codes, host_env, logs

# name -> (module under xlmr_jax.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "model-info": ("model_info", "parameter counts of a model preset"),
    "import": ("import_checkpoint", "import HF or fairseq weights into an xlmr-jax checkpoint"),
    "export": (
        "export_checkpoint",
        "export a model or train checkpoint to HF transformers or a TF SavedModel",
    ),
    "fill-mask": ("fill_mask", "top-k fills for <mask> tokens in a text"),
    "extract-features": ("extract_features", "last hidden states and MLM logits to .npz"),
    "spm-train": ("spm_train", "train a SentencePiece unigram model on alpha-sampled text"),
    "data": ("data", "corpus statistics, the packed-block cache, a sample corpus"),
    "train": ("train", "pretrain with a gin configuration"),
    "finetune": ("finetune", "fine-tune on a benchmark with a gin configuration"),
    "eval": ("evaluate", "evaluate a fine-tuned checkpoint"),
    "score": ("score", "score a predictions file with the official metric"),
    "results": ("results", "collect run results into one table"),
    "retrieval": ("retrieval", "sentence retrieval accuracy of a checkpoint on aligned text"),
    "launch": (
        "launch",
        "start `xlmr train` on a TPU pod, SLURM, several hosts or local processes",
    ),
    "plan": ("plan", "ahead-of-time memory/FLOPs plan of a train step on a mesh"),
    "demo": ("demo", "train a tiny multilingual model on real text and fill masks"),
}


def _command_module(name: str):
    return importlib.import_module(f"xlmr_jax.commands.{COMMANDS[name][0]}")


def split_verbosity(argv: list[str]) -> tuple[list[str], int]:
    """(argv without `--verbosity N` / `--verbosity=N`, N or 0)."""
    rest, verbosity, i = [], 0, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--verbosity" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        elif arg.startswith("--verbosity="):
            value, i = arg.partition("=")[2], i + 1
        else:
            rest.append(arg)
            i += 1
            continue
        if not value.isdigit():
            print(f"xlmr: error: --verbosity takes 0, 1 or 2, got {value!r}", file=sys.stderr)
            raise SystemExit(2)
        verbosity = int(value)
    return rest, verbosity


def main(argv: list[str] | None = None) -> int:
    argv, verbosity = split_verbosity(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="xlmr", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xlmr-jax {__version__}")
    parser.add_argument("--verbosity", type=int, default=0, help="0, 1 or 2 (see above)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help", "--version"):
        parser.parse_args(argv[:1])
        parser.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        parser.error(f"unknown command {name!r}; choose one of {', '.join(COMMANDS)}")
    logs.configure(verbosity)
    logs.import_tensorflow_quietly(verbosity)
    logs.probe_tpu_quietly(verbosity)
    try:
        module = _command_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("xlmr_jax.commands"):
            parser.error(f"command {name!r} is not available in this version")
        raise
    command_parser = argparse.ArgumentParser(prog=f"xlmr {name}", description=COMMANDS[name][1])
    module.add_arguments(command_parser)
    try:
        return int(module.run(command_parser, rest) or 0)
    except (ValueError, OSError, FloatingPointError, RuntimeError) as e:
        if os.environ.get("XLMR_DEBUG") or not _expected(e):
            raise
        print(f"xlmr {name}: error: {one_line(e)}", file=sys.stderr)
        return exit_codes.ERROR
    except KeyboardInterrupt:  # Ctrl-C outside a step loop (which saves instead)
        if os.environ.get("XLMR_DEBUG"):
            raise
        print(f"xlmr {name}: interrupted (Ctrl-C); nothing was saved", file=sys.stderr)
        return exit_codes.INTERRUPTED


def _expected(error: BaseException) -> bool:
    """Bad input or a failing store; of RuntimeErrors only gin's unbound required values."""
    return not isinstance(error, RuntimeError) or str(error).startswith("Required bindings for")


def one_line(error: BaseException) -> str:
    """The error's message without gin's "In call to configurable" note, on one line."""
    message = str(error).split("\n  In call to configurable")[0]
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def exit_process(code: int) -> NoReturn:
    """End the process with `code`. After an error line (2) or an interrupt without interpreter
    teardown: a tf.data iterator destroyed there once left the process hanging after its error
    (issue 13)."""
    if code in (exit_codes.ERROR, exit_codes.INTERRUPTED):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def console_main() -> None:
    """The `xlmr` console script: `main` in a process with glibc malloc on huge pages."""
    host_env.reexec_with_malloc_hugepages("xlmr_jax.cli", sys.argv[1:])
    exit_process(main())


if __name__ == "__main__":
    exit_process(main())
