"""TensorFlow SavedModel export (`jax.experimental.jax2tf`), as T5X users serve checkpoints.

The signature `serving_default` takes `input_ids` int32 [batch, length] (any batch and length up
to max_positions - 2, pad id 1, `<s> ... </s>` as `XLMRVocabulary.encode_single` makes them) and
returns the head's outputs by name (`logits`; `start_logits`/`end_logits` for QA;
`last_hidden_state` for a bare encoder). Parameters are variables, not constants, so the graph
stays small. No raw-text signature: TensorFlow Text's in-graph SentencePiece ops break
equal-score unigram ties differently from SentencePiece's own encoder (see `vocab._encode_tf`),
so their ids would differ from ours on some sentences; tokenize with `XLMRVocabulary` or the
exported `tokenizer.json`. `sentencepiece.model` is copied into `assets/` for reference.
"""

from __future__ import annotations

import os
import tempfile

import jax
import numpy as np

from xlmr_jax import storage
from xlmr_jax.model_checkpoint import LoadedModel, numpy_params

SIGNATURE = "serving_default"
PLATFORMS = ("cpu", "cuda", "tpu")  # lowered for each: one SavedModel serves on any of them
INPUT = "input_ids"
MARKER = "saved_model.pb"  # written last into the export
SPM_ASSET = "sentencepiece.model"


def _apply_fn(model: LoadedModel):
    module = model.module()

    def apply(params, input_ids):
        return module.apply({"params": params}, input_ids)

    return apply


def save_saved_model(
    out: storage.PathLike, model: LoadedModel, *, overwrite: bool = False
) -> storage.Path:
    """Write `out` atomically: a SavedModel with the `serving_default` signature over token ids."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    params = numpy_params(model.params, model.config)
    converted = jax2tf.convert(
        _apply_fn(model),
        polymorphic_shapes=[None, "(b, l)"],
        polymorphic_constraints=[f"l <= {model.config.max_tokens}"],
        native_serialization_platforms=PLATFORMS,
        with_gradient=False,
    )
    module = tf.Module()
    module.params = jax.tree.map(lambda x: tf.Variable(x, trainable=False), params)

    @tf.function(
        autograph=False, input_signature=[tf.TensorSpec([None, None], tf.int32, name=INPUT)]
    )
    def serve(input_ids):
        return converted(module.params, input_ids)

    module.serve = serve
    out = storage.as_path(out, "--out")
    with storage.atomic_directory(out, MARKER, overwrite=overwrite) as target:
        with tempfile.TemporaryDirectory() as tmp:  # TensorFlow writes local files here
            tf.saved_model.save(module, tmp, signatures={SIGNATURE: serve})
            if model.spm_path:
                storage.copy_file(model.spm_path, os.path.join(tmp, "assets", SPM_ASSET))
            files = sorted(storage.files_under(tmp), key=lambda p: p.name == MARKER)
            for file in files:  # MARKER last: it makes the directory a SavedModel
                storage.copy_file(file, target / os.path.relpath(file, tmp))
    return out


def outputs(saved_model_dir: str | os.PathLike, input_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Run the exported signature (what a TF server does) on [batch, length] ids."""
    import tensorflow as tf

    loaded = tf.saved_model.load(os.fspath(saved_model_dir))
    result = loaded.signatures[SIGNATURE](**{INPUT: tf.constant(input_ids, tf.int32)})
    return {k: v.numpy() for k, v in result.items()}
