"""`xlmr import --from {hf,fairseq} SRC --out CKPT_DIR [--spm FILE]`: weights into a checkpoint."""

from __future__ import annotations

import argparse

from xlmr_jax.model_checkpoint import save_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, choices=("hf", "fairseq"))
    parser.add_argument("src", help="HF model directory, or fairseq model.pt (or its directory)")
    parser.add_argument("--out", required=True, help="checkpoint directory to create")
    parser.add_argument(
        "--spm", help="SentencePiece model to include (default: sentencepiece.bpe.model in SRC)"
    )
    parser.add_argument("--head_name", help="fairseq classification head to import")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.source == "hf":
        from xlmr_jax.convert.hf import load_hf

        if args.head_name:
            raise ValueError("--head_name applies to fairseq checkpoints only")
        model = load_hf(args.src)
    else:
        from xlmr_jax.convert.fairseq import load_fairseq

        model = load_fairseq(args.src, head_name=args.head_name)
    spm = args.spm or model.spm_path
    if spm is not None:
        _check_tokenizer(spm, model.config.vocab_size)
    save_model(
        args.out,
        model.params,
        model.config,
        head=model.head,
        num_labels=model.num_labels,
        id2label=model.id2label,
        spm_path=spm,
        extra_meta=model.meta,
        overwrite=args.overwrite,
    )
    cfg = model.config
    print(
        f"imported {model.meta['source']} -> {args.out}: head {model.head}, "
        f"L{cfg.num_layers} H{cfg.hidden_size} A{cfg.num_heads} FFN{cfg.mlp_dim}, "
        f"vocab rows {cfg.vocab_size}, tokenizer {'yes' if spm else 'no'}"
    )
    return 0


def _check_tokenizer(spm: str, vocab_rows: int) -> None:
    """The tokenizer's ids (specials and <mask> included) must index the embedding table."""
    from xlmr_jax.vocab import XLMRVocabulary

    size = XLMRVocabulary(spm).vocab_size
    if size > vocab_rows:
        raise ValueError(
            f"{spm} gives {size} token ids but the model has {vocab_rows} embedding rows: "
            "not this model's tokenizer."
        )
