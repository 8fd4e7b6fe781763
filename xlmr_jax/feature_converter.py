"""A seqio feature converter for XLM-R encoders, as T5X trainers take batches from seqio.

seqio's own converters pad with 0 (`<s>` in XLM-R's vocabulary; the pad id is 1) and expect
`inputs`/`targets`. This one trims and pads `input_ids` with the pad id into T5X's encoder name
`encoder_input_tokens`, and passes a task's targets (`label`, `label_ids`, `start_position`, ...)
through under their own names (other fields are dropped), padding token-level ones with 0 (`word_index` with -1).
Pretraining blocks are packed by the tasks' own preprocessors, so it never packs.
"""

from __future__ import annotations

from collections.abc import Mapping

import seqio
import tensorflow as tf

from xlmr_jax.finetuning.batching import PAD_VALUES
from xlmr_jax.finetuning.preprocessors import INPUT_IDS

Spec = seqio.FeatureConverter.FeatureSpec
ENCODER_INPUT = "encoder_input_tokens"


class XLMRFeatureConverter(seqio.FeatureConverter):
    """input_ids -> encoder_input_tokens (padded with 1); `targets` pass through."""

    TASK_FEATURES = {INPUT_IDS: Spec(dtype=tf.int32)}
    MODEL_FEATURES = {ENCODER_INPUT: Spec(dtype=tf.int32)}
    PACKING_FEATURE_DTYPES = {}

    def __init__(self, targets: Mapping[str, Spec] | None = None, pack: bool = False, **kwargs):
        if pack:
            raise ValueError(
                "XLMRFeatureConverter does not pack: pretraining tasks yield packed blocks."
            )
        self._targets = dict(targets or {})
        super().__init__(pack=False, passthrough_features=self._targets, **kwargs)

    def __call__(
        self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]
    ) -> tf.data.Dataset:
        """seqio's conversion; targets need no length of their own (token-level ones get
        input_ids' length), so T5X's `task_feature_lengths = {'input_ids': N}` suffices."""
        length = task_feature_lengths[INPUT_IDS]
        defaults = {name: length if spec.rank else 1 for name, spec in self._targets.items()}
        return super().__call__(ds, {**defaults, **task_feature_lengths})

    @classmethod
    def for_task(cls, task: seqio.Task | seqio.Mixture, **kwargs) -> XLMRFeatureConverter:
        """The converter with `task`'s output features other than input_ids as targets."""
        features = task.output_features
        targets = {
            name: Spec(dtype=f.dtype, rank=f.rank)
            for name, f in features.items()
            if name != INPUT_IDS
        }
        return cls(targets, **kwargs)

    def _convert_features(
        self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]
    ) -> tf.data.Dataset:
        def convert(features):
            out = {}
            for name in (INPUT_IDS, *self._targets):  # other fields (index, ...) are dropped
                value = features[name]
                if value.shape.rank == 1:
                    value = _trim_and_pad(
                        value, task_feature_lengths[name], PAD_VALUES.get(name, 0)
                    )
                out[ENCODER_INPUT if name == INPUT_IDS else name] = value
            return out

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def get_model_feature_lengths(self, task_feature_lengths: Mapping[str, int]) -> dict[str, int]:
        return {
            (ENCODER_INPUT if name == INPUT_IDS else name): length
            for name, length in task_feature_lengths.items()
        }


def _trim_and_pad(value: tf.Tensor, length: int, pad_value: int) -> tf.Tensor:
    value = value[:length]
    padding = tf.fill([length - tf.shape(value)[0]], tf.cast(pad_value, value.dtype))
    return tf.ensure_shape(tf.concat([value, padding], 0), [length])
