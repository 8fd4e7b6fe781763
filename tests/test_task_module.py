"""`import xlmr_jax.tasks` as a T5X user's task module: tasks by name from gin or environment,
nothing read at import, and batches through XLMRFeatureConverter padded with id 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
import seqio
import xlmr_jax.tasks
from xlmr_jax.feature_converter import XLMRFeatureConverter

stats = sys.argv[1]
out = {"registered": len(xlmr_jax.tasks.REGISTERED), "stats_after_import": __import__("os").path.exists(stats)}
out["names"] = [n for n in ("xlmr.xnli.de", "xlmr.conll.nl", "xlmr.glue.sst2", "xlmr.cc100.fr")
                if n in seqio.TaskRegistry.names()]
out["mixture"] = "xlmr.cc100" in seqio.MixtureRegistry.names()
task = seqio.get_mixture_or_task("xlmr.xnli.de")
ds = seqio.get_dataset("xlmr.xnli.de", {"input_ids": 64}, dataset_split="validation", shuffle=False,
                       feature_converter=XLMRFeatureConverter.for_task(task))
out["xnli"] = [{k: v.tolist() for k, v in ex.items()} for ex in ds.take(3).as_numpy_iterator()]
mix = seqio.get_mixture_or_task("xlmr.cc100")
ds = seqio.get_dataset("xlmr.cc100", {"input_ids": 40}, dataset_split="train", shuffle=False,
                       feature_converter=XLMRFeatureConverter.for_task(mix))
out["cc100"] = [ex["encoder_input_tokens"].tolist() for ex in ds.take(2).as_numpy_iterator()]
out["stats_after_use"] = __import__("os").path.exists(stats)
out["rate_fr"] = mix.get_rate(seqio.get_mixture_or_task("xlmr.cc100.fr"))
print(json.dumps(out))
"""


def _run(env: dict, stats) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(stats)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def registered(data_dir, spm_model, pretrain_corpus, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    for lang in ("en", "fr", "de"):
        shutil.copyfile(pretrain_corpus / f"{lang}.txt", corpus / f"{lang}.txt")
    env = {
        "XLMR_SPM_MODEL": spm_model,
        "XLMR_BENCHMARK_DIR": str(data_dir),
        "XLMR_CORPUS_DIR": str(corpus),
    }
    return _run(env, corpus / "xlmr_corpus_stats.json")


def test_import_registers_tasks_by_name_without_reading_the_corpus(registered):
    assert registered["names"] == [
        "xlmr.xnli.de",
        "xlmr.conll.nl",
        "xlmr.glue.sst2",
        "xlmr.cc100.fr",
    ]
    assert registered["mixture"] and registered["registered"] > 50
    assert not registered["stats_after_import"]  # no corpus statistics at import
    assert registered["stats_after_use"]  # read when the mixture is first used
    assert 0.2 < registered["rate_fr"] < 0.5  # 3 languages, alpha 0.3: near 1/3


def test_feature_converter_pads_with_id_1(registered):
    for ex in registered["xnli"]:
        tokens = ex["encoder_input_tokens"]
        assert len(tokens) == 64 and tokens[0] == 0 and ex["label"] in (0, 1, 2)
        end = tokens.index(2, 1)  # </s></s> between premise and hypothesis, then the last </s>
        last = len(tokens) - 1 - tokens[::-1].index(2)
        assert end < last and set(tokens[last + 1 :]) == {1}  # padded with the pad id, not 0
        assert 0 not in tokens[1:]
    for block in registered["cc100"]:
        assert len(block) == 40 and block[0] == 0


def test_nothing_registered_without_locations(tmp_path):
    env = {k: "" for k in ("XLMR_SPM_MODEL", "XLMR_BENCHMARK_DIR", "XLMR_CORPUS_DIR")}
    code = "import xlmr_jax.tasks, seqio; print(len(xlmr_jax.tasks.REGISTERED))"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "0"
