"""seqio registrations of the fine-tuning tasks: real-data counts through the tasks, every gin
setting resolving to registered, compatible tasks, and the TFDS sources (on mock data)."""

from __future__ import annotations

import gin
import numpy as np
import pytest
import seqio
import tensorflow_datasets as tfds

from xlmr_jax import gin_utils
from xlmr_jax.data.formats import read_conll, read_glue, read_xnli_tsv
from xlmr_jax.finetuning import session
from xlmr_jax.finetuning.epochs import epoch_dataset
from xlmr_jax.finetuning.ner import NER_LABELS
from xlmr_jax.finetuning.prediction import task_source
from xlmr_jax.finetuning.specs import EvalSpec, Recipe, TrainSpec
from xlmr_jax.tasks.glue import register_glue
from xlmr_jax.tasks.ner import register_conll
from xlmr_jax.tasks.xnli import register_xnli

SETTINGS = sorted(p.stem for p in (gin_utils.package_gin_dir() / "finetune").glob("*.gin"))


def features(name: str, split: str, max_length: int) -> list[dict]:
    task = seqio.get_mixture_or_task(name)
    dataset = task.get_dataset({"input_ids": max_length}, split=split, shuffle=False)
    return list(dataset.as_numpy_iterator())


def test_xnli_tasks_read_the_dev_files(data_dir, spm_model):
    register_xnli(data_dir, spm_model, languages=["en", "zh"])
    for lang in ("en", "zh"):
        gold = read_xnli_tsv(data_dir / "xnli" / f"dev-{lang}.tsv")
        feats = features(f"xlmr.xnli.{lang}", "validation", 128)
        assert [f["index"] for f in feats] == list(range(len(gold))) and len(gold) == 2490
        assert [f["label"] for f in feats] == [g.label for g in gold]
        assert max(len(f["input_ids"]) for f in feats) <= 128
    info = task_source(seqio.get_mixture_or_task("xlmr.xnli.zh")).info
    assert (info.kind, info.column, info.metric, info.num_labels) == (
        "classification",
        "zh",
        "accuracy",
        3,
    )


def test_conll_windows_cover_every_word_of_every_sentence(data_dir, spm_model):
    register_conll(data_dir, spm_model)
    files = {"en": "conll2003/eng.testa", "de": "conll2003/german/deu.testa",
             "es": "conll2002/esp.testa", "nl": "conll2002/ned.testa"}  # fmt: skip
    counts = {"en": 3250, "de": 2867, "es": 1915, "nl": 2895}  # SOURCES.md
    for lang, path in files.items():
        gold = read_conll(data_dir / path)
        feats = features(f"xlmr.conll.{lang}", "validation", 32)  # short windows: many splits
        words = {}
        for f in feats:
            starts = f["word_index"] >= 0
            for w, label in zip(f["word_index"][starts], f["label_ids"][starts]):
                words[(int(f["index"]), int(w))] = NER_LABELS[label]
        assert len(gold) == counts[lang]
        assert len({int(f["index"]) for f in feats}) == counts[lang]
        assert len(feats) > counts[lang]  # some sentences needed several windows
        # IOB2 labels of every word; the chunks are the file's (IOB1 for en and de)
        expected = {(i, w): t for i, s in enumerate(gold) for w, t in enumerate(s.tags)}
        assert words.keys() == expected.keys()
        assert all(
            words[k] == t or (t[:2], words[k][:2]) == ("I-", "B-") for k, t in expected.items()
        )


def test_glue_dev_sets(data_dir, spm_model):
    register_glue(data_dir, spm_model, tasks=["qnli", "sst2", "mrpc", "stsb", "rte"])
    dirs = {"qnli": "QNLI", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "rte": "RTE"}
    for task, directory in dirs.items():
        gold = read_glue(data_dir / "glue" / directory / "dev.tsv", task)
        feats = features(f"xlmr.glue.{task}", "validation", 128)
        assert len(feats) == len(gold)
        labels = np.array([f["label"] for f in feats])
        np.testing.assert_allclose(labels, [g.label for g in gold], rtol=1e-6)
    assert features("xlmr.glue.sst2", "validation", 128)[0]["input_ids"].tolist().count(2) == 1
    info = task_source(seqio.get_mixture_or_task("xlmr.glue.stsb")).info
    assert (info.kind, info.num_labels, info.metric) == ("regression", 1, "pearson")


