"""Model selection: joint average vs per language, ties, early stopping."""

from __future__ import annotations

import pytest

from xlmr_jax.finetuning.selection import Choice, ModelSelection

# Dev accuracy per epoch (step = 100 * epoch) for three languages.
HISTORY = [
    (100, {"en": 70.0, "fr": 60.0, "sw": 40.0}),  # avg 56.67
    (200, {"en": 80.0, "fr": 58.0, "sw": 41.0}),  # avg 59.67  en best
    (300, {"en": 76.0, "fr": 66.0, "sw": 42.0}),  # avg 61.33  joint best, fr best
    (400, {"en": 75.0, "fr": 62.0, "sw": 47.0}),  # avg 61.33  tie: joint stays at 300; sw best
    (500, {"en": 74.0, "fr": 61.0, "sw": 45.0}),  # avg 60.00
]


def test_joint_and_per_language_pick_the_expected_epochs():
    selection = ModelSelection(["en", "fr", "sw"])
    updates = [selection.update(step, scores) for step, scores in HISTORY]
    assert selection.joint == Choice(300, pytest.approx((76 + 66 + 42) / 3))
    assert selection.per_language == {
        "en": Choice(200, 80.0),
        "fr": Choice(300, 66.0),
        "sw": Choice(400, 47.0),
    }
    assert [u.joint_improved for u in updates] == [True, True, True, False, False]
    assert [u.improved_languages for u in updates] == [
        ("en", "fr", "sw"),
        ("en", "sw"),
        ("fr", "sw"),
        ("sw",),
        (),
    ]
    assert selection.per_language_steps() == {200, 300, 400}
    assert not any(u.stop for u in updates)  # no patience: train every epoch


def test_early_stopping_counts_evaluations_without_a_better_average():
    selection = ModelSelection(["en", "fr", "sw"], patience=2)
    stops = [selection.update(step, scores).stop for step, scores in HISTORY]
    assert stops == [False, False, False, False, True]
    assert selection.joint.step == 300


def test_missing_language_and_bad_patience_are_errors():
    with pytest.raises(ValueError, match="lack languages"):
        ModelSelection(["en", "fr"]).update(1, {"en": 1.0})
    with pytest.raises(ValueError, match="patience"):
        ModelSelection(["en"], patience=0)
