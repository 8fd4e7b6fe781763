"""The fine-tuning loop: train on a setting's tasks, select on dev, evaluate, report.

Every epoch (or every `eval_every` steps) the model is evaluated on every dev language; the
best average (joint) and/or best per-language evaluations are saved as model checkpoints
(`best/`, `per_language/step_<n>/`, loadable with `xlmr eval`), early stopping watches the
average, and the selected checkpoints are finally evaluated on the test spec (or, without one,
on dev). Outputs in MODEL_DIR: results.json, results.md, evaluation.json, selection.json,
predictions*/, metrics.jsonl, TensorBoard logs and the operative config.gin.

Under jax.distributed every process runs this same code: each feeds its rows of the global
batches (`EpochBatches`, `session.predictor`), every process decodes and scores all dev
predictions, model selection follows process 0's scores, and process 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence

import gin
import jax
import numpy as np
import seqio
from jax.experimental import multihost_utils

from xlmr_jax import host_env, sharding, storage
from xlmr_jax.config import ModelConfig, check_same_sizes
from xlmr_jax.finetuning import reporting, session
from xlmr_jax.finetuning.epochs import EpochBatches
from xlmr_jax.finetuning.prediction import (
    BatchCache,
    TaskEvaluation,
    eval_batches,
    task_source,
)
from xlmr_jax.finetuning.preprocessors import INPUT_IDS
from xlmr_jax.finetuning.selection import ModelSelection
from xlmr_jax.finetuning.sources import TaskInfo
from xlmr_jax.finetuning.specs import EvalSpec, Recipe, TrainSpec
from xlmr_jax.metrics.tables import RunResult
from xlmr_jax.model_checkpoint import load_model, save_model
from xlmr_jax.training import core
from xlmr_jax.training.optimizer import learning_rate_schedule, make_optimizer
from xlmr_jax.training.profiling import StepProfiler
from xlmr_jax.training.run_lock import LOCK_FILE, RunLock
from xlmr_jax.training.summaries import MetricWriter
from xlmr_jax.training.train_checkpoints import CheckpointConfig, TrainCheckpoints
from xlmr_jax.training.train_state import TrainState
from xlmr_jax.training.trainer import Trainer
from xlmr_jax.vocab import XLMRVocabulary

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FinetuneResult:
    model_dir: storage.Path
    results: dict[str, RunResult]  # selection mode -> final results
    table: str  # results.md
    preempted: bool = False  # SIGTERM: a checkpoint is saved; run again to continue


class _Preempted(Exception):
    """SIGTERM stopped a model's training after saving; the run reports nothing yet."""


@dataclasses.dataclass(frozen=True)
class _Run:
    """The fixed parts of one fine-tuning run (shared by the models of a per-language setting)."""

    model_config: ModelConfig
    recipe: Recipe
    vocab: XLMRVocabulary
    init_checkpoint: str | None
    mesh_config: sharding.MeshConfig | None
    model_name: str
    setting: str
    profile_steps: tuple[int, int] | None = None


@gin.configurable
def finetune(
    model_dir: str = gin.REQUIRED,
    *,
    model_config: ModelConfig = gin.REQUIRED,
    task_registrations: Sequence[session.Registration] = gin.REQUIRED,
    train: TrainSpec = gin.REQUIRED,
    dev: EvalSpec = gin.REQUIRED,
    test: EvalSpec | None = None,
    recipe: Recipe | None = None,
    data_dir: str | None = None,
    init_checkpoint: str | None = None,
    spm_model: str | None = None,
    setting: str = "",
    model_name: str = "xlmr",
    mesh_config: sharding.MeshConfig | None = None,
    profile_steps: tuple[int, int] | None = None,
    overwrite: bool = False,
) -> FinetuneResult:
    """Fine-tune one model (or one per language) and write the run's results to model_dir.

    A model_dir with results.json holds a finished run: refused unless `overwrite` (then its
    contents are deleted first). One without resumes from its checkpoints.
    profile_steps: (first, last) steps to trace with jax.profiler into MODEL_DIR/tensorboard.
    """
    host_env.hide_accelerators_from_tensorflow()
    model_dir = storage.as_path(model_dir, "MODEL_DIR")
    with RunLock(model_dir):
        reporting.replace_finished(
            model_dir,
            overwrite,
            _clear,
            f"holds a finished run ({reporting.RESULTS_FILE}); pass --overwrite "
            "(finetune.overwrite = True) to replace it, or choose another MODEL_DIR.",
        )
        vocab = session.vocabulary(init_checkpoint, spm_model)
        session.register_tasks(task_registrations, data_dir, vocab)
        run = _Run(
            model_config,
            recipe or Recipe(),
            vocab,
            init_checkpoint,
            mesh_config,
            model_name,
            setting,
            profile_steps,
        )
        try:
            results, details = _finetune_all(run, model_dir, train, dev, test)
        except _Preempted:
            return FinetuneResult(model_dir, {}, "", preempted=True)
        if reporting.is_writer():
            storage.write_text(model_dir / "config.gin", gin.operative_config_str())
        table = reporting.write_report(model_dir, results, details)  # results.json: finished
    return FinetuneResult(model_dir, results, table)


