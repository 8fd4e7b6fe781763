"""QA windowing round trip on every answer of the 13 MLQA dev files: gold character span ->
window token positions -> character offsets -> exactly the gold text, except the counted
tokenizer cases (an answer edge inside a token; an answer edge on a character the normaliser
turns into whitespace, which token spans exclude)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from xlmr_jax.data.formats.squad import read_squad
from xlmr_jax.finetuning import qa_features
from xlmr_jax.finetuning.offsets import is_blank
from xlmr_jax.vocab import XLMRVocabulary

MLQA_DEV_QUESTIONS = {
    "ar-ar": 517, "de-de": 512, "en-ar": 517, "en-de": 512, "en-en": 1148, "en-es": 500,
    "en-hi": 507, "en-vi": 511, "en-zh": 504, "es-es": 500, "hi-hi": 507, "vi-vi": 511,
    "zh-zh": 504,
}  # fmt: skip


def classify(vocab, context: str, start: int, end: int, got: tuple[int, int]) -> str:
    if got == (start, end):
        return "exact"
    if got[0] <= start and got[1] >= end:
        return "inside_token"
    edges = context[start : got[0]] + context[got[1] : end]
    if start <= got[0] <= got[1] <= end and all(is_blank(vocab.model_file, c) for c in edges):
        return "blank_edge"
    return "other"


def test_every_mlqa_dev_answer_round_trips(data_dir, spm_model):
    vocab = XLMRVocabulary(spm_model)
    counts = Counter()
    for pair, questions in MLQA_DEV_QUESTIONS.items():
        c, q = pair.split("-")
        examples = read_squad(data_dir / "mlqa" / f"dev-context-{c}-question-{q}.json")
        assert len(examples) == questions
        for index, example in enumerate(examples):
            for answer in example.answers:
                raw = qa_features.to_example(index, example)
                raw.update(answer_starts=[answer.start], answer_texts=[answer.text])
                raw = {k: v.encode() if isinstance(v, str) else v for k, v in raw.items()}
                raw["answer_texts"] = np.array([answer.text.encode()])
                spans = {
                    (
                        int(f["offsets"][f["start_position"], 0]),
                        int(f["offsets"][f["end_position"], 1]),
                    )
                    for f in qa_features.featurize(vocab, raw)
                    if f["start_position"]
                }
                assert len(spans) == 1  # every window holding the answer agrees
                end = answer.start + len(answer.text)
                counts[classify(vocab, example.context, answer.start, end, spans.pop())] += 1
    total = sum(counts.values())
    # Measured with the 8000-piece test model: 7168 exact, 72 inside a token, 10 blank edges.
    assert total == 7250
    assert counts["other"] == 0
    assert counts["exact"] / total > 0.98
    assert counts["inside_token"] / total < 0.02
    assert counts["blank_edge"] / total < 0.005
