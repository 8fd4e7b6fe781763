"""`xlmr demo --out DIR`: the whole XLM-R recipe in minutes on a laptop CPU, on real text.

1. a CC-100-layout corpus of 8 languages with the most text here, in 5 scripts (--languages 15
   for the paper's XNLI languages, 100 for all 91 available) from the SIB-200 and UDHR text in
   $XLMR_DATA_DIR/text, sized like CC-100 (square root of the paper's Table 6);
2. the alpha = 0.3 sampling table of that corpus;
3. a SentencePiece unigram vocabulary (2000 pieces) on alpha-sampled sentences;
4. a small XLM-R pretrained with gin/pretrain/demo_cpu.gin, validation loss printed as it falls;
5. masked-token accuracy on held-out sentences, per language, against a unigram baseline;
6. <mask> filled with a frequent word in held-out sentences of several languages;
7. a figure (PNG) of per-language validation loss, the sampling table and the accuracies.
Nothing is downloaded; no GPU is needed.
"""

from __future__ import annotations

import argparse
import logging
import os
import unicodedata
from pathlib import Path

from xlmr_jax.data.sample_corpus import FLORES_CODES
from xlmr_jax.vocab import WORD_START

# Shown in the tables and fills (CC-100 codes); the accuracy's mean covers every language.
_SHOWN = ("en", "fr", "de", "es", "ru", "zh-Hans", "ar", "hi", "sw", "tr")
# The default languages: 8 with the most demo text (SIB-200 + UDHR) and a large CC-100 share,
# so that the few minutes of training are not spread thin (our choice (demo)).
DEMO_LANGUAGES = "en,fr,de,es,ru,ar,hi,zh-Hans"
FILLS_PER_LANGUAGE = 3  # held-out sentences with a masked word, per shown language


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_run", help="folder for corpus, vocabulary, run")
    parser.add_argument(
        "--text_dir",
        default=None,
        help="folder with sib200/ and udhr2/ (default: $XLMR_DATA_DIR/text, ../shared/data/text)",
    )
    parser.add_argument(
        "--languages",
        default=DEMO_LANGUAGES,
        help=f"comma-separated CC-100 codes or a set size of the paper (7/15/30/60/100); "
        f"default {DEMO_LANGUAGES}",
    )
    parser.add_argument(
        "--steps", type=int, default=4000, help="pretraining steps (~4 minutes on 2 cores)"
    )
    parser.add_argument(
        "--vocab_size",
        type=int,
        default=2000,
        help="SentencePiece pieces (2000 for the default languages; --languages 15 needs ~8000)",
    )


def _languages(arg: str) -> list[str]:
    from xlmr_jax.data.cc100 import language_set

    codes = list(language_set(int(arg))) if arg.isdigit() else arg.split(",")
    unknown = [c for c in codes if c not in FLORES_CODES]
    if unknown:
        raise ValueError(
            f"--languages: no demo text for {unknown}; choose from {sorted(FLORES_CODES)}"
        )
    return codes


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
    written = write_sample_corpus(text_dir, corpus, _languages(args.languages))
    print(f"{len(written)} languages, {sum(written.values()):,} lines -> {corpus}")

    _banner("2. Language sampling q_i ~ p_i^0.3 (sentences; low-resource languages up-sampled)")
    train_sizes = sizes(corpus_stats(corpus, validation_fraction=0.05), "sentences")
    rows = sampling_table(train_sizes, 0.3)
    print(f"{'lang':<8} {'sentences':>9} {'p %':>6} {'q %':>6} {'q/p':>5}")
    for r in rows if len(rows) <= 10 else [*rows[:5], None, *rows[-5:]]:
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
        f"WARMUP_STEPS = {max(args.steps // 20, 1)}",  # 200 of the default 4000
        f"ModelConfig.vocab_size = {args.vocab_size + 2}",
        f"train.eval_every = {max(args.steps // 10, 1)}",
    ]
    gin_utils.parse(["pretrain/demo_cpu.gin"], bindings)
    result = train()
    print("validation MLM loss: " + ", ".join(
        f"step {s}: {v:.3f}" for s, v in sorted(result.validation_losses.items())
    ))  # fmt: skip
    print(f"run folder: {run_dir} (metrics.jsonl, tensorboard/, checkpoints/, model/)")

    model_dir = run_dir / "model"
    _banner("5. Masked-token accuracy on held-out text (SIB-200 dev) vs a unigram baseline")
    accuracies, counts = _accuracy(model_dir, corpus, text_dir)

    _banner("6. Filling <mask> with a frequent word in held-out sentences (SIB-200 dev)")
    _fill_masks(model_dir, text_dir, counts)

    figure = out / "demo.png"
    try:
        from xlmr_jax.commands.demo_plot import validation_losses, write_figure

        losses = validation_losses(run_dir / "metrics.jsonl")
        write_figure(figure, losses, rows, accuracies, _SHOWN, 0.3)
        print(f"\nfigure (validation loss per language, sampling table, accuracy): {figure}")
    except ImportError:
        print('\nno figure: it needs matplotlib (pip install "xlmr-jax[demo]")')
    return 0


def _held_out(text_dir: Path, lang: str) -> list[str]:
    """SIB-200 dev sentences: never in the demo corpus (SIB-200 train + UDHR)."""
    flores = FLORES_CODES[lang]
    rows = (text_dir / "sib200" / flores / "dev.tsv").read_text("utf-8").splitlines()[1:]
    return [row.split("\t", 2)[2] for row in rows if row]


