"""Evaluate a fine-tuned model checkpoint on a setting's languages (`xlmr eval`).

The checkpoint (saved by `finetune`, `best/` or `per_language/step_<n>/`) brings its config,
head, labels and SentencePiece model; the setting's gin file brings the tasks, data directory
and specs. Writes results.json (last), results.md, evaluation.json and predictions/ to
output_dir. Several processes (jax.distributed) evaluate together; process 0 writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin
import optax

from xlmr_jax import sharding, storage
from xlmr_jax.finetuning import reporting, session
from xlmr_jax.finetuning.loop import FinetuneResult
from xlmr_jax.finetuning.specs import EvalSpec, Recipe
from xlmr_jax.model import XLMRoberta
from xlmr_jax.model_checkpoint import load_model
from xlmr_jax.vocab import XLMRVocabulary

SPLITS = ("test", "dev")


@gin.configurable
def evaluate_checkpoint(
    checkpoint: str,
    output_dir: str,
    *,
    task_registrations: Sequence[session.Registration] = gin.REQUIRED,
    dev: EvalSpec = gin.REQUIRED,
    test: EvalSpec | None = None,
    split: str = "test",
    languages: Sequence[str] | None = None,
    recipe: Recipe | None = None,
    data_dir: str | None = None,
    setting: str = "",
    model_name: str = "xlmr",
    mesh_config: sharding.MeshConfig | None = None,
    overwrite: bool = False,
) -> FinetuneResult:
    """split "test": the setting's test spec (its dev spec when it has none); "dev": dev.

    An output_dir with results.json holds finished results: refused unless `overwrite` (then
    the results and predictions there are deleted first; nothing else is)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    output = storage.as_path(output_dir, "output directory")
    reporting.replace_finished(
        output,
        overwrite,
        reporting.clear_report,
        f"holds finished results ({reporting.RESULTS_FILE}); pass --overwrite to replace them, "
        "or choose another --output.",
    )
    recipe = recipe or Recipe()
    loaded = load_model(checkpoint)
    if not loaded.spm_path:
        raise FileNotFoundError(f"{checkpoint} has no SentencePiece model")
    vocab = XLMRVocabulary(loaded.spm_path)
    session.register_tasks(task_registrations, data_dir, vocab)
    spec = (test or dev) if split == "test" else dev
    spec = spec.restrict(languages) if languages else spec
    info = session.common_info(list(spec.tasks().values()))
    labels = tuple(loaded.id2label[i] for i in sorted(loaded.id2label)) if loaded.id2label else None
    expected = (info.task_kind.head, info.num_labels, info.labels if labels else None)
    if (loaded.head, loaded.num_labels, labels) != expected:
        raise ValueError(
            f"{checkpoint} has head {loaded.head} with {loaded.num_labels} labels {labels}, but "
            f"{spec.task} needs {expected[0]} with {expected[1]} labels {info.labels}"
        )
    config = loaded.config.replace(scan_layers=False)
    model = XLMRoberta(config, loaded.head, loaded.num_labels)
    trainer = session.make_trainer(model, info, optax.set_to_zero(), recipe, mesh_config)
    state = trainer.init_state(recipe.seed, loaded.params)
    evaluations = session.evaluate_spec(spec, session.predictor(trainer, state), recipe)
    steps = dict.fromkeys(spec.languages, loaded.meta.get("step"))
    details = {
        "joint": reporting.export_predictions(evaluations, output / reporting.PREDICTIONS, steps)
    }
    results = {"joint": reporting.run_result(evaluations, model_name, setting or None)}
    return FinetuneResult(output, results, reporting.write_report(output, results, details))
