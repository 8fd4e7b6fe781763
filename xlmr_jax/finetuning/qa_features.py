"""Extractive QA features: `<s> question </s></s> context window </s>` with character offsets.

The context is tokenized once with character spans (offsets.py) and cut into windows of at
most `max_length` ids that start `doc_stride` context tokens apart (BERT/XTREME `run_squad`
semantics: the stride is the step between window starts). Questions keep their first
`max_query_length` tokens. Each window carries, per token, the character span in the context
(`offsets`, [0, 0] outside the context) and whether it is a context token (`context_mask`), so
predicted token spans map back to context text (metrics/qa_spans.py). The gold start/end token is
that of the first answer when the window holds the whole answer, else 0 (`<s>`), as in HF.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from xlmr_jax.data.formats.squad import QAExample
from xlmr_jax.finetuning.offsets import encode_with_offsets, token_span
from xlmr_jax.vocab import BOS_ID, EOS_ID, XLMRVocabulary

DEFAULT_MAX_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64

EXAMPLE_SIGNATURE = {
    "index": tf.TensorSpec([], tf.int32),
    "question": tf.TensorSpec([], tf.string),
    "context": tf.TensorSpec([], tf.string),
    "answer_starts": tf.TensorSpec([None], tf.int32),
    "answer_texts": tf.TensorSpec([None], tf.string),
}
FEATURE_SIGNATURE = {
    "index": tf.TensorSpec([], tf.int32),
    "input_ids": tf.TensorSpec([None], tf.int32),
    "start_position": tf.TensorSpec([], tf.int32),
    "end_position": tf.TensorSpec([], tf.int32),
    "offsets": tf.TensorSpec([None, 2], tf.int32),
    "context_mask": tf.TensorSpec([None], tf.int32),
}


@dataclasses.dataclass(frozen=True)
class Window:
    """Context tokens [start, start + length) of one window."""

    start: int
    length: int


def to_example(index: int, record: QAExample) -> dict:
    return {
        "index": index,
        "question": record.question,
        "context": record.context,
        "answer_starts": [a.start for a in record.answers],
        "answer_texts": [a.text for a in record.answers],
    }


def doc_windows(num_tokens: int, budget: int, doc_stride: int = DOC_STRIDE) -> list[Window]:
    """Windows of at most `budget` tokens, starting `doc_stride` apart, until the last token.

    An empty context still gets one (empty) window, so every question is answered.
    """
    if budget < 1 or doc_stride < 1:
        raise ValueError(
            f"need a positive window budget and doc_stride, got {budget}, {doc_stride}"
        )
    windows, start = [], 0
    while True:
        length = min(num_tokens - start, budget)
        windows.append(Window(start, length))
        if start + length >= num_tokens:
            return windows
        start += min(length, doc_stride)


def featurize(
    vocab: XLMRVocabulary,
    example: dict,
    max_length: int = DEFAULT_MAX_LENGTH,
    *,
    doc_stride: int = DOC_STRIDE,
    max_query_length: int = MAX_QUERY_LENGTH,
) -> list[dict]:
    """One feature per context window."""
    question_ids = vocab.encode(example["question"].decode())[:max_query_length]
    context = example["context"].decode()
    context_ids, spans = encode_with_offsets(vocab, context)
    gold = None
    if len(example["answer_starts"]):
        start = int(example["answer_starts"][0])
        gold = token_span(spans, start, start + len(example["answer_texts"][0].decode()))
    prefix = [BOS_ID, *question_ids, EOS_ID, EOS_ID]
    features = []
    for window in doc_windows(len(context_ids), max_length - len(prefix) - 1, doc_stride):
        inside = slice(window.start, window.start + window.length)
        ids = np.asarray([*prefix, *context_ids[inside], EOS_ID], np.int32)
        offsets = np.zeros((len(ids), 2), np.int32)
        offsets[len(prefix) : len(prefix) + window.length] = spans[inside]
        context_mask = np.zeros(len(ids), np.int32)
        context_mask[len(prefix) : len(prefix) + window.length] = 1
        start_position = end_position = 0
        if gold and window.start <= gold[0] and gold[1] < window.start + window.length:
            start_position = gold[0] - window.start + len(prefix)
            end_position = gold[1] - window.start + len(prefix)
        features.append(
            {
                "index": example["index"],
                "input_ids": ids,
                "start_position": start_position,
                "end_position": end_position,
                "offsets": offsets,
                "context_mask": context_mask,
            }
        )
    return features
