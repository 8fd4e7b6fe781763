"""`xlmr demo --out DIR`: the whole XLM-R recipe in minutes on a laptop CPU, on real text.

1. a CC-100-layout corpus of 91 languages (26 scripts) from the SIB-200 and UDHR text in
   $XLMR_DATA_DIR/text, sized like CC-100 (square root of the paper's Table 6);
2. the alpha = 0.3 sampling table of that corpus;
3. a SentencePiece unigram vocabulary on alpha-sampled sentences;
4. a small XLM-R pretrained with gin/pretrain/demo_cpu.gin, validation loss printed as it falls;
5. <mask> filled in held-out sentences of several languages by the trained model.
Nothing is downloaded; no GPU is needed.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

DEMO_LANGUAGES = ("eng_Latn", "fra_Latn", "deu_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans",
                  "arb_Arab", "hin_Deva", "swh_Latn", "tur_Latn")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_run", help="folder for corpus, vocabulary, run")
    parser.add_argument(
        "--text_dir",
        default=None,
        help="folder with sib200/ and udhr2/ (default: $XLMR_DATA_DIR/text, ../shared/data/text)",
    )
    parser.add_argument("--steps", type=int, default=900, help="pretraining steps (a few minutes)")
    parser.add_argument("--vocab_size", type=int, default=8000)


def _text_dir(arg: str | None) -> Path:
    candidates = [arg] if arg else []
    if os.environ.get("XLMR_DATA_DIR"):
        candidates.append(os.path.join(os.environ["XLMR_DATA_DIR"], "text"))
    candidates.append(os.path.join("..", "shared", "data", "text"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "sib200").is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        f"No multilingual text found (looked in {candidates}); pass --text_dir pointing at a "
        "folder with sib200/<lang>/{train,dev}.tsv (the SIB-200 release) and udhr2/."
    )


def _banner(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    logging.getLogger("xlmr_jax").setLevel(logging.WARNING)  # the demo prints its own story
    text_dir = _text_dir(args.text_dir)
    out = Path(args.out).absolute()
    corpus, spm_prefix, run_dir = out / "corpus", out / "spm", out / "run"

    from xlmr_jax.data.corpus_stats import corpus_stats, sizes
    from xlmr_jax.data.mixing import sampling_table
    from xlmr_jax.data.sample_corpus import write_sample_corpus
    from xlmr_jax.data.sentence_sampling import sample_sentences
    from xlmr_jax.vocab import train_sentencepiece

    _banner(f"1. Corpus from {text_dir}")
    written = write_sample_corpus(text_dir, corpus)
    print(f"{len(written)} languages, {sum(written.values()):,} lines -> {corpus}")

    _banner("2. Language sampling q_i ~ p_i^0.3 (sentences; low-resource languages up-sampled)")
    train_sizes = sizes(corpus_stats(corpus, validation_fraction=0.05), "sentences")
    rows = sampling_table(train_sizes, 0.3)
    print(f"{'lang':<8} {'sentences':>9} {'p %':>6} {'q %':>6} {'q/p':>5}")
    for r in [*rows[:5], None, *rows[-5:]]:
        if r is None:
            print("   ...")
        else:
            print(
                f"{r.lang:<8} {r.size:>9,.0f} {100 * r.p:>6.2f} {100 * r.q:>6.2f} {r.ratio:>5.2f}"
            )

    _banner(f"3. SentencePiece unigram, {args.vocab_size} pieces, on alpha-sampled text")
    spm_model = f"{spm_prefix}.model"
    if not Path(spm_model).is_file():
        sentences = sample_sentences(
            corpus, num_sentences=sum(train_sizes.values()), validation_fraction=0.05
        )
        train_sentencepiece(sentences, str(spm_prefix), args.vocab_size)
    print(spm_model)

    _banner(f"4. Pretraining a small XLM-R for {args.steps} steps (gin/pretrain/demo_cpu.gin)")
    from xlmr_jax import gin_utils
    from xlmr_jax.training.loop import train

    bindings = [
        f"MODEL_DIR = '{run_dir}'",
        f"DATA_DIR = '{corpus}'",
        f"SPM_MODEL = '{spm_model}'",
        f"TRAIN_STEPS = {args.steps}",
        f"ModelConfig.vocab_size = {args.vocab_size + 2}",
        f"train.eval_every = {max(args.steps // 6, 1)}",
    ]
    gin_utils.parse(["pretrain/demo_cpu.gin"], bindings)
    result = train()
    print("validation MLM loss: " + ", ".join(
        f"step {s}: {v:.3f}" for s, v in sorted(result.validation_losses.items())
    ))  # fmt: skip
    print(f"run folder: {run_dir} (metrics.jsonl, tensorboard/, checkpoints/, model/)")

    _banner("5. Filling <mask> in held-out sentences (SIB-200 dev)")
    _fill_masks(run_dir / "model", text_dir)
    return 0


def _fill_masks(model_dir: Path, text_dir: Path) -> None:
    from xlmr_jax.checkpoint import load_model
    from xlmr_jax.commands.fill_mask import fill_mask
    from xlmr_jax.vocab import WORD_START, XLMRVocabulary

    model = load_model(model_dir)
    vocab = XLMRVocabulary(model.spm_path)
    for lang in DEMO_LANGUAGES:
        rows = (text_dir / "sib200" / lang / "dev.tsv").read_text("utf-8").splitlines()[1:3]
        for row in rows:
            ids = vocab.encode_single(row.split("\t", 2)[2], max_length=64)
            # Mask the longest word-start piece in the middle half of the sentence.
            middle = range(len(ids) // 4, max(3 * len(ids) // 4, len(ids) // 4 + 1))
            pos = max(
                middle,
                key=lambda i: (
                    len(vocab.id_to_piece(ids[i]))
                    * vocab.id_to_piece(ids[i]).startswith(WORD_START)
                ),
            )
            original = ids[pos]
            masked = [vocab.mask_id if i == pos else t for i, t in enumerate(ids)]
            ((_, top),) = fill_mask(model, masked, vocab.mask_id, vocab.vocab_size, top_k=3)
            shown = vocab.decode(masked[:pos]) + " <mask> " + vocab.decode(masked[pos + 1 :])
            guesses = ", ".join(f"{vocab.id_to_piece(t)} ({p:.2f})" for t, p in top)
            hit = "  <- correct" if top[0][0] == original else ""
            print(f"[{lang}] {shown[:110]}")
            print(f"    truth {vocab.id_to_piece(original)} | model: {guesses}{hit}")
