"""Streaming seqio tasks over TensorFlow Datasets builders: `xlmr.tfds.<benchmark>...`.

For users with network (or a prepared TFDS data directory): `seqio.TfdsDataSource` reads the
builder's records as a tf.data stream (nothing is listed into memory), a `tf` map turns the
builder's fields into our example fields and the usual featurizer makes `input_ids` and targets,
so the features equal the file-based tasks'. Builders: `xnli` and `paws_x_wiki/<lang>`
(classification), `glue/<task>`, `conll2003` (NER), `xquad/<lang>` and `mlqa/<ctx>.<q>` (QA).
Nothing is downloaded: an unprepared builder ends in one error naming `tfds build`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import seqio
import tensorflow as tf

from xlmr_jax.data.formats.glue import glue_task
from xlmr_jax.data.formats.nli import NLI_LABELS, XNLI_LANGUAGES
from xlmr_jax.finetuning.ner import NER_LABELS
from xlmr_jax.finetuning.registration import as_vocabulary, task_parts
from xlmr_jax.finetuning.sources import TaskInfo
from xlmr_jax.finetuning.tfds_records import TFDS_NER_TAGS
from xlmr_jax.tasks.glue import GLUE_TASKS, TFDS_MNLI_SPLITS
from xlmr_jax.tasks.glue import TFDS_FIELDS as GLUE_FIELDS
from xlmr_jax.vocab import XLMRVocabulary

PREFIX = "xlmr.tfds"
SPLITS = ("train", "validation", "test")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
QA_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")


class TfdsSource(seqio.TfdsDataSource):
    """seqio's TFDS source; a builder that is not prepared is one clear error, not a traceback."""

    def num_input_examples(self, split: str) -> int | None:
        """The split's size from the builder's info, None where there is none (not prepared:
        `get_dataset` then says so)."""
        try:
            return super().num_input_examples(split)
        except (KeyError, AssertionError, OSError):
            return None

    def get_dataset(self, split: str = "train", *args, **kwargs) -> tf.data.Dataset:
        try:
            return super().get_dataset(split, *args, **kwargs)
        except Exception as e:  # TFDS raises AssertionError/DatasetNotFoundError/OSError here
            name = self.tfds_dataset.name
            raise FileNotFoundError(
                f"TFDS {name} split {split!r} is not prepared in "
                f"{self.tfds_dataset.data_dir or '~/tensorflow_datasets'} and nothing is "
                f"downloaded here; run `tfds build {name.split(':')[0]}` where there is "
                "network, or point tfds_data_dir at a prepared copy "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
            ) from None


def _versioned(name: str) -> str:
    """`builder[/config]:version` (seqio wants a version) of the installed TFDS builder code."""
    import tensorflow_datasets as tfds

    builder, _, config = name.partition("/")
    cls = tfds.builder_cls(builder)
    configs = {c.name: c for c in cls.BUILDER_CONFIGS}
    version = (configs[config].version if config else None) or cls.VERSION
    return f"{name}:{version}"


def _indexed(to_example: Callable[[dict], dict]):
    """A preprocessor: to_example on every record, plus its position as `index`."""

    def preprocess(dataset: tf.data.Dataset) -> tf.data.Dataset:
        def convert(i, ex):
            return {"index": tf.cast(i, tf.int32), **to_example(ex)}

        return dataset.enumerate().map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    return preprocess


def _xnli(lang: str, ex: dict) -> dict:
    hypothesis = ex["hypothesis"]
    which = tf.where(tf.equal(hypothesis["language"], lang))[0, 0]
    return {
        "text_a": ex["premise"][lang],
        "text_b": hypothesis["translation"][which],
        "label": tf.cast(ex["label"], tf.int32),
    }


def _pair(text_a: str, text_b: str | None, ex: dict, regression: bool = False) -> dict:
    return {
        "text_a": ex[text_a],
        "text_b": ex[text_b] if text_b else tf.constant(""),
        "label": tf.cast(ex["label"], tf.float32 if regression else tf.int32),
    }


def _iob1_to_iob2(tags: tf.Tensor) -> tf.Tensor:
    """I-X after O or after another type starts an entity: B-X (CoNLL-2003's IOB1 -> IOB2)."""
    previous = tf.concat([["O"], tags[:-1]], 0)
    kind = tf.strings.regex_replace(tags, "^[BI]-", "")
    starts = tf.strings.regex_full_match(tags, "I-.*") & (
        tf.equal(previous, "O")
        | tf.not_equal(tf.strings.regex_replace(previous, "^[BI]-", ""), kind)
    )
    return tf.where(starts, tf.strings.join(["B-", kind]), tags)


