"""`xlmr spm-train`: SentencePiece on alpha-sampled sentences of a CC-100-layout corpus."""

from __future__ import annotations

from collections import Counter

import pytest

from xlmr_jax.cli import main
from xlmr_jax.data.sample_corpus import language_lines, write_sample_corpus
from xlmr_jax.data.sentence_sampling import sample_sentences, sentence_quotas
from xlmr_jax.vocab import XLMRVocabulary

LANGUAGES = ["en", "fr", "de", "ru", "zh-Hans", "sw", "ur", "ja", "hi", "ar", "am", "th"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("spm_corpus")
    return out, write_sample_corpus(data_dir / "text", out, LANGUAGES)


def test_quotas_follow_q():
    quotas = sentence_quotas({"en": 10_000, "sw": 100}, alpha=0.5, num_sentences=1100)
    assert quotas == {"en": 1000, "sw": 100}  # q ~ sqrt(n): 100 : 10


def test_sample_sentences(corpus, data_dir):
    path, lines = corpus
    sample = sample_sentences(path, alpha=0.3, num_sentences=6000, seed=1, validation_fraction=0)
    quotas = sentence_quotas(lines, 0.3, 6000)
    assert abs(len(sample) - 6000) <= len(LANGUAGES)
    # Languages none of whose lines occur in another language: count their sentences exactly.
    owners = {}
    for lang in LANGUAGES:
        for line in language_lines(data_dir / "text", lang)[: lines[lang]]:
            owners.setdefault(line, set()).add(lang)
    shared = set().union(*(langs for langs in owners.values() if len(langs) > 1))
    distinct = [lang for lang in LANGUAGES if lang not in shared]
    assert len(distinct) >= 8
    per_language = Counter(next(iter(owners[s])) for s in sample if len(owners[s]) == 1)
    assert {lang: per_language[lang] for lang in distinct} == {
        lang: quotas[lang] for lang in distinct
    }
    # Low-resource languages are up-sampled beyond their data: every line repeated.
    assert quotas["sw"] > lines["sw"]
    assert sample == sample_sentences(
        path, alpha=0.3, num_sentences=6000, seed=1, validation_fraction=0
    )


def test_spm_train_command(corpus, tmp_path, capsys):
    path, _ = corpus
    prefix = tmp_path / "spm" / "small"
    args = ["spm-train", "--data_dir", str(path), "--model_prefix", str(prefix)]
    args += ["--vocab_size", "4000", "--input_sentence_size", "5000", "--num_threads", "2"]
    assert main(args) == 0
    assert "4002 ids" in capsys.readouterr().out
    vocab = XLMRVocabulary(f"{prefix}.model")
    assert vocab.model_type == "unigram" and vocab.vocab_size == 4002
    assert vocab.decode(vocab.encode("Habari ya dunia")) == "Habari ya dunia"
