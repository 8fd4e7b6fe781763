"""TensorFlow runs only the input pipelines and must not claim a GPU/TPU that JAX needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PIPELINE = """
import json, sys, seqio
from xlmr_jax.data.pipeline import PretrainPipeline
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.tasks.pretrain import register_cc100
import pathlib, tensorflow as tf
text, spm, out = map(pathlib.Path, sys.argv[1:4])
write_sample_corpus(text, out, ["en", "sw"], xz=False)
mixture = register_cc100(out, spm, name="tf_hygiene", validation_fraction=0.05)
pipeline = PretrainPipeline(mixture, 8, seed=0, shard_info=seqio.ShardInfo(0, 1))
batch = next(pipeline)
print(json.dumps({
    "rows": int(batch["input_ids"].shape[0]),
    "visible": sorted({d.device_type for d in tf.config.get_visible_devices()}),
    "logical": sorted({d.device_type for d in tf.config.list_logical_devices()}),
}))
"""


def test_the_input_pipeline_leaves_tensorflow_on_the_cpu_only(data_dir, spm_model, tmp_path):
    """A fresh process builds the pretraining pipeline and reads a batch (tf.data ran), then
    lists TensorFlow's devices: CPU only, whatever accelerators the host has."""
    done = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(data_dir / "text"), str(spm_model), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 8
    assert result["visible"] == ["CPU"] and result["logical"] == ["CPU"]
