"""`xlmr retrieval --checkpoint CKPT --source FILE --target FILE [--layer L] [--json]`.

Sentence retrieval without fine-tuning (XTREME's Tatoeba/BUCC protocol for XLM-R): one sentence
per line, line i of --source aligned with line i of --target; mean-pooled hidden states of
layer L (default the last; 0 = embeddings), cosine nearest neighbour. Prints the accuracy in
percent, source -> target (and target -> source). Repeat --source/--target for several pairs:
each is reported and `accuracy` is their average.
"""

from __future__ import annotations

import argparse
import json

from xlmr_jax import storage
from xlmr_jax.commands.extract_features import vocabulary
from xlmr_jax.metrics.retrieval import retrieval_accuracy, sentence_vectors, truncated
from xlmr_jax.model_checkpoint import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="xlmr-jax checkpoint directory")
    parser.add_argument("--source", action="append", required=True, help="one sentence a line")
    parser.add_argument("--target", action="append", required=True, help="aligned with --source")
    parser.add_argument("--layer", type=int, help="hidden states after L layers (default: last)")
    parser.add_argument("--spm", help="SentencePiece model (default: the checkpoint's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def read_sentences(path: str) -> list[str]:
    """The lines of a UTF-8 text file (a final newline ends the last line); none may be empty."""
    text = storage.as_path(path, "--source/--target").read_text(encoding="utf-8")
    lines = text.removesuffix("\n").split("\n") if text else []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f"{path}:{number}: empty line (one sentence per line)")
    if not lines:
        raise ValueError(f"{path}: no sentences")
    return [line.removesuffix("\r") for line in lines]


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if len(args.source) != len(args.target):
        raise ValueError(f"{len(args.source)} --source but {len(args.target)} --target files")
    model = load_model(args.checkpoint)
    vocab = vocabulary(model, args.spm)
    module, params = truncated(model, args.layer)
    limit = model.config.max_tokens

    def vectors(lines):
        ids = [vocab.encode_single(line)[:limit] for line in lines]
        return sentence_vectors(module, params, ids)

    pairs = []
    for source_path, target_path in zip(args.source, args.target):
        source, target = read_sentences(source_path), read_sentences(target_path)
        if len(source) != len(target):
            raise ValueError(
                f"{source_path} has {len(source)} lines and {target_path} {len(target)}: line i "
                "of --source must be aligned with line i of --target"
            )
        src, tgt = vectors(source), vectors(target)
        pairs.append(
            {
                "source": source_path,
                "target": target_path,
                "sentences": len(source),
                "accuracy": retrieval_accuracy(src, tgt),
                "reverse_accuracy": retrieval_accuracy(tgt, src),
            }
        )
    layer = model.config.num_layers if args.layer is None else args.layer
    accuracy = sum(p["accuracy"] for p in pairs) / len(pairs)
    if args.json:
        print(json.dumps({"accuracy": accuracy, "layer": layer, "pairs": pairs}))
        return 0
    for p in pairs:
        print(
            f"{p['source']} -> {p['target']}: {p['accuracy']:.1f}% of {p['sentences']} "
            f"(reverse {p['reverse_accuracy']:.1f}%)"
        )
    print(f"accuracy {accuracy:.1f}% (layer {layer}, {len(pairs)} pair(s))")
    return 0