def _clear(model_dir: storage.Path) -> None:
    """Deletes a finished run's files (not the lock this job holds)."""
    log.warning("Overwriting the finished run in %s.", model_dir)
    for entry in model_dir.iterdir():
        if entry.name != LOCK_FILE:
            entry.rmtree() if entry.is_dir() else entry.unlink()


def _finetune_all(
    run: _Run, model_dir: storage.Path, train: TrainSpec, dev: EvalSpec, test: EvalSpec | None
) -> tuple[dict[str, RunResult], dict[str, dict]]:
    """One model, or one per language with their results merged."""
    if not train.one_model_per_language:
        return _finetune_one(run, model_dir, train, train.task_names(), dev, test)
    parts = [
        _finetune_one(
            run,
            model_dir / lang,
            train,
            train.task_names([lang]),
            dev.restrict([lang]),
            test.restrict([lang]) if test else None,
        )
        for lang in train.languages
    ]
    results = {
        mode: dataclasses.replace(
            result, metrics={k: v for r, _ in parts for k, v in r[mode].metrics.items()}
        )
        for mode, result in parts[0][0].items()
    }
    details = {mode: {k: v for _, d in parts for k, v in d[mode].items()} for mode in results}
    return results, details


def _finetune_one(
    run: _Run,
    model_dir: storage.Path,
    train: TrainSpec,
    train_names: Sequence[str],
    dev: EvalSpec,
    test: EvalSpec | None,
) -> tuple[dict[str, RunResult], dict[str, dict]]:
    recipe, final = run.recipe, test or dev
    if "per_language" in recipe.selection and not set(final.languages) <= set(dev.languages):
        raise ValueError(
            f"per-language selection needs a dev set for every evaluated language; dev has "
            f"{list(dev.languages)}, the final evaluation {list(final.languages)}"
        )
    names = [*train_names, *dev.tasks().values(), *final.tasks().values()]
    info = session.common_info(names)
    model = session.build_model(run.model_config, info, run.vocab)
    counts = {name: _count_features(name, train.split, recipe.max_length) for name in train_names}
    cache: BatchCache = {}
    _prepare_evaluation(dev, final, recipe, cache)
    steps_per_epoch = session.steps_per_epoch(sum(counts.values()), recipe.batch_size)
    total_steps = steps_per_epoch * recipe.num_epochs
    total_steps = min(total_steps, recipe.max_steps or total_steps)
    schedule = learning_rate_schedule(
        total_steps,
        peak_learning_rate=recipe.learning_rate,
        warmup_steps=int(recipe.warmup_fraction * total_steps),
        end_learning_rate=0.0,
        power=1.0,
    )
    trainer = session.make_trainer(model, info, make_optimizer(schedule), recipe, run.mesh_config)
    state = trainer.init_state(recipe.seed)
    if run.init_checkpoint:
        pretrained = load_model(run.init_checkpoint)
        check_same_sizes(pretrained.config, run.model_config, run.init_checkpoint)
        state = session.place_params(trainer, state, pretrained.params, ("embeddings", "encoder"))
    log.info("Fine-tuning %s on %s for %d steps.", model_dir, list(train_names), total_steps)

    selection = ModelSelection(dev.languages, recipe.patience)
    data = EpochBatches(train_names, counts, train.split, recipe)
    checkpoints = TrainCheckpoints(model_dir, CheckpointConfig())
    resumed = core.resume(trainer, checkpoints, data)
    if resumed:
        state, saved = resumed
        selection.restore(saved["selection"])
    start = int(state.step)
    selected_dev: dict[str, dict[str, TaskEvaluation]] = {"joint": {}, "per_language": {}}
    writer = MetricWriter(model_dir, total_steps, start)
    profiler = StepProfiler(model_dir, run.profile_steps, name="finetune")

    def log_train(step: int, state: TrainState, metrics: dict) -> None:
        _log_train(writer, step, metrics, float(schedule(step - 1)), data.epoch)

    def evaluate_dev(step: int, state: TrainState, metrics: dict) -> bool:
        evaluations = session.evaluate_spec(dev, session.predictor(trainer, state), recipe, cache)
        scores = _agreed({lang: _headline(ev) for lang, ev in evaluations.items()})
        update = selection.update(step, scores)
        metric = session.task_info(dev.tasks()[dev.languages[0]]).metric
        scalars = {f"{metric}/{lang}": score for lang, score in scores.items()}
        scalars[f"{metric}/avg"] = sum(scores.values()) / len(scores)
        writer.write(step, scalars, split="validation")
        meta = {"step": step, "dev": scores, "setting": run.setting}
        if update.joint_improved:
            selected_dev["joint"] = evaluations
        selected_dev["per_language"].update({k: evaluations[k] for k in update.improved_languages})
        if "joint" in recipe.selection and update.joint_improved:
            _save(run, model_dir / "best", state.params, info, meta)
        if "per_language" in recipe.selection and update.improved_languages:
            _save(run, _language_dir(model_dir, step), state.params, info, meta)
            if reporting.is_writer():
                for old in (model_dir / "per_language").iterdir():
                    if int(old.name.removeprefix("step_")) not in selection.per_language_steps():
                        old.rmtree()
        if reporting.is_writer():
            _write_json(model_dir / "selection.json", selection.to_dict())
        return update.stop

    hooks = [
        core.Hook(log_train, every=recipe.log_every),
        core.Hook(evaluate_dev, every=recipe.eval_every or steps_per_epoch),
    ]
    try:
        if not selection.stopped:
            end = core.run_steps(
                trainer,
                state,
                data,
                last_step=total_steps,
                checkpoints=checkpoints,
                writer=writer,
                hooks=hooks,
                loop_state=lambda: {"selection": selection.to_dict()},
                profiler=profiler,
            )
            state = end.state
            if end.preempted:
                raise _Preempted
    finally:
        core.close_run(checkpoints, writer, profiler)
    step = int(state.step)
    log.info("Trained %d steps; selected %s.", step, selection.to_dict()["joint"])
    if test is None and all(set(selected_dev[m]) >= set(dev.languages) for m in recipe.selection):
        final_evaluations = {
            mode: {lang: selected_dev[mode][lang] for lang in dev.languages}
            for mode in recipe.selection
        }
    else:  # a test spec, or dev selections made before a resume: evaluate the saved models
        final_evaluations = _evaluate_selected(
            run, model_dir, trainer, state, final, selection, cache
        )
    return _report(run, model_dir, final_evaluations, selection)


