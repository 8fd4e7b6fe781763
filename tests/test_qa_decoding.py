"""QA span decoding on constructed logits, against brute force, and on real MLQA contexts."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from xlmr_jax.data.formats import read_squad
from xlmr_jax.metrics.qa_spans import Span, best_span, decode_answers

CONTEXT = "Paris is the capital and largest city of France since the year 987."
WORDS = [(m.start(), m.end()) for m in re.finditer(r"\S+", CONTEXT)]


def _window(logits: dict[int, tuple[float, float]], question_tokens: int = 3, length: int = 22):
    """One window: <s> question </s></s> context words </s> <pad>...; `logits` sets the
    (start, end) logits of some words, every other token gets -10."""
    prefix = question_tokens + 3
    offsets = [(0, 0)] * prefix + WORDS + [(0, 0)] * (length - prefix - len(WORDS))
    is_context = [prefix <= i < prefix + len(WORDS) for i in range(length)]
    start, end = np.full(length, -10.0), np.full(length, -10.0)
    for word, (s, e) in logits.items():
        start[prefix + word], end[prefix + word] = s, e
    return start, end, np.array(offsets), np.array(is_context)


def _text(span: Span) -> str:
    return CONTEXT[span.start : span.end]


def test_best_span_picks_highest_valid_pair():
    start, end, offsets, is_context = _window({0: (5.0, 4.0), 7: (-10.0, 1.0)})
    assert best_span(start, end, offsets, is_context) == Span(9.0, 0, 5)  # "Paris"
    answers = decode_answers(["q"], [start], [end], [offsets], [is_context], {"q": CONTEXT})
    assert answers == {"q": "Paris"}


def test_end_before_start_and_non_context_are_rejected():
    # The best end (word 1) precedes the best start (word 5); a question token (position 1)
    # has the highest logits of all but is not context.
    start, end, offsets, is_context = _window({5: (6.0, -10.0), 1: (-10.0, 6.0), 7: (-10.0, 2.0)})
    start[1], end[1] = 50.0, 50.0
    span = best_span(start, end, offsets, is_context)
    assert (_text(span), span.score) == ("largest city of", 8.0)


def test_max_answer_length():
    # The best pair spans words 0..10 (11 tokens); with a 10-token limit the next best wins.
    start, end, offsets, is_context = _window({0: (5.0, 1.0), 10: (-10.0, 5.0), 2: (3.0, -10.0)})
    assert (
        _text(best_span(start, end, offsets, is_context))
        == "Paris is the capital and largest city of France since the"
    )
    span = best_span(start, end, offsets, is_context, max_answer_length=10)
    assert (_text(span), span.score) == ("the capital and largest city of France since the", 8.0)
    span = best_span(start, end, offsets, is_context, max_answer_length=1)
    assert (_text(span), span.score) == ("Paris", 6.0)


def test_n_best_limits_candidates():
    # The top start and end form an invalid pair; with n_best=1 nothing is left.
    start, end, offsets, is_context = _window({5: (5.0, -10.0), 2: (4.0, 1.0), 3: (-10.0, 5.0)})
    assert best_span(start, end, offsets, is_context, n_best=1) is None
    assert decode_answers(
        ["q"], [start], [end], [offsets], [is_context], {"q": CONTEXT}, n_best=1
    ) == {"q": ""}
    assert _text(best_span(start, end, offsets, is_context, n_best=2)) == "the capital"


def test_best_over_windows_of_a_question():
    weak = _window({0: (1.0, 1.0)})
    strong = _window({8: (4.0, 3.0)}, question_tokens=5)
    other = _window({12: (2.0, 2.0)})
    arrays = [np.stack(parts) for parts in zip(weak, strong, other)]
    answers = decode_answers(["q1", "q1", "q2"], *arrays, {"q1": CONTEXT, "q2": CONTEXT})
    assert answers == {"q1": "France", "q2": "987."}
    with pytest.raises(ValueError, match="one row per window"):
        decode_answers(["q1"], *arrays, {"q1": CONTEXT})


def test_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        t = 40
        start, end = rng.normal(size=t), rng.normal(size=t)
        is_context = rng.random(t) < 0.7
        offsets = np.stack([np.arange(t) * 2, np.arange(t) * 2 + 1], axis=1)
        best = max(
            (
                (start[s] + end[e], s, e)
                for s, e in itertools.product(range(t), repeat=2)
                if is_context[s] and is_context[e] and s <= e < s + 7
            ),
            default=None,
        )
        span = best_span(start, end, offsets, is_context, n_best=t, max_answer_length=7)
        assert (span.score, span.start, span.end) == pytest.approx(
            (best[0], 2 * best[1], 2 * best[2] + 1)
        )


def test_real_contexts_with_doc_stride(data_dir):
    """Peaked logits on the gold answer's words, in overlapping windows of real MLQA contexts,
    decode to exactly those words."""
    examples = read_squad(data_dir / "mlqa/dev-context-zh-question-zh.json")[:40]
    examples += read_squad(data_dir / "mlqa/dev-context-de-question-de.json")[:40]
    ids, starts, ends, offsets, masks, expected = [], [], [], [], [], {}
    rng = np.random.default_rng(1)
    size, stride = 64, 32
    for ex in examples:
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", ex.context)]
        answer = ex.answers[0]
        covered = [
            i
            for i, (s, e) in enumerate(words)
            if s < answer.start + len(answer.text) and e > answer.start
        ]
        if len(covered) > 30:
            continue
        expected[ex.id] = ex.context[words[covered[0]][0] : words[covered[-1]][1]]
        for first in range(0, max(1, len(words) - size + stride), stride):
            window = words[first : first + size]
            start, end = rng.normal(size=size + 2), rng.normal(size=size + 2)
            if first <= covered[0] and covered[-1] < first + len(window):
                start[1 + covered[0] - first] += 20
                end[1 + covered[-1] - first] += 20
            pad = size - len(window)
            ids.append(ex.id)
            starts.append(start)
            ends.append(end)
            offsets.append([(0, 0), *window, *[(0, 0)] * (pad + 1)])
            masks.append([False, *[True] * len(window), *[False] * (pad + 1)])
    contexts = {ex.id: ex.context for ex in examples}
    answers = decode_answers(
        ids, np.array(starts), np.array(ends), np.array(offsets), np.array(masks), contexts
    )
    assert len(expected) > 60 and {k: answers[k] for k in expected} == expected
