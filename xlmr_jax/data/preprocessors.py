"""seqio preprocessors for pretraining text, one job each: tokenize documents, pack into blocks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import seqio
import tensorflow as tf

from xlmr_jax.data.packing import TokenBlockPacker
from xlmr_jax.vocab import BOS_ID, EOS_ID

FEATURE = "input_ids"
_DOCS_PER_CALL = 256


def tokenize_sentences(
    dataset: tf.data.Dataset, output_features: Mapping[str, seqio.Feature]
) -> tf.data.Dataset:
    """{'text': a document's lines joined by '\\n'} -> {'tokens': int32 [n], 'lengths': int32 [s]}.

    Every line is tokenized on its own with the input_ids vocabulary (fairseq ids, no specials);
    'lengths' holds each line's number of tokens. Documents are tokenized in batches: one
    SentencePiece call per document costs ten times the tokenization itself.
    """
    vocabulary = output_features[FEATURE].vocabulary

    def tokenize(batch):
        lines = tf.strings.split(batch["text"], "\n")  # [documents, lines]
        ids = vocabulary.encode_tf(lines.flat_values)  # [lines, tokens]
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        return {
            "tokens": tf.RaggedTensor.from_row_splits(ids, lines.row_splits).merge_dims(1, 2),
            "lengths": tf.RaggedTensor.from_row_splits(lengths, lines.row_splits),
        }

    batches = dataset.batch(_DOCS_PER_CALL).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.unbatch()


def pack_blocks(
    dataset: tf.data.Dataset,
    tokens_per_sample: int = 512,
    break_mode: str = "complete",
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> tf.data.Dataset:
    """Tokenized documents -> {'input_ids': int32 [<= tokens_per_sample]}, fairseq's blocks.

    `<s>` + sentences each ending in `</s>`, packed in the fairseq break mode (packing.py);
    unpadded. Packing is sequential over the whole dataset (per shard), so it runs in Python,
    fed and emitted in batches of documents to keep the Python/TensorFlow crossings few.
    """
    TokenBlockPacker(tokens_per_sample, break_mode, bos_id=bos_id, eos_id=eos_id)  # checks args
    docs = dataset.ragged_batch(_DOCS_PER_CALL).map(_flatten_documents)

    def packed():
        packer = TokenBlockPacker(tokens_per_sample, break_mode, bos_id=bos_id, eos_id=eos_id)
        for batch in docs.as_numpy_iterator():
            sentences = np.split(batch["tokens"], np.cumsum(batch["lengths"])[:-1])
            blocks, start = [], 0
            for n in batch["sentences"]:
                blocks.extend(packer.add_document(sentences[start : start + n]))
                start += n
            if blocks:
                yield _join(blocks)
        final = list(packer.finish())
        if final:
            yield _join(final)

    spec = {"tokens": tf.TensorSpec([None], tf.int32), "lengths": tf.TensorSpec([None], tf.int32)}
    return tf.data.Dataset.from_generator(packed, output_signature=spec).flat_map(_split_blocks)


def _flatten_documents(batch: dict) -> dict:
    return {
        "tokens": batch["tokens"].flat_values,
        "lengths": batch["lengths"].flat_values,
        "sentences": tf.cast(batch["lengths"].row_lengths(), tf.int32),
    }


def _join(blocks: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "tokens": np.concatenate(blocks),
        "lengths": np.array([len(b) for b in blocks], np.int32),
    }


def _split_blocks(batch: dict) -> tf.data.Dataset:
    ends = tf.cumsum(batch["lengths"])
    bounds = tf.data.Dataset.from_tensor_slices((ends - batch["lengths"], ends))
    return bounds.map(lambda start, end: {FEATURE: batch["tokens"][start:end]})
