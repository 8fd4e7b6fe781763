"""XLMRVocabulary against HF's slow XLMRobertaTokenizer, TF and seqio; SentencePiece training."""

from __future__ import annotations

import copy
import pickle
import re
import unicodedata

import numpy as np
import pytest
import sentencepiece as spm
import seqio
import tensorflow as tf
from transformers import XLMRobertaTokenizer
from transformers.utils import logging as hf_logging

from xlmr_jax.config import preset
from xlmr_jax.vocab import WORD_START, XLMRVocabulary, train_sentencepiece

# Sentence indices past the 100 per language spm_model trains on: 56 x 91 = 5,096 sentences.
HELD_OUT = range(300, 356)


@pytest.fixture(scope="module")
def vocab(spm_model: str) -> XLMRVocabulary:
    return XLMRVocabulary(spm_model)


@pytest.fixture(scope="module")
def hf(spm_model: str):
    """HF's sentencepiece-based (slow) tokenizer on the same file; its warnings silenced."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # one "overflowing tokens" warning per truncated pair
    yield XLMRobertaTokenizer(spm_model)
    hf_logging.set_verbosity(verbosity)


@pytest.fixture(scope="module")
def held_out(multilingual_corpus: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(language, sentence), round-robin over the 91 languages."""
    return [(lang, sents[i]) for i in HELD_OUT for lang, sents in multilingual_corpus.items()]


def _scripts(texts: list[str]) -> set[str]:
    """First word of the Unicode names of letters: LATIN, CYRILLIC, CJK, THAI, ..."""
    chars = {c for t in texts for c in t if c.isalpha()}
    return {unicodedata.name(c, "?").split()[0] for c in chars}