def test_missing_files_name_every_layout(tmp_path, spm_model):
    register_xnli(tmp_path, spm_model, languages=["fr"])
    with pytest.raises(FileNotFoundError) as error:
        features("xlmr.xnli.translate_test.fr", "test", 128)
    assert "XNLI-MT-1.0/xnli/xnli.test.en.tsv" in str(error.value)
    assert str(tmp_path) in str(error.value)


@gin.configurable
def setting_probe(
    model_config=gin.REQUIRED,
    task_registrations=gin.REQUIRED,
    train=gin.REQUIRED,
    dev=gin.REQUIRED,
    test=None,
    recipe=None,
):
    return model_config, task_registrations, train, dev, test, recipe


@pytest.mark.parametrize("setting", SETTINGS)
def test_gin_setting_resolves_to_registered_compatible_tasks(setting, tmp_path, spm_model):
    probe = [f"setting_probe.{k} = %{k.upper()}" for k in ("train", "dev", "test")]
    probe += ["setting_probe.model_config = %MODEL_CONFIG"]
    probe += [
        "setting_probe.task_registrations = %REGISTRATIONS",
        "setting_probe.recipe = @Recipe()",
    ]
    gin_utils.parse([f"finetune/{setting}.gin"], probe, require=False)
    config, registrations, train, dev, test, recipe = setting_probe()
    assert config.hidden_size == 1024 and config.num_layers == 24  # models/large.gin
    assert isinstance(train, TrainSpec) and isinstance(dev, EvalSpec) and isinstance(recipe, Recipe)
    session.register_tasks(registrations, str(tmp_path), session.XLMRVocabulary(spm_model))
    names = list(train.task_names()) + list(dev.tasks().values())
    names += list(test.tasks().values()) if test else []
    info = session.common_info(names)  # raises if a task is missing or heads differ
    assert all(train.split in seqio.get_mixture_or_task(n).splits for n in train.task_names())
    assert all(dev.split in seqio.get_mixture_or_task(n).splits for n in dev.tasks().values())
    # Goyal et al. 2021 section 2.3: batch 32, 10 epochs for every task
    assert (recipe.batch_size, recipe.num_epochs) == (32, 10) and recipe.learning_rate <= 3e-5
    assert recipe.max_length == (384 if info.kind == "qa" else 128)
    if train.one_model_per_language:
        assert list(train.languages) == list(dev.languages)
    gin.clear_config()


def test_tfds_sources_feed_the_same_tasks(spm_model, tmp_path):
    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        register_glue(tmp_path, spm_model, tasks=["sst2", "stsb"], source="tfds")
        sst2 = features("xlmr.glue.sst2", "validation", 64)
        stsb = task_source(seqio.get_mixture_or_task("xlmr.glue.stsb")).records("train")
    assert len(sst2) == 5 and {f["label"] for f in sst2} <= {0, 1}
    assert all(isinstance(r.label, float) and r.text_b for r in stsb)


def test_an_epoch_of_several_tasks_holds_each_feature_once(data_dir, spm_model):
    register_xnli(data_dir, spm_model, languages=["en", "zh"])
    names = ["xlmr.xnli.en", "xlmr.xnli.zh"]
    recipe = Recipe(max_length=64, seed=3)
    epochs = []
    for epoch in (0, 1):
        dataset = epoch_dataset(names, {n: 2490 for n in names}, "validation", recipe, epoch)
        epochs.append([(len(f["input_ids"]), int(f["index"])) for f in dataset.as_numpy_iterator()])
    en = features("xlmr.xnli.en", "validation", 64)
    zh = features("xlmr.xnli.zh", "validation", 64)
    expected = sorted((len(f["input_ids"]), int(f["index"])) for f in en + zh)
    assert sorted(epochs[0]) == sorted(epochs[1]) == expected  # every feature once per epoch
    assert epochs[0] != epochs[1]  # reshuffled
    # interleaved, not concatenated: the first 2490 features repeat indices of both tasks
    first_half = {i for _, i in epochs[0][:2490]}
    assert len(first_half) < 2490
