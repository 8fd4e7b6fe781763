"""The streaming TFDS route (tasks/tfds.py) under TFDS's own testing utilities; offline without
data it is one error line."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
import tensorflow_datasets as tfds

from xlmr_jax.tasks.tfds import register_tfds


@pytest.fixture(scope="module")
def names(spm_model):
    return register_tfds(spm_model, glue_tasks=("sst2", "stsb", "mnli"))


def _features(name: str, split: str, length: int = 48) -> list[dict]:
    task = seqio.get_mixture_or_task(name)
    ds = task.get_dataset({"input_ids": length}, split=split, shuffle=False)
    return list(ds.as_numpy_iterator())


def test_every_builder_streams_features(names):
    assert {"xlmr.tfds.xnli.de", "xlmr.tfds.pawsx.ko", "xlmr.tfds.glue.sst2", "xlmr.tfds.conll.en",
            "xlmr.tfds.xquad.th", "xlmr.tfds.mlqa.hi"} <= set(names)  # fmt: skip
    # Mocked xnli hypotheses carry random language codes and mocked conll2003 tokens and tags
    # differ in length: those two conversions are tested on hand-made records below.
    cases = {
        "xlmr.tfds.pawsx.ko": ("train", "label"),
        "xlmr.tfds.glue.sst2": ("validation", "label"),
        "xlmr.tfds.glue.stsb": ("train", "label"),
        "xlmr.tfds.glue.mnli": ("validation", "label"),
        "xlmr.tfds.xquad.th": ("test", "start_position"),
        "xlmr.tfds.mlqa.hi": ("test", "start_position"),
    }
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        for name, (split, target) in cases.items():
            features = _features(name, split)
            assert len(features) >= 6, name  # QA contexts may give several windows
            for f in features:
                ids = f["input_ids"]
                assert ids[0] == 0 and 2 in ids and len(ids) <= 48 and target in f, name
            assert sorted({int(f["index"]) for f in features}) == list(range(6)), name
    stsb = _mocked_labels("xlmr.tfds.glue.stsb", "train")
    assert stsb.dtype == np.float32


def _mocked_labels(name, split):
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        return np.array([f["label"] for f in _features(name, split)])


def test_xnli_picks_the_language_of_each_side():
    import tensorflow as tf

    from xlmr_jax.tasks.tfds import _xnli

    example = {
        "premise": {"de": tf.constant("Der Hund."), "fr": tf.constant("Le chien.")},
        "hypothesis": {
            "language": tf.constant(["de", "fr"]),
            "translation": tf.constant(["Ein Tier.", "Un animal."]),
        },
        "label": tf.constant(2, tf.int64),
    }
    out = _xnli("fr", example)
    assert (out["text_a"].numpy(), out["text_b"].numpy(), int(out["label"])) == (
        b"Le chien.",
        b"Un animal.",
        2,
    )


def test_conll2003_records_become_iob2_sentences():
    import tensorflow as tf

    from xlmr_jax.finetuning.tfds_records import TFDS_NER_TAGS
    from xlmr_jax.tasks.tfds import _conll

    tags = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]
    ner = tf.constant([TFDS_NER_TAGS.index(t) for t in tags], tf.int64)
    out = _conll({"tokens": tf.constant(["w"] * 6), "ner": ner})
    assert out["tags"].numpy().tolist() == [
        b"B-PER", b"I-PER", b"O", b"B-LOC", b"B-LOC", b"B-ORG",
    ]  # fmt: skip


def test_unprepared_builder_is_one_clear_error(names, tmp_path):
    register_tfds(
        seqio.get_mixture_or_task(names[0]).output_features["input_ids"].vocabulary,
        tfds_data_dir=str(tmp_path),
        glue_tasks=(),
    )
    with pytest.raises(FileNotFoundError) as e:
        _features("xlmr.tfds.xnli.de", "validation")
    message = str(e.value)
    assert "\n" not in message and "tfds build xnli" in message and str(tmp_path) in message


def test_tfds_records_are_streamed_and_shuffled_in_a_buffer(spm_model, tmp_path):
    """The file-task route with source='tfds' (finetuning/tfds_records.py): records are read and
    converted as they are iterated, never listed by get_dataset; `index` stays the row."""
    from xlmr_jax.finetuning.prediction import task_source
    from xlmr_jax.finetuning.tfds_records import PairFields, StreamedRecords, TfdsRecords
    from xlmr_jax.tasks.glue import register_glue

    converted = []
    fields = PairFields("sentence", None)

    def convert(row, example):
        converted.append(row)
        return fields(row, example)

    with tfds.testing.mock_data(num_examples=9, policy=tfds.testing.MockPolicy.USE_CODE):
        records = TfdsRecords("glue/sst2", "validation", convert)()
        assert isinstance(records, StreamedRecords)
        stream = iter(records)
        assert next(stream).line == 0 and converted == [0]  # one read, one converted
        assert [r.line for r in records] == list(range(9))  # read again from the start

        register_glue(tmp_path, spm_model, tasks=["sst2"], source="tfds")
        source = task_source(seqio.get_mixture_or_task("xlmr.glue.sst2"))
        shuffled = source.get_dataset("validation", shuffle=True, seed=1)
        indices = [int(ex["index"]) for ex in shuffled.as_numpy_iterator()]
        again = [int(ex["index"]) for ex in source.get_dataset("validation", seed=1)]
        listed = source.records("validation")
    assert sorted(indices) == list(range(9)) and indices != list(range(9)) and again == indices
    assert isinstance(listed, list) and [r.line for r in listed] == list(range(9))
