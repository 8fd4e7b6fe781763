"""`xlmr model-info --model NAME [--json]`: parameter counts of a preset."""

from __future__ import annotations

import argparse
import json

from xlmr_jax.config import PRESETS, parameter_counts, preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=sorted(PRESETS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    cfg = preset(args.model)
    counts = parameter_counts(cfg)
    if args.json:
        print(json.dumps({"model": args.model, **counts, "config": cfg.to_dict()}))
        return 0
    print(
        f"{args.model}: L{cfg.num_layers} H{cfg.hidden_size} A{cfg.num_heads} FFN{cfg.mlp_dim} "
        f"vocab rows {cfg.vocab_size}, {'pre' if cfg.pre_layer_norm else 'post'}-LayerNorm"
    )
    for key in ("embeddings", "encoder", "lm_head", "total"):
        print(f"  {key:<11} {counts[key]:>15,d}  ({counts[key] / 1e6:,.2f}M)")
    return 0