def _accuracy(model_dir: Path, corpus: Path, text_dir: Path):
    """Per-language accuracy table (demo languages, then the mean over all); token counts."""
    from xlmr_jax.data.sources import discover, iter_documents
    from xlmr_jax.metrics.masked_lm import masked_token_accuracy, token_counts
    from xlmr_jax.model_checkpoint import load_model
    from xlmr_jax.vocab import XLMRVocabulary

    model = load_model(model_dir)
    vocab = XLMRVocabulary(model.spm_path)
    counts = {
        lang: token_counts(vocab, [line for doc in iter_documents(files, "train", 0.05) for line in doc])
        for lang, files in discover(corpus).items()
    }  # fmt: skip
    unigram = {lang: c.most_common(1)[0][0] for lang, c in counts.items()}
    held_out = {lang: _held_out(text_dir, lang) for lang in counts}
    accuracies = masked_token_accuracy(model, vocab, held_out, unigram)
    print(f"{'lang':<8} {'masked':>6} {'model %':>8} {'unigram %':>9}  unigram token")
    for a in accuracies:
        if a.lang in _SHOWN:
            piece = vocab.id_to_piece(unigram[a.lang])
            print(
                f"{a.lang:<8} {a.masked:>6} {100 * a.model:>8.1f} {100 * a.unigram:>9.1f}  {piece}"
            )
    wins = sum(a.model > a.unigram for a in accuracies)
    mean_model = 100 * sum(a.model for a in accuracies) / len(accuracies)
    mean_unigram = 100 * sum(a.unigram for a in accuracies) / len(accuracies)
    print(
        f"all {len(accuracies)} languages: model {mean_model:.1f}% vs unigram {mean_unigram:.1f}% "
        f"(mean, {mean_model / mean_unigram:.2f}x); the model is better in {wins} of "
        f"{len(accuracies)}"
    )
    return accuracies, counts


def _wordlike(piece: str) -> bool:
    """Letters or combining marks (the vowel signs of Devanagari, Arabic's harakat): word text."""
    return any(unicodedata.category(c)[0] in "LM" for c in piece)


def _starts_word(piece: str) -> bool:
    """A piece that begins a word: ▁ and word text (not ▁ alone, not ▁ + punctuation)."""
    return piece.startswith(WORD_START) and _wordlike(piece)


def _frequent_word_position(vocab, ids: list[int], counts) -> int:
    """The position of the sentence's most frequent whole word (in the training text): a piece
    that starts a word and is followed by another word start or punctuation; in scripts written
    without spaces, any piece with letters."""

    def score(i: int) -> tuple[bool, int]:
        piece, after = vocab.id_to_piece(ids[i]), vocab.id_to_piece(ids[i + 1])
        letters = _wordlike(piece) and ids[i] != vocab.unk_id
        ends_word = vocab.is_word_start([ids[i + 1]])[0] or not _wordlike(after)
        return (_starts_word(piece) and ends_word, letters * counts[ids[i]])

    return max(range(1, len(ids) - 1), key=score)


def _fill_masks(model_dir: Path, text_dir: Path, counts) -> None:
    """Masks the most frequent whole word of held-out sentences and prints the model's top 3.

    Where the masked piece starts a word (the text has a space before <mask>), the guesses are
    the pieces that start a word, as a reader of "... <mask> ..." would guess; the model's
    probabilities are shown unchanged.
    """
    from xlmr_jax.commands.fill_mask import fill_mask
    from xlmr_jax.model_checkpoint import load_model
    from xlmr_jax.vocab import XLMRVocabulary

    model = load_model(model_dir)
    vocab = XLMRVocabulary(model.spm_path)
    languages = [lang for lang in _SHOWN if lang in counts]
    right, in_top3, shown, languages_right = 0, 0, 0, set()
    for lang in languages:
        for text in _held_out(text_dir, lang)[:FILLS_PER_LANGUAGE]:
            ids = vocab.encode_single(text, max_length=64)
            pos = _frequent_word_position(vocab, ids, counts[lang])
            original = ids[pos]
            masked = [vocab.mask_id if i == pos else t for i, t in enumerate(ids)]
            ((_, ranked),) = fill_mask(
                model, masked, vocab.mask_id, vocab.vocab_size, top_k=vocab.vocab_size
            )
            if _starts_word(vocab.id_to_piece(original)):
                ranked = [(t, p) for t, p in ranked if _starts_word(vocab.id_to_piece(t))]
            top = ranked[:3]
            shown_text = vocab.decode(masked[:pos]) + " <mask> " + vocab.decode(masked[pos + 1 :])
            guesses = ", ".join(f"{vocab.id_to_piece(t)} ({p:.2f})" for t, p in top)
            hit = top[0][0] == original
            right, shown = right + hit, shown + 1
            in_top3 += original in [t for t, _ in top]
            if hit:
                languages_right.add(lang)
            print(f"[{lang}] {shown_text[:110]}")
            print(
                f"    truth {vocab.id_to_piece(original)} | model: {guesses}{'  <- right' if hit else ''}"
            )
    print(
        f"top guess right in {right} of {shown} (in {len(languages_right)} of {len(languages)} "
        f"languages); the truth is among the top 3 in {in_top3} of {shown}"
    )