def _evaluate_selected(
    run: _Run,
    model_dir: storage.Path,
    trainer: Trainer,
    state: TrainState,
    test: EvalSpec,
    selection: ModelSelection,
    cache: BatchCache,
) -> dict[str, dict[str, TaskEvaluation]]:
    """{mode: {language: evaluation}} of the selected checkpoints (reloaded) on `test`."""
    by_mode: dict[str, dict[storage.Path, list[str]]] = {
        "joint": {model_dir / "best": test.languages}
    }
    if "per_language" in run.recipe.selection:
        groups: dict[storage.Path, list[str]] = {}
        for lang in test.languages:
            step = selection.per_language[lang].step
            groups.setdefault(_language_dir(model_dir, step), []).append(lang)
        by_mode["per_language"] = groups
    out = {}
    for mode in run.recipe.selection:
        evaluations = {}
        for directory, languages in by_mode[mode].items():
            state = session.place_params(trainer, state, load_model(directory).params)
            predict = session.predictor(trainer, state)
            spec = test.restrict(languages)
            evaluations.update(session.evaluate_spec(spec, predict, run.recipe, cache))
        out[mode] = {lang: evaluations[lang] for lang in test.languages}
    return out


def _report(
    run: _Run,
    model_dir: storage.Path,
    evaluations_by_mode: dict[str, dict[str, TaskEvaluation]],
    selection: ModelSelection,
) -> tuple[dict[str, RunResult], dict[str, dict]]:
    """Exports the final evaluations' predictions and writes this run's report.

    Without a test spec the final evaluations are the selected dev evaluations themselves.
    """
    results, details = {}, {}
    for mode in run.recipe.selection:
        evaluations = evaluations_by_mode[mode]
        steps = {
            lang: (selection.joint if mode == "joint" else selection.per_language[lang]).step
            for lang in evaluations
        }
        prefix = reporting.PREDICTIONS + ("" if mode == reporting.PRIMARY else f"_{mode}")
        details[mode] = reporting.export_predictions(evaluations, model_dir / prefix, steps)
        results[mode] = reporting.run_result(
            evaluations, run.model_name, reporting.row_setting(run.setting, mode)
        )
    reporting.write_report(model_dir, results, details)
    return results, details


