"""Masked-token accuracy on held-out text, per language, against a unigram baseline.

The baseline predicts, at every masked position, the language's most frequent token in the
training text: what a model that ignores context gets. A model "learns" when it beats it.
Masking: `mask_prob` of the real tokens (never `<s>`/`</s>`), all replaced by `<mask>`, fixed by
the seed, so the model and the baseline are scored on the same positions.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from xlmr_jax.model_checkpoint import LoadedModel
from xlmr_jax.vocab import XLMRVocabulary


@dataclasses.dataclass(frozen=True)
class LanguageAccuracy:
    lang: str
    masked: int  # masked positions scored
    model: float  # accuracy of the model's top prediction
    unigram: float  # accuracy of the language's most frequent training token


def token_counts(vocab: XLMRVocabulary, lines: Sequence[str]) -> collections.Counter:
    """Token id -> count over the lines (no specials)."""
    counts = collections.Counter()
    for ids in vocab.encode_batch(list(lines)):
        counts.update(ids)
    return counts


def _masked_batch(
    vocab: XLMRVocabulary, texts: Sequence[str], rng, max_length: int, max_masks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids [B, max_length] with <mask>, positions [B, max_masks], targets [B, max_masks] or -1)."""
    ids = np.full((len(texts), max_length), vocab.pad_id, np.int32)
    positions = np.zeros((len(texts), max_masks), np.int32)
    targets = np.full((len(texts), max_masks), -1, np.int32)
    for row, text in enumerate(texts):
        tokens = vocab.encode_single(text, max_length=max_length)
        real = np.arange(1, len(tokens) - 1)
        n = min(max_masks, max(1, round(0.15 * len(real))))
        chosen = np.sort(rng.choice(real, n, replace=False))
        ids[row, : len(tokens)] = tokens
        positions[row, :n] = chosen
        targets[row, :n] = ids[row, chosen]
        ids[row, chosen] = vocab.mask_id
    return ids, positions, targets


def masked_token_accuracy(
    model: LoadedModel,
    vocab: XLMRVocabulary,
    held_out: Mapping[str, Sequence[str]],
    unigram: Mapping[str, int],
    *,
    max_length: int = 64,
    batch_size: int = 64,
    seed: int = 0,
) -> list[LanguageAccuracy]:
    """Model vs unigram accuracy on 15% of the tokens of each language's held-out sentences."""
    max_masks = -(-15 * max_length // 100)
    allowed = np.zeros(model.config.vocab_size, bool)
    allowed[vocab.random_token_range[0] : vocab.random_token_range[1]] = True  # no specials
    out = []
    for i, (lang, texts) in enumerate(held_out.items()):
        rng = np.random.default_rng([seed, i])
        correct = baseline = total = 0
        for start in range(0, len(texts), batch_size):
            ids, positions, targets = _masked_batch(
                vocab, texts[start : start + batch_size], rng, max_length, max_masks
            )
            logits = model.predict(ids, masked_positions=positions)["logits"]
            predicted = np.where(allowed, logits, -np.inf).argmax(-1)
            scored = targets >= 0
            correct += int((predicted == targets)[scored].sum())
            baseline += int((targets == unigram[lang])[scored].sum())
            total += int(scored.sum())
        out.append(LanguageAccuracy(lang, total, correct / total, baseline / total))
    return out
