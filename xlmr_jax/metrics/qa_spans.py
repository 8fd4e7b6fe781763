"""Answer spans from start/end logits of the windows ("doc stride" features) of each question.

As in the XTREME/HF SQuAD recipes: per window, the `n_best` highest start and end logits are
paired; a pair is a candidate if both tokens are context tokens, end >= start and the span has
at most `max_answer_length` tokens; its score is start + end logit. A question's answer is its
best candidate over all of its windows, cut from the context by the tokens' character offsets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

N_BEST = 20
MAX_ANSWER_LENGTH = 30


@dataclasses.dataclass(frozen=True)
class Span:
    score: float
    start: int  # character offset into the context
    end: int  # exclusive


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    is_context: np.ndarray,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> Span | None:
    """Best candidate of one window ([T] logits, [T, 2] char offsets, [T] bool), or None."""
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    is_context = np.asarray(is_context, dtype=bool)
    starts = np.argsort(-start_logits, kind="stable")[:n_best]
    ends = np.argsort(-end_logits, kind="stable")[:n_best]
    s, e = starts[:, None], ends[None, :]
    valid = is_context[s] & is_context[e] & (e >= s) & (e - s + 1 <= max_answer_length)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[s] + end_logits[e], -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    offsets = np.asarray(offsets)
    return Span(float(scores[i, j]), int(offsets[starts[i], 0]), int(offsets[ends[j], 1]))


def decode_answers(
    example_ids: Sequence[str],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    is_context: np.ndarray,
    contexts: Mapping[str, str],
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> dict[str, str]:
    """{question id: answer text} from N windows ([N, T] logits, [N, T, 2] offsets, [N, T]
    context mask; `example_ids[n]` names window n's question). A question none of whose
    windows has a candidate gets "" (the official scripts score it like any wrong answer)."""
    if (
        not len(example_ids)
        == len(start_logits)
        == len(end_logits)
        == len(offsets)
        == len(is_context)
    ):
        raise ValueError("example_ids, logits, offsets and is_context need one row per window")
    best: dict[str, Span | None] = {}
    for n, qid in enumerate(example_ids):
        span = best_span(
            start_logits[n], end_logits[n], offsets[n], is_context[n], n_best, max_answer_length
        )
        current = best.get(qid)
        if current is None or (span is not None and span.score > current.score):
            best[qid] = span
    return {qid: contexts[qid][span.start : span.end] if span else "" for qid, span in best.items()}
