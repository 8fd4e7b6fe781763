"""Features of the fine-tuning tasks: sentence pairs, NER word windows, QA windows and offsets,
and the fixed-shape batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from xlmr_jax.finetuning import classification, ner, qa_features
from xlmr_jax.finetuning.batching import batches, sorted_batches
from xlmr_jax.finetuning.offsets import encode_with_offsets, token_span
from xlmr_jax.vocab import BOS_ID, EOS_ID, UNK_ID, XLMRVocabulary


@pytest.fixture(scope="module")
def vocab(spm_model) -> XLMRVocabulary:
    return XLMRVocabulary(spm_model)


def as_numpy(example: dict) -> dict:
    """A raw example as the seqio source yields it (bytes for text, arrays for lists)."""

    def convert(value):
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, list):
            return np.array([convert(v) for v in value])
        return value

    return {k: convert(v) for k, v in example.items()}


def test_pair_layout_and_longest_first_truncation(vocab):
    example = {
        "index": 7,
        "text_a": b"The cat sat on the mat.",
        "text_b": b"A cat sat.",
        "label": 2,
    }
    (feature,) = classification.featurize(vocab, example, 128, pair=True)
    a, b = vocab.encode("The cat sat on the mat."), vocab.encode("A cat sat.")
    assert feature["input_ids"].tolist() == [BOS_ID, *a, EOS_ID, EOS_ID, *b, EOS_ID]
    assert (feature["label"], feature["index"]) == (2, 7)
    (short,) = classification.featurize(vocab, example, 12, pair=True)
    assert len(short["input_ids"]) == 12
    # longest_first: 8 content ids for a (longer) and b, cut from the longer first
    assert short["input_ids"].tolist() == vocab.encode_pair(
        "The cat sat on the mat.", "A cat sat.", 12
    )
    (single,) = classification.featurize(vocab, {**example, "text_b": b""}, 128, pair=False)
    assert single["input_ids"].tolist() == [BOS_ID, *a, EOS_ID]


def test_ner_first_sub_token_labels_and_word_index(vocab):
    words = ["Angela", "Merkel", "besuchte", "Paris", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    example = as_numpy(ner.to_example(3, ner.NerSentence("3", tuple(words), tuple(tags), 0, 1)))
    (feature,) = ner.featurize(vocab, example, 128)
    pieces = [vocab.encode(w) for w in words]
    assert feature["input_ids"].tolist() == [BOS_ID, *[i for p in pieces for i in p], EOS_ID]
    starts = np.flatnonzero(feature["label_weights"])
    assert starts.tolist() == (1 + np.cumsum([0] + [len(p) for p in pieces[:-1]])).tolist()
    labels = [ner.NER_LABELS[i] for i in feature["label_ids"][starts]]
    assert labels == tags
    assert feature["word_index"][starts].tolist() == [0, 1, 2, 3, 4]
    assert (feature["word_index"] >= 0).sum() == len(words)


def test_ner_long_sentences_split_into_whole_word_windows(vocab):
    words = [f"Wort{i}x" for i in range(60)]  # several pieces each
    pieces = [vocab.encode(w) for w in words]
    example = as_numpy({"index": 0, "tokens": words, "tags": ["O"] * 60})
    features = ner.featurize(vocab, example, 32)
    assert len(features) > 1
    covered = []
    for feature in features:
        assert len(feature["input_ids"]) <= 32
        assert feature["input_ids"][0] == BOS_ID and feature["input_ids"][-1] == EOS_ID
        window_words = feature["word_index"][feature["word_index"] >= 0].tolist()
        # whole words: the window holds exactly these words' pieces
        expected = [i for w in window_words for i in pieces[w]]
        assert feature["input_ids"][1:-1].tolist() == expected
        covered += window_words
    assert covered == list(range(60))  # every word once, in order


def test_ner_word_without_pieces_becomes_unk_and_huge_word_is_cut(vocab):
    assert vocab.encode("\u200b") == []
    example = as_numpy({"index": 0, "tokens": ["a", "\u200b", "b" * 400], "tags": ["O"] * 3})
    first, second = ner.featurize(vocab, example, 16)
    assert first["input_ids"].tolist() == [BOS_ID, *vocab.encode("a"), UNK_ID, EOS_ID]
    assert first["word_index"][first["word_index"] >= 0].tolist() == [0, 1]
    assert len(second["input_ids"]) == 16  # the 400-letter word keeps its first 14 pieces
    assert second["word_index"].tolist() == [-1, 2] + [-1] * 14
    assert ner.word_windows([3, 20, 2], 14) == [range(0, 1), range(1, 2), range(2, 3)]


def test_offsets_match_vocab_and_strip_whitespace(vocab):
    text = "  Hello\u00a0 wörld, ½ ２０２０\u200bok…"
    ids, spans = encode_with_offsets(vocab, text)
    assert ids == vocab.encode(text)
    for start, end in spans:
        surface = text[start:end]
        assert surface == surface.strip() and "\u200b" not in surface
        assert 0 <= start <= end <= len(text)
    # Every visible character belongs to exactly one token.
    covered = [i for start, end in spans for i in range(start, end)]
    visible = [i for i, c in enumerate(text) if not c.isspace() and c != "\u200b"]
    assert covered == visible
    assert token_span(spans, text.index("wörld"), text.index("wörld") + 5) is not None


def test_token_span_inside_tokens_and_nothing():
    spans = np.array([[0, 3], [4, 4], [4, 9], [10, 12]])
    assert token_span(spans, 4, 9) == (2, 2)
    assert token_span(spans, 5, 7) == (2, 2)  # inside one token: that token
    assert token_span(spans, 1, 11) == (0, 3)
    assert token_span(spans, 3, 4) is None  # whitespace only


def qa_example(context: str, answer: str, question: str = "What?") -> dict:
    start = context.index(answer)
    return as_numpy(
        {
            "index": 0,
            "question": question,
            "context": context,
            "answer_starts": [start],
            "answer_texts": [answer],
        }
    )


def test_qa_windows_stride_and_gold_positions(vocab):
    words = [f"w{i}" for i in range(300)]
    context = " ".join(words)
    example = qa_example(context, "w250 w251")
    features = qa_features.featurize(vocab, example, 64, doc_stride=16, max_query_length=8)
    context_ids, spans = encode_with_offsets(vocab, context)
    question = vocab.encode("What?")
    budget = 64 - len(question) - 4
    windows = qa_features.doc_windows(len(context_ids), budget, 16)
    assert len(features) == len(windows)
    assert [w.start for w in windows] == list(range(0, 16 * len(windows), 16))
    assert windows[-1].start + windows[-1].length == len(context_ids)
    found = []
    for feature, window in zip(features, windows):
        ids = feature["input_ids"]
        assert len(ids) <= 64
        prefix = len(question) + 3
        assert ids[:prefix].tolist() == [BOS_ID, *question, EOS_ID, EOS_ID]
        assert ids[prefix:-1].tolist() == context_ids[window.start : window.start + window.length]
        assert feature["context_mask"].sum() == window.length
        s, e = feature["start_position"], feature["end_position"]
        if s:
            found.append(context[feature["offsets"][s, 0] : feature["offsets"][e, 1]])
        else:
            assert e == 0  # the answer is not (wholly) in this window: point at <s>
    assert found and set(found) == {"w250 w251"}


def test_qa_empty_context_still_has_a_window(vocab):
    (feature,) = qa_features.featurize(vocab, as_numpy({
        "index": 0, "question": "Q?", "context": "", "answer_starts": [], "answer_texts": []
    }), 384)  # fmt: skip
    assert feature["context_mask"].sum() == 0 and feature["start_position"] == 0


def features_dataset(lengths: list[int]) -> tf.data.Dataset:
    def gen():
        for i, n in enumerate(lengths):
            yield {
                "index": i,
                "input_ids": np.arange(5, 5 + n, dtype=np.int32),
                "word_index": np.arange(n, dtype=np.int32),
            }

    return tf.data.Dataset.from_generator(
        gen,
        output_signature={
            "index": tf.TensorSpec([], tf.int32),
            "input_ids": tf.TensorSpec([None], tf.int32),
            "word_index": tf.TensorSpec([None], tf.int32),
        },
    )


def test_training_batches_have_fixed_shape_and_padding_rows():
    out = list(batches(features_dataset([3, 5, 2, 7, 1]), 2, 8))
    assert [b["input_ids"].shape for b in out] == [(2, 8)] * 3
    assert [b["weight"].tolist() for b in out] == [[1, 1], [1, 1], [1, 0]]
    assert out[0]["input_ids"][0].tolist() == [5, 6, 7, 1, 1, 1, 1, 1]  # pad id 1
    assert out[0]["word_index"][0].tolist() == [0, 1, 2, -1, -1, -1, -1, -1]
    assert out[2]["input_ids"][1].tolist() == [1] * 8 and out[2]["index"].tolist() == [4, 0]


def test_evaluation_batches_sorted_by_length_and_bucketed():
    lengths = [30, 3, 17, 9, 64, 2, 33]
    out = sorted_batches(features_dataset(lengths), 3, 64, 16)
    assert [b["input_ids"].shape[1] for b in out] == [16, 48, 64]
    assert [b["index"][b["weight"] > 0].tolist() for b in out] == [[5, 1, 3], [2, 0, 6], [4]]
    rows = {
        int(i): ids for b in out for i, ids, w in zip(b["index"], b["input_ids"], b["weight"]) if w
    }
    for i, n in enumerate(lengths):
        assert rows[i][:n].tolist() == list(range(5, 5 + n)) and (rows[i][n:] == 1).all()