def _conll(ex: dict) -> dict:
    tags = tf.gather(tf.constant(TFDS_NER_TAGS), tf.cast(ex["ner"], tf.int32))
    return {"tokens": ex["tokens"], "tags": _iob1_to_iob2(tags)}


def _squad(ex: dict) -> dict:
    return {
        "question": ex["question"],
        "context": ex["context"],
        "answer_starts": tf.cast(ex["answers"]["answer_start"], tf.int32),
        "answer_texts": ex["answers"]["text"],
    }


def _add(
    name: str,
    tfds_name: str,
    splits: dict[str, str],
    to_example: Callable[[dict], dict],
    info: TaskInfo,
    vocab: XLMRVocabulary,
    tfds_data_dir: str | None,
    **featurizer_options,
) -> str:
    preprocessors, output_features = task_parts(info, vocab, **featurizer_options)
    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=TfdsSource(
            tfds_name=_versioned(tfds_name), tfds_data_dir=tfds_data_dir, splits=splits
        ),
        output_features=output_features,
        preprocessors=[_indexed(to_example), *preprocessors],
    )
    return name


def register_tfds(
    vocabulary: XLMRVocabulary | str,
    *,
    tfds_data_dir: str | None = None,
    glue_tasks: Sequence[str] = GLUE_TASKS,
) -> list[str]:
    """Registers the streaming TFDS tasks; returns their names."""
    vocab = as_vocabulary(vocabulary)
    eval_splits = {"validation": "validation", "test": "test"}  # builders without train
    names = []
    for lang in XNLI_LANGUAGES:
        info = TaskInfo("classification", "xnli", lang, "xnli", NLI_LABELS)
        to_example = functools.partial(_xnli, lang)
        names.append(
            _add(f"{PREFIX}.xnli.{lang}", "xnli", eval_splits, to_example, info, vocab,
                 tfds_data_dir, pair=True)
        )  # fmt: skip
    for lang in PAWSX_LANGUAGES:
        info = TaskInfo("classification", "pawsx", lang, "pawsx", ("0", "1"))
        to_example = functools.partial(_pair, "sentence1", "sentence2")
        splits = {"train": "train", **eval_splits}
        names.append(
            _add(f"{PREFIX}.pawsx.{lang}", f"paws_x_wiki/{lang}", splits, to_example, info,
                 vocab, tfds_data_dir, pair=True)
        )  # fmt: skip
    for task in glue_tasks:
        spec = glue_task(task)
        builder = "mnli" if spec.name == "mnli-mm" else spec.name
        splits = {s: TFDS_MNLI_SPLITS.get(spec.name, {}).get(s, s) for s in SPLITS}
        kind = "classification" if spec.labels else "regression"
        info = TaskInfo(kind, "glue", spec.name, f"glue-{spec.name}", spec.labels)
        to_example = functools.partial(_pair, *GLUE_FIELDS[spec.name], regression=not spec.labels)
        names.append(
            _add(f"{PREFIX}.glue.{spec.name.replace('-', '_')}", f"glue/{builder}", splits,
                 to_example, info, vocab, tfds_data_dir, pair=spec.text_b is not None)
        )  # fmt: skip
    conll_splits = {"train": "train", "validation": "dev", "test": "test"}
    info = TaskInfo("ner", "conll", "en", "conll", NER_LABELS)
    names.append(
        _add(f"{PREFIX}.conll.en", "conll2003", conll_splits, _conll, info, vocab, tfds_data_dir)
    )
    for lang in QA_LANGUAGES:
        info = TaskInfo("qa", "xquad", lang, "xquad")
        names.append(
            _add(f"{PREFIX}.xquad.{lang}", f"xquad/{lang}", {"test": "test"}, _squad, info,
                 vocab, tfds_data_dir)
        )  # fmt: skip
    for lang in MLQA_LANGUAGES:
        info = TaskInfo("qa", "mlqa", lang, "mlqa", metric_language=lang)
        names.append(
            _add(f"{PREFIX}.mlqa.{lang}", f"mlqa/{lang}", eval_splits, _squad, info, vocab,
                 tfds_data_dir)
        )  # fmt: skip
    return names
