"""Masked-LM corruption on device, inside the jitted train step (static shapes, any sharding).

Per sequence, exactly int(mask_prob * n + U[0, 1)) of its n maskable units are chosen uniformly
without replacement (a unit is a token, or a word with whole-word masking); each chosen unit is
replaced by `<mask>` (80%), by a random real token (10%) or left as it is (10%), decided per unit
as fairseq's MaskTokensDataset does. Targets are the original tokens at every chosen position,
given as a fixed number M of (position, target, weight) slots so the LM head runs only there.

Differences from fairseq: specials (`<s>`, `</s>`, `<pad>`, whatever special_ids holds) are never
chosen and do not count in n (fairseq counts and may choose `<s>`/`</s>`: ~0.4% of its targets
for 512-token blocks); random tokens come from [vocab_low, vocab_high), the real pieces, where
fairseq's may also be `<mask>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import gin
import jax
import jax.numpy as jnp

from xlmr_jax.validation import check_field_types, probability


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    """The objective's rates (paper: 15% chosen; of those 80% `<mask>`, 10% random, 10% kept)."""

    mask_prob: float = 0.15
    leave_unmasked_prob: float = 0.1
    random_token_prob: float = 0.1
    whole_word_masking: bool = False

    def __post_init__(self):
        check_field_types(self)
        for name in ("mask_prob", "leave_unmasked_prob", "random_token_prob"):
            probability(f"MaskingConfig.{name}", getattr(self, name))
        if self.leave_unmasked_prob + self.random_token_prob > 1:
            raise ValueError(
                "MaskingConfig.leave_unmasked_prob + MaskingConfig.random_token_prob = "
                f"{self.leave_unmasked_prob + self.random_token_prob}: expected at most 1."
            )

    def max_predictions(self, length: int) -> int:
        """Slots M for sequences of `length`: never too few for token masking.

        With whole words a sequence's chosen tokens vary more; M is twice the token bound
        (positions past M stay unmasked and unpredicted, which is rare).
        """
        bound = int(self.mask_prob * length) + 1
        return min(length, 2 * bound if self.whole_word_masking else bound)


