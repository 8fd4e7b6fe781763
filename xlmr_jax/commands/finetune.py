"""`xlmr finetune --gin_file=finetune/<setting>.gin --gin.INIT_CHECKPOINT="'DIR'" --gin.MODEL_DIR="'DIR'"`.

Fine-tunes (one model, or one per language), selects on dev, evaluates and prints the papers'
table; MODEL_DIR holds the results, predictions and the selected checkpoints. `--seeds N` runs
it N times (MODEL_DIR/seed_<s>/) and reports the mean and standard deviation per language
(`xlmr_jax.finetuning.seeds`). Several processes (jax.distributed: --coordinator_address,
--num_processes, --process_id, or a TPU pod / SLURM) run one fine-tuning together.
"""

from __future__ import annotations

import argparse

from xlmr_jax import exit_codes, gin_utils
from xlmr_jax.training import distributed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    gin_utils.add_gin_arguments(parser)
    parser.add_argument(
        "--seeds", type=int, help="run N seeds from Recipe.seed on; report mean and std"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in MODEL_DIR (finetune.overwrite); otherwise it is refused",
    )
    distributed.add_arguments(parser)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    distributed.initialize(parser.parse_args(gin_utils.split_gin_bindings(argv)[0]))
    args = gin_utils.parse_setting(parser, argv)
    if args.overwrite:
        import gin

        with gin.unlock_config():
            gin.bind_parameter("finetune.overwrite", True)
    if args.seeds is not None:
        from xlmr_jax.finetuning.seeds import finetune_seeds

        seeds = finetune_seeds(args.seeds)
        if seeds.preempted:
            return _preempted(seeds.model_dir)
        print(seeds.table)
        print(
            f"results: {seeds.model_dir / 'results.json'} (mean), {seeds.model_dir / 'seeds.json'}"
        )
        return 0
    from xlmr_jax.finetuning.loop import finetune

    result = finetune()
    if result.preempted:
        return _preempted(result.model_dir)
    print(result.table)
    print(f"results: {result.model_dir / 'results.json'}")
    return 0


def _preempted(model_dir) -> int:
    print(f"preempted: checkpoint saved in {model_dir}; run again to continue")
    return exit_codes.PREEMPTED
