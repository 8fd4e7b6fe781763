"""Bad inputs -> one `error:` line naming the binding, file or line, exit 2 (issue 13, items 8-15).

Each case runs `xlmr` in a subprocess under a timeout, so a case that hangs fails instead of
stalling the suite, and a traceback (which only XLMR_DEBUG=1 may print) is caught.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from xlmr_jax.config import ModelConfig
from xlmr_jax.model import XLMRoberta
from xlmr_jax.model_checkpoint import PARAMS_DIR, save_model
from xlmr_jax.vocab import XLMRVocabulary

TIMEOUT_S = 240
NOT_A_MODEL = "not a SentencePiece model\n" * 50
RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"


@dataclasses.dataclass(frozen=True)
class Inputs:
    root: Path
    spm: str
    corpus: Path
    checkpoint: Path

    def train(self, *bindings: str) -> list[str]:
        """`xlmr train` of gin/pretrain/tiny_cpu.gin on the test corpus, then `bindings`."""
        return [
            "train",
            "--gin_file=pretrain/tiny_cpu.gin",
            f"--gin.DATA_DIR='{self.corpus}'",
            f"--gin.SPM_MODEL='{self.spm}'",
            f"--gin.MODEL_DIR='{self.root / 'run'}'",
            "--gin.TRAIN_STEPS=2",
            "--gin.WARMUP_STEPS=1",
            "--gin.BATCH_SIZE=4",
            "--gin.TOKENS_PER_SAMPLE=32",
            "--gin.train.eval_every=0",
            *(f"--gin.{b}" for b in bindings),
        ]

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, spm_model, pretrain_corpus) -> Inputs:
    root = tmp_path_factory.mktemp("bad_inputs")
    config = ModelConfig(
        vocab_size=XLMRVocabulary(spm_model).vocab_size,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        mlp_dim=32,
    )
    ids = jax.numpy.full((1, 4), 5)
    params = XLMRoberta(config).init(jax.random.PRNGKey(0), ids)["params"]
    checkpoint = save_model(root / "ckpt", params, config, spm_path=spm_model)
    return Inputs(root, spm_model, pretrain_corpus, checkpoint)


def _flipped(inputs: Inputs) -> Path:
    """A copy of the checkpoint with 64 bytes flipped inside its largest parameter data file."""
    checkpoint = Path(shutil.copytree(inputs.checkpoint, inputs.root / "flipped"))
    files = [p for p in (checkpoint / PARAMS_DIR).rglob("*") if p.is_file()]
    data = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(b ^ 0xFF for b in raw[middle : middle + 64])
    data.write_bytes(bytes(raw))
    return checkpoint


def _glue_without_label(inputs: Inputs) -> list[str]:
    """`xlmr finetune` on GLUE RTE whose train.tsv has no label column (dev has one)."""
    inputs.write("glue/glue/RTE/train.tsv", "index\tsentence1\tsentence2\n0\ta\tb\n")
    inputs.write("glue/glue/RTE/dev.tsv", RTE_HEADER + "0\ta\tb\tentailment\n")
    return [
        "finetune",
        "--gin_file=finetune/glue_rte.gin",
        "--gin_file=models/tiny.gin",
        "--gin.INIT_CHECKPOINT=None",
        f"--gin.SPM_MODEL='{inputs.spm}'",
        f"--gin.DATA_DIR='{inputs.root / 'glue'}'",
        f"--gin.MODEL_DIR='{inputs.root / 'ft'}'",
        "--gin.Recipe.max_steps=2",
    ]


def _no_torch(root: Path) -> Path:
    """A folder whose `torch` package fails to import as if PyTorch were not installed."""
    package = root / "no_torch" / "torch"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
    )
    return package.parent


# (id, argv from Inputs, expected text of the error line with {root} filled in)
CASES = [
    (
        "glue_train_without_label",
        lambda i: _glue_without_label(i),
        "{root}/glue/glue/RTE/train.tsv:1: no label column 'label' for GLUE rte",
    ),
    (
        "mask_prob_above_one",
        lambda i: i.train("MaskingConfig.mask_prob=2.0"),
        "MaskingConfig.mask_prob = 2.0: expected a probability in [0, 1]",
    ),
    (
        "recipe_max_steps_zero",
        lambda i: [
            "finetune",
            "--gin_file=finetune/glue_rte.gin",
            "--gin.INIT_CHECKPOINT=None",
            f"--gin.MODEL_DIR='{i.root / 'ft0'}'",
            "--gin.Recipe.max_steps=0",
        ],
        "Recipe.max_steps = 0: expected an integer >= 1 or None",
    ),
    (
        "stsb_prediction_nan",
        lambda i: [
            "score",
            "--benchmark=glue-stsb",
            "--gold="
            + str(
                i.write(
                    "stsb.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1.0\n1\tc\td\t2\n"
                )
            ),
            "--predictions=" + str(i.write("stsb_pred.txt", "1.5\nnan\n")),
        ],
        "{root}/stsb_pred.txt:2: 'nan' is not a finite number",
    ),
    (
        "model_dir_empty",
        lambda i: i.train("MODEL_DIR=''"),
        "train.model_dir (from MODEL_DIR) = '': expected a non-empty path",
    ),
    (
        "model_dir_unset",
        lambda i: [a for a in i.train() if not a.startswith("--gin.MODEL_DIR")],
        "MODEL_DIR is required: set it with --gin.MODEL_DIR=VALUE",
    ),
    ("no_gin_file", lambda i: ["train"], "no --gin_file given"),
    (
        "word_for_an_int",
        lambda i: i.train("TRAIN_STEPS='ten'"),
        "train.total_steps (from TRAIN_STEPS) = 'ten': expected an integer",
    ),
    (
        "word_for_a_learning_rate",
        lambda i: i.train("PEAK_LR='fast'"),
        "learning_rate_schedule.peak_learning_rate (from PEAK_LR) = 'fast': expected a number",
    ),
    (
        "undefined_macro",
        lambda i: i.train("train.batch_size=%NO_SUCH_MACRO"),
        "train.batch_size: macro %NO_SUCH_MACRO is not defined",
    ),
    (
        "gin_syntax_error",
        lambda i: (
            i.train() + ["--gin_file=" + str(i.write("broken.gin", "train.log_every = (1,\n"))]
        ),
        "invalid gin configuration: {root}/broken.gin:2: EOF in multi-line statement",
    ),
    (
        "gin_bad_value",
        lambda i: i.train("train.log_every=1 +"),
        "invalid gin configuration:",
    ),
    (
        "log_every_zero",
        lambda i: i.train("train.log_every=0"),
        "train.log_every = 0: expected an integer >= 1",
    ),
    (
        "checkpoint_period_zero",
        lambda i: i.train("CheckpointConfig.period=0"),
        "CheckpointConfig.period = 0: expected an integer >= 1",
    ),
    (
        "checkpoint_keep_zero",
        lambda i: i.train("CheckpointConfig.keep=0"),
        "CheckpointConfig.keep = 0: expected an integer >= 1",
    ),
    (
        "batch_size_zero",
        lambda i: i.train("BATCH_SIZE=0"),
        "train.batch_size (from BATCH_SIZE) = 0: expected an integer >= 1",
    ),
    (
        "spm_model_text",
        lambda i: i.train(f"SPM_MODEL='{i.write('text.model', NOT_A_MODEL)}'"),
        "{root}/text.model is not a valid SentencePiece model",
    ),
    (
        "spm_model_truncated",
        lambda i: i.train(f"SPM_MODEL='{i.write('cut.model', Path(i.spm).read_bytes()[:5000])}'"),
        "{root}/cut.model is not a valid SentencePiece model",
    ),
    (
        "spm_model_missing",
        lambda i: i.train(f"SPM_MODEL='{i.root / 'nope.model'}'"),
        "SentencePiece model not found: {root}/nope.model",
    ),
    (
        "predictions_is_a_directory",
        lambda i: [
            "score",
            "--benchmark=glue-stsb",
            "--gold="
            + str(i.write("stsb.tsv", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1\n")),
            f"--predictions={i.root}",
        ],
        "{root}",
    ),
    (
        "model_dir_is_a_file",
        lambda i: i.train(f"MODEL_DIR='{i.write('a_file', '')}'"),
        "{root}/a_file",
    ),
    (
        "fairseq_import_without_torch",
        lambda i: ["import", "--from", "fairseq", str(i.write("model.pt", b"x")), "--out", "x"],
        'reading fairseq checkpoints needs PyTorch; pip install "xlmr-jax[fairseq]"',
    ),
    (
        "export_overwrite_onto_a_file",
        lambda i: [
            "export",
            "--checkpoint",
            str(i.checkpoint),
            "--to",
            "hf",
            "--out",
            str(i.write("exported_file", "old")),
            "--overwrite",
        ],
        "{root}/exported_file is a file, not a directory",
    ),
    (
        "flipped_bytes_in_checkpoint",
        lambda i: ["fill-mask", "--checkpoint", str(_flipped(i)), "a <mask> b"],
        "{root}/flipped/params",
    ),
]


@pytest.mark.parametrize("name, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line(inputs, name, argv, expected):
    env = {k: v for k, v in os.environ.items() if k != "XLMR_DEBUG"}
    if name == "fairseq_import_without_torch":
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_no_torch(inputs.root)), env.get("PYTHONPATH", "")]
        )
    args = argv(inputs)
    result = subprocess.run(
        [sys.executable, "-m", "xlmr_jax.cli", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        cwd=inputs.root,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("xlmr ")]
    wanted = expected.format(root=inputs.root)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1 and errors[0].startswith(f"xlmr {args[0]}: error: "), result.stderr
    assert wanted in errors[0], errors[0]