def test_held_out_sample_is_multilingual(held_out):
    texts = [t for _, t in held_out]
    assert len(texts) >= 5000
    assert len({lang for lang, _ in held_out}) >= 50
    assert {"LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "CJK", "THAI", "HANGUL"} <= _scripts(texts)


@pytest.mark.parity
def test_id_layout(vocab, spm_model, hf):
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    assert len(sp) == 8000
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert (vocab.bos_id, vocab.pad_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.mask_id == 8001 == len(sp) + 1
    assert vocab.vocab_size == 8002 == hf.vocab_size == preset("tiny").vocab_size
    assert vocab.special_ids == (0, 1, 2, 3, 8001)
    assert [vocab.id_to_piece(i) for i in vocab.special_ids] == [
        "<s>",
        "<pad>",
        "</s>",
        "<unk>",
        "<mask>",
    ]
    assert hf.convert_ids_to_tokens(list(vocab.special_ids)) == [
        vocab.id_to_piece(i) for i in vocab.special_ids
    ]
    assert all(vocab.id_to_piece(i + 1) == sp.id_to_piece(i) for i in range(3, len(sp)))
    assert vocab.random_token_range == (4, 8001)
    assert vocab.model_type == "unigram"
    with pytest.raises(ValueError, match="outside"):
        vocab.id_to_piece(8002)

    text = "Zürich 𓀀 東京 ᚠᚢᚦ"  # hieroglyph and runes are not in the training text
    spm_ids = sp.encode(text)
    assert 0 in spm_ids
    assert vocab.encode(text) == [3 if i == 0 else i + 1 for i in spm_ids]


@pytest.mark.parity
def test_word_starts(vocab, hf, multilingual_corpus):
    pieces = hf.convert_ids_to_tokens(list(range(vocab.vocab_size)))
    expected = [p.startswith(WORD_START) for p in pieces]
    for i in vocab.special_ids:
        expected[i] = True
    np.testing.assert_array_equal(vocab.word_starts, expected)

    # With no <unk>, the word starts of a space-separated sentence are its words (+ <s>, </s>).
    english = [s for s in multilingual_corpus["eng_Latn"][:200] if 3 not in vocab.encode(s)]
    assert len(english) > 150
    for s in english:
        ids = vocab.encode_single(s)
        assert vocab.is_word_start(ids).sum() == len(s.split()) + 2


@pytest.mark.parity
def test_single_and_pair_ids_match_hf(vocab, hf, held_out):
    texts = [t for _, t in held_out]
    assert [vocab.encode_single(t) for t in texts] == hf(texts)["input_ids"]
    a, b = texts[:-1], texts[1:]  # a sentence and its translation into the next language
    assert [vocab.encode_pair(x, y) for x, y in zip(a, b)] == hf(a, b)["input_ids"]
    unk = sum(3 in vocab.encode(t) for t in texts)
    assert 0 < unk < len(texts) // 5  # unknown characters are exercised, yet rare


@pytest.mark.parity
def test_truncation_matches_hf(vocab, hf, held_out):
    texts = [t for _, t in held_out]
    ours = [vocab.encode_single(t, max_length=64) for t in texts]
    assert ours == hf(texts, max_length=64, truncation=True)["input_ids"]
    cut = sum(len(vocab.encode(t)) > 62 for t in texts)
    assert 0 < cut < len(texts)

    a, b = texts[:-1], texts[1:]
    ours = [vocab.encode_pair(x, y, max_length=128) for x, y in zip(a, b)]
    assert ours == hf(a, b, max_length=128, truncation=True)["input_ids"]
    assert all(len(ids) <= 128 for ids in ours)
    # Both longest_first branches and the untruncated case occur.
    lengths = [(len(vocab.encode(x)), len(vocab.encode(y))) for x, y in zip(a, b)]
    assert any(la + lb <= 124 for la, lb in lengths)
    assert any(la > lb and la + lb > 124 for la, lb in lengths)
    assert any(la < lb and la + lb > 124 for la, lb in lengths)
    with pytest.raises(ValueError, match="max_length=3"):
        vocab.encode_pair("a", "b", max_length=3)


@pytest.mark.parity
def test_decode_matches_hf(vocab, hf, held_out):
    texts = [t for _, t in held_out]
    ids = [vocab.encode_single(t) for t in texts]
    ids += [vocab.encode_pair(x, y) for x, y in zip(texts[:500], texts[1:])]
    assert [vocab.decode(x) for x in ids] == [hf.decode(x, skip_special_tokens=True) for x in ids]
    # A pair decodes whole (no stop at the first </s>); <mask>, <pad> and padded rows drop out.
    assert vocab.decode([0, *vocab.encode("Hello"), 2, 2, 8001, 2, 1, 1, 9000]) == "Hello"
    assert vocab.decode(tf.constant(vocab.encode_single("Hello world"))) == "Hello world"


@pytest.mark.parity
def test_special_token_text_is_plain_text(vocab, hf):
    text = "Paris is the <mask> of France. <s> </s>"
    ours = vocab.encode_single(text)
    assert ours == hf(text, split_special_tokens=True)["input_ids"]
    assert vocab.mask_id not in ours and ours.count(0) == 1
    assert hf(text)["input_ids"] != ours  # HF's default parses the specials


def test_tf_path_matches_python(vocab, held_out):
    texts = [t for _, t in held_out][:500]
    ragged = vocab.encode_tf(tf.constant(texts))
    assert ragged.to_list() == [vocab.encode(t) for t in texts] == vocab.encode_batch(texts)

    ids = [vocab.encode_single(t) for t in texts]
    width = max(map(len, ids))
    padded = tf.constant([x + [vocab.pad_id] * (width - len(x)) for x in ids])
    decoded = [s.decode("utf-8") for s in vocab.decode_tf(padded).numpy()]
    assert decoded == [vocab.decode(x) for x in ids]
    fresh = XLMRVocabulary(vocab.model_file)  # first used inside a graph, then eagerly
    assert tf.function(fresh.decode_tf)(padded).numpy().tolist() == [s.encode() for s in decoded]
    assert fresh.decode_tf(padded).numpy().tolist() == [s.encode() for s in decoded]
    assert vocab.decode_tf(tf.constant([0, 9000, *ids[0][1:]])).numpy().decode() == decoded[0]


def _task(name: str, vocab: XLMRVocabulary, texts: list[str]) -> seqio.Task:
    return seqio.Task(
        name,
        source=seqio.FunctionDataSource(
            lambda split, shuffle_files: tf.data.Dataset.from_tensor_slices({"text": texts}),
            splits=["train"],
        ),
        output_features={"text": seqio.Feature(vocab, add_eos=True)},
        preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
    )


def test_seqio_task_tokenizes_like_python(spm_model, vocab, held_out):
    texts = [t for _, t in held_out][:300]
    task = _task("xlmr_vocab_test", XLMRVocabulary(spm_model), texts)
    got = [ex["text"].tolist() for ex in task.get_dataset(None, shuffle=False).as_numpy_iterator()]
    assert got == [vocab.encode(t) + [vocab.eos_id] for t in texts]
    # Tasks of a mixture need equal vocabularies: equal means the same model file.
    seqio.Mixture("xlmr_vocab_mix", [(task, 1.0), (_task("other", vocab, texts), 1.0)])
    assert copy.deepcopy(vocab) == vocab == pickle.loads(pickle.dumps(vocab))
    assert pickle.loads(pickle.dumps(vocab)).encode(texts[0]) == vocab.encode(texts[0])


@pytest.mark.parity
@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_training_is_deterministic_and_matches_hf(tmp_path, multilingual_sentences, model_type):
    sentences = multilingual_sentences[:3000]
    runs = []
    for _ in range(2):  # the same prefix: the model records it
        path = train_sentencepiece(sentences, tmp_path / "m", 4000, model_type=model_type)
        runs.append(open(path, "rb").read())
    assert runs[0] == runs[1]
    vocab = XLMRVocabulary(path)
    assert vocab.model_type == model_type and vocab.vocab_size == 4002
    texts = multilingual_sentences[-500:]
    assert [vocab.encode_single(t) for t in texts] == XLMRobertaTokenizer(path)(texts)["input_ids"]
    assert vocab.encode_tf(tf.constant(texts)).to_list() == [vocab.encode(t) for t in texts]


def test_bad_model_files(tmp_path):
    missing = tmp_path / "missing.model"
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(missing))}.*spm-train"):
        _ = XLMRVocabulary(missing).vocab_size
    for name, content in [("empty.model", b""), ("corrupt.model", b"\x00\xff not a model" * 50)]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=f"{re.escape(str(path))} is not a valid"):
            XLMRVocabulary(path).encode("x")
    # T5-style ids (pad=0, eos=1, unk=2) cannot take the fairseq shift.
    t5 = tmp_path / "t5"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["a b c d e f g h"] * 20),
        model_prefix=str(t5),
        vocab_size=12,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match=f"{re.escape(str(t5))}.model: XLM-R ids need.*<unk>=2"):
        _ = XLMRVocabulary(f"{t5}.model").mask_id


def test_train_sentencepiece_errors(tmp_path):
    with pytest.raises(ValueError, match="no non-blank sentences"):
        train_sentencepiece([], tmp_path / "m", 100)
    with pytest.raises(ValueError, match="no non-blank sentences"):
        train_sentencepiece(["", "  "], tmp_path / "m", 100)
    with pytest.raises(ValueError, match="too (high|large)"):
        train_sentencepiece(["a tiny text"] * 5, tmp_path / "m", 5000)
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece(["a tiny text"], tmp_path / "m", 100, model_type="word")