def _agreed(scores: dict[str, float]) -> dict[str, float]:
    """Process 0's scores on every process, so that all make the same selection decisions."""
    if jax.process_count() == 1:
        return scores
    bits = np.array(list(scores.values()), np.float64).view(np.uint32)  # jax has no float64
    values = np.asarray(multihost_utils.broadcast_one_to_all(bits), np.uint32).view(np.float64)
    return {lang: float(v) for lang, v in zip(scores, values)}


def _headline(evaluation: TaskEvaluation) -> float:
    """The dev metric that selects models (accuracy, F1, ...; `TaskInfo.metric`)."""
    if evaluation.info.metric not in evaluation.metrics:
        raise ValueError(
            f"dev set of {evaluation.task} has no labels; model selection needs labeled dev data"
        )
    return evaluation.metrics[evaluation.info.metric]


def _prepare_evaluation(dev: EvalSpec, final: EvalSpec, recipe: Recipe, cache: BatchCache):
    """Featurize the dev sets (into `cache`) and read the final split now: bad files fail
    before training, not after it."""
    for name in dev.tasks().values():
        task = seqio.get_mixture_or_task(name)
        eval_batches(task, dev.split, recipe.eval_batch_size, recipe.max_length, cache)
    for name in final.tasks().values():
        task_source(seqio.get_mixture_or_task(name)).records(final.split)


def _count_features(name: str, split: str, max_length: int) -> int:
    task = seqio.get_mixture_or_task(name)
    dataset = task.get_dataset({INPUT_IDS: max_length}, split=split, shuffle=False)
    return int(dataset.reduce(0, lambda count, _: count + 1))


def _log_train(writer: MetricWriter, step: int, metrics: dict, learning_rate: float, epoch: int):
    values = jax.device_get(metrics)
    loss = float(values["loss"])
    if not math.isfinite(loss):
        raise FloatingPointError(f"non-finite training loss {loss} at step {step}")
    scalars = {"loss": loss, "grad_norm": float(values["grad_norm"])}
    writer.write(step, {**scalars, "learning_rate": learning_rate, "epoch": epoch})


def _language_dir(model_dir: storage.Path, step: int) -> storage.Path:
    return model_dir / "per_language" / f"step_{step}"


def _save(run: _Run, directory: storage.Path, params, info: TaskInfo, meta: dict) -> None:
    """A model checkpoint of `params` (sharded over any processes), written by process 0;
    every process returns once it is complete."""
    if jax.process_count() > 1:
        params = multihost_utils.process_allgather(params, tiled=True)
    if reporting.is_writer():
        save_model(
            directory,
            params,
            run.model_config,
            head=info.task_kind.head,
            num_labels=info.num_labels,
            id2label=info.task_kind.id2label(info),
            spm_path=run.vocab.model_file,
            extra_meta=meta,
            overwrite=True,
        )
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"saved {directory}")


def _write_json(path: storage.Path, obj) -> None:
    storage.write_text(path, json.dumps(obj, indent=2) + "\n")