def mask_tokens(
    key: jax.Array,
    input_ids: jax.Array,
    *,
    mask_id: int,
    pad_id: int,
    special_ids: Sequence[int],
    vocab_low: int,
    vocab_high: int,
    mask_prob: float = 0.15,
    leave_unmasked_prob: float = 0.1,
    random_token_prob: float = 0.1,
    max_predictions: int,
    word_starts: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Corrupts int32 [B, L] input_ids; returns the new input_ids and [B, M] prediction slots.

    masked_positions / masked_targets (int32) hold the chosen positions in increasing order and
    their original tokens; masked_weights (float32) is 1 there and 0 on unused slots (position
    0, target pad_id). word_starts (bool [B, L]) switches on whole-word masking: a word is a
    start token and the non-special tokens after it. Deterministic given the key.
    """
    batch, length = input_ids.shape
    num_slots = max_predictions
    k_count, k_order, k_decide, k_random = jax.random.split(key, 4)
    positions = jnp.arange(length, dtype=jnp.int32)

    maskable = ~jnp.isin(input_ids, jnp.asarray(special_ids, input_ids.dtype))
    if word_starts is None:
        starts = maskable
    else:  # a maskable token right after a special also starts a word
        after_special = jnp.pad(~maskable[:, :-1], ((0, 0), (1, 0)), constant_values=True)
        starts = maskable & (word_starts | after_special)
    # Each token's unit: the position of its word start (itself without whole words).
    unit = jax.lax.cummax(jnp.where(starts, positions, -1), axis=1)
    in_unit = maskable & (unit >= 0)
    unit = jnp.maximum(unit, 0)

    # Choose exactly int(mask_prob * n + u) units: the smallest random scores among starts.
    num_units = starts.sum(axis=1)
    u = jax.random.uniform(k_count, (batch,))
    num_chosen = jnp.minimum(jnp.floor(mask_prob * num_units + u).astype(jnp.int32), num_units)
    scores = jnp.where(starts, jax.random.uniform(k_order, (batch, length)), 2.0)
    _, start_idx = jax.lax.top_k(-scores, num_slots)
    picked = jnp.arange(num_slots) < num_chosen[:, None]
    rows = jnp.arange(batch)[:, None]
    chosen_start = jnp.zeros((batch, length), bool).at[rows, start_idx].set(picked)
    chosen = in_unit & jnp.take_along_axis(chosen_start, unit, axis=1)

    # The first M chosen positions in order become the prediction slots.
    key_order = jnp.where(chosen, length - positions, 0)
    slot_key, slot_pos = jax.lax.top_k(key_order, num_slots)
    valid = slot_key > 0
    chosen = jnp.zeros((batch, length), bool).at[rows, slot_pos].set(valid)

    # 80/10/10 per unit: u < leave -> kept, < leave + random -> random token, else <mask>.
    decide = jnp.take_along_axis(jax.random.uniform(k_decide, (batch, length)), unit, axis=1)
    to_random = chosen & (decide >= leave_unmasked_prob)
    to_random &= decide < leave_unmasked_prob + random_token_prob
    to_mask = chosen & (decide >= leave_unmasked_prob + random_token_prob)
    random_ids = jax.random.randint(k_random, (batch, length), vocab_low, vocab_high, jnp.int32)
    new_ids = jnp.where(to_mask, mask_id, jnp.where(to_random, random_ids, input_ids))

    targets = jnp.take_along_axis(input_ids, slot_pos, axis=1)
    return {
        "input_ids": new_ids.astype(input_ids.dtype),
        "masked_positions": jnp.where(valid, slot_pos, 0).astype(jnp.int32),
        "masked_targets": jnp.where(valid, targets, pad_id).astype(jnp.int32),
        "masked_weights": valid.astype(jnp.float32),
    }


@dataclasses.dataclass(frozen=True)
class MaskIds:
    """The ids masking needs from a vocabulary: `<mask>`, `<pad>`, the specials never chosen,
    and the real pieces [vocab_low, vocab_high) that random replacements come from."""

    mask_id: int
    pad_id: int
    special_ids: tuple[int, ...]
    vocab_low: int
    vocab_high: int

    @classmethod
    def of(cls, vocab) -> MaskIds:
        """An `XLMRVocabulary`'s ids."""
        low, high = vocab.random_token_range
        return cls(vocab.mask_id, vocab.pad_id, tuple(vocab.special_ids), low, high)

    @classmethod
    def fairseq_layout(cls, vocab_size: int) -> MaskIds:
        """fairseq's layout without a SentencePiece model (planning, tests, benchmarks):
        ids 0-3 are `<s>`, `<pad>`, `</s>`, `<unk>`, and `<mask>` is the last id."""
        mask_id = vocab_size - 1
        return cls(mask_id, 1, (0, 1, 2, 3, mask_id), 4, mask_id)


def bind_masking(
    ids: MaskIds,
    length: int,
    config: MaskingConfig | None = None,
    word_starts: jax.Array | None = None,
):
    """`mask_tokens` bound to a vocabulary's ids, the objective's rates and the slot count for
    rows of `length`: a `(key, input_ids) -> masked` function. word_starts (bool per id)
    switches on whole-word masking (`config.whole_word_masking`)."""
    config = config or MaskingConfig()
    if config.whole_word_masking and word_starts is None:
        raise ValueError("whole-word masking needs the vocabulary's word_starts")
    starts_by_id = word_starts if config.whole_word_masking else None

    def mask_fn(key: jax.Array, input_ids: jax.Array) -> dict[str, jax.Array]:
        return mask_tokens(
            key,
            input_ids,
            mask_id=ids.mask_id,
            pad_id=ids.pad_id,
            special_ids=ids.special_ids,
            vocab_low=ids.vocab_low,
            vocab_high=ids.vocab_high,
            mask_prob=config.mask_prob,
            leave_unmasked_prob=config.leave_unmasked_prob,
            random_token_prob=config.random_token_prob,
            max_predictions=config.max_predictions(length),
            word_starts=None if starts_by_id is None else starts_by_id[input_ids],
        )

    return mask_fn
