"""One training run for every task: read -> samples -> split (before anything is fitted) -> pipeline fitted on train
-> model -> Lightning fit (loss by output kind) -> thresholds on validation -> one evaluation on test -> run folder.

The run folder holds config.yaml, metrics.json, predictions.npz, model/ (the artifact) and the task's own files;
`RUN_COMPLETE` is written last, so a folder without it is a run that did not finish. Under DDP (docs/distributed.md)
every process trains; only rank 0 makes, writes and completes the folder.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from pydantic import BaseModel

from medrnn.artifact import redact_ids, save_artifact
from medrnn.atomic import atomic_path, write_text
from medrnn.config import load_config, save_config
from medrnn.data.splits import subsample_train
from medrnn.errors import ConfigError
from medrnn.explain.output import write_run_explanations
from medrnn.models import MODELS
from medrnn.metrics.bootstrap import jsonable
from medrnn.runfiles import COMPLETE
from medrnn.tasks.base import Scores, Task, TaskData, check_split, get_task
from medrnn.train.distributed import check_hardware, is_rank_zero, wait_for_workers
from medrnn.train.fit import FitResult, fit_module
from medrnn.train.resume import RESUME
from medrnn.train.task_module import TaskModule
from medrnn.train.transfer import apply_transfer
from medrnn.uncertainty import Uncertainty, fit_uncertainty, resolve_method, run_metrics

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a finished run gives back: its folder, metrics.json as a dict, and the trained model and pipeline."""

    run_dir: Path
    metrics: dict[str, Any]
    task: Task
    model: Any
    pipeline: Any
    test_scores: Scores
    report: Any  # the task's test MetricReport (has .table() and .to_dict())


@dataclass
class Fitted:
    """A trained model and everything around it, before anything is written (benchmarks use this directly)."""

    task: Task
    data: TaskData
    split: Any
    pipeline: Any
    model: Any
    fit: FitResult
    val_scores: Scores
    test_scores: Scores
    tuned: dict[str, Any]
    model_init: dict[str, Any]
    seconds: dict[str, float]
    uncertainty: Uncertainty | None = None  # calibrator + conformal scores, fitted on validation
    test_uncalibrated: Scores | None = None


def fit_task(task: Task | str, config: BaseModel, run_dir: str | Path, progress: bool = False, data: TaskData | None = None,
             resume: bool = False) -> Fitted | None:  # fmt: skip
    """Split, fit the pipeline on train, train (validation picks the epoch), tune thresholds on validation, score test.

    `data` may be passed to reuse samples already read (benchmarks running several seeds on one dataset); `resume`
    goes on from the run folder's last resume checkpoint. None in a DDP process other than rank 0, once training ends.
    """
    task = get_task(task) if isinstance(task, str) else task
    MODELS.get(config.model.name)  # an unknown model is refused before any data is read, listing the registered ones
    check_hardware(config.train)  # so are Lightning flags that cannot run
    augment = task.batch_augment(config)  # and train.augment where the task has no batch augmentation
    if getattr(config.train, "threads", None):
        torch.set_num_threads(config.train.threads)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = task.load(config, progress=progress) if data is None else data
    seconds["read_seconds"] = time.perf_counter() - t0
    seed = config.train.seed
    split = subsample_train(task.split(data, config), getattr(config.train, "train_fraction", 1.0), seed)
    check_split(data.units, split, where=f"{task.name}: ")
    pipeline = task.fit_pipeline(data, split, config)
    method = getattr(config.train, "calibration", "auto")
    resolve_method(method, pipeline.output_kind)  # a method that does not fit the outputs is refused before training
    L.seed_everything(seed, workers=True, verbose=False)  # before the model initialises its weights
    model, model_init = task.build_model(data, split, pipeline, config)
    transfer, unfreeze = apply_transfer(model, config.train, pipeline)  # --init-from / --freeze / --unfreeze-after
    if transfer is not None:
        model_init = {**model_init, "transfer": transfer}
    train_cfg = config.train.model_copy(update={"progress": progress})
    train_loader, val_loader, callbacks = task.loaders(data, split, pipeline, config.model_copy(update={"train": train_cfg}))
    callbacks = [*callbacks, *unfreeze]
    module = TaskModule(model, train_cfg, pipeline.output_kind, len(pipeline.label_names),
                        class_weights=task.class_weights(data, split, pipeline, config),
                        extra_loss=task.extra_loss(data, split, pipeline, config, model), augment=augment)  # fmt: skip
    fit = fit_module(module, train_loader, val_loader, train_cfg, Path(run_dir), *module.monitor, callbacks=callbacks, resume=resume)
    if not fit.rank_zero:
        return None  # a DDP worker: it helped train; rank 0 scores and writes
    wait_for_workers()  # the run is complete only once every process is done
    seconds["train_seconds"] = fit.seconds
    return score_fitted(task, config, data, split, pipeline, fit, model_init, seconds)


def score_fitted(task: Task, config: BaseModel, data: TaskData, split: Any, pipeline: Any, fit: FitResult, model_init: dict[str, Any],
                 seconds: dict[str, float]) -> Fitted:  # fmt: skip
    """Calibrate and tune thresholds on validation, then score test with the trained `fit.module.model` (shared with the
    federated run)."""
    method = getattr(config.train, "calibration", "auto")
    model = fit.module.model.eval()
    val_samples = task.subset(data, split.val)
    val_scores = task.predict(model, pipeline, val_samples)
    y_val = task.targets(data, split.val, pipeline)
    uncertainty = fit_uncertainty(method, pipeline.output_kind, list(pipeline.label_names), val_scores.values, y_val)
    val_scores = uncertainty.calibrate(val_scores)  # thresholds are tuned on calibrated scores
    tuned = task.tune(pipeline, val_scores, y_val, samples=val_samples)
    t0 = time.perf_counter()
    test_raw = task.predict(model, pipeline, task.subset(data, split.test))
    seconds["test_inference_seconds"] = time.perf_counter() - t0
    seconds["inference_ms_per_sample"] = 1000 * seconds["test_inference_seconds"] / max(len(test_raw), 1)
    return Fitted(task, data, split, pipeline, model, fit, val_scores, uncertainty.calibrate(test_raw), tuned, model_init, seconds,
                  uncertainty, test_raw)  # fmt: skip


def run_task(task: Task | str, config: BaseModel, run_dir: str | Path, progress: bool = True, overwrite: bool = False,
             resume: bool = False) -> RunResult | None:  # fmt: skip
    """Train and evaluate once on test; write config.yaml, metrics.json, predictions.npz, model/ and the task's files.

    An existing folder is refused unless `overwrite` (it is then removed first) or `resume` (an unfinished run of the
    same config goes on from its last checkpoint). Every file is written atomically and RUN_COMPLETE last. Under DDP
    only rank 0 touches the folder; the other processes train and return None.
    """
    task = get_task(task) if isinstance(task, str) else task
    run_dir = Path(run_dir)
    if not is_rank_zero():  # started by the DDP launcher after rank 0 made the folder: train, write nothing
        fit_task(task, config, run_dir, progress=False, resume=resume)
        return None
    check_hardware(config.train)  # before the folder is made
    prepare_run_dir(run_dir, config, overwrite=overwrite, resume=resume)
    try:
        f = fit_task(task, config, run_dir, progress=progress, resume=resume)
    except BaseException:
        if not resume and not (run_dir / "checkpoints" / RESUME).exists():  # nothing to resume: leave no half folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if f is None:  # the launcher's environment named this process rank 0, Lightning's strategy did not
        raise ConfigError("this process trained as a DDP worker, yet RANK / NODE_RANK / LOCAL_RANK (or SLURM_PROCID) say it is "
                          "rank 0; check the variables the launcher sets (docs/distributed.md)")  # fmt: skip
    return write_run(task, config, run_dir, f)


def write_run(task: Task, config: BaseModel, run_dir: Path, f: Fitted, extra_metrics: dict[str, Any] | None = None) -> RunResult:
    """Evaluate `f` once on test and write the run folder (artifact, predictions, metrics.json, RUN_COMPLETE last).

    Shared by `run_task` and the federated run, so a federated global model is an ordinary run folder; `extra_metrics`
    are added to metrics.json.
    """
    seed = config.train.seed
    test = f.split.test
    y_test = task.targets(f.data, test, f.pipeline)
    units_test = f.data.units[test]
    t0 = time.perf_counter()
    report = task.evaluate(y_test, f.test_scores, units_test, f.pipeline, config, task.subset(f.data, test))
    uncertainty = run_metrics(f.uncertainty, f.pipeline.output_kind, y_test, f.test_uncalibrated.values, f.test_scores.values)
    f.seconds["evaluate_seconds"] = time.perf_counter() - t0
    train_units = sorted(set(f.data.units[f.split.train].tolist()))
    save_artifact(run_dir / "model", f.model, f.pipeline.state_dict(), list(f.pipeline.label_names), train_units,
                  extra={"task": task.name, "config": redact_ids(config.model_dump(mode="json"), f.data.units.astype(str).tolist()),
                         "best_val": {f.fit.monitor: f.fit.best_score}, "uncertainty": f.uncertainty.state_dict()})  # fmt: skip
    with atomic_path(run_dir / "predictions.npz") as tmp:
        np.savez_compressed(tmp, ids=np.array([f.data.ids[i] for i in test]), units=units_test.astype(str),
                            y_true=y_test, y_score=f.test_scores.values, y_score_uncalibrated=f.test_uncalibrated.values,
                            label_names=np.array(f.pipeline.label_names))  # fmt: skip
    extra = task.write_outputs(run_dir, f.data, f.split, f.pipeline, f.test_scores, f.model, config)
    n_explain = getattr(config.train, "explain", 0)
    if n_explain:  # a few test samples explained (with their faithfulness) for the report's "Why the model said it"
        extra.update(write_run_explanations(run_dir, task, f.model, f.pipeline, task.subset(f.data, test[:n_explain])))
    counts = {name: int(len(index)) for name, index in f.split._asdict().items()}
    units = {name: int(len(set(f.data.units[index].tolist()))) for name, index in f.split._asdict().items()}
    metrics = {
        "task": task.name,
        "output_kind": f.pipeline.output_kind,
        "model": config.model.name,
        "split": {"unit": task.split_unit, "seed": seed, "counts": counts, "units": units},
        "test": report.to_dict(),
        **uncertainty,  # calibration (calibrated test), calibration_before, calibrator, conformal
        "tuned_on_validation": f.tuned,
        "data": f.data.info,
        "model_init": f.model_init,
        "training": {"monitor": f.fit.monitor, "epochs": f.fit.epochs, "best_epoch": f.fit.best_epoch, "best_val": f.fit.best_score,
                     "seconds_per_epoch": f.fit.seconds / max(f.fit.epochs, 1)},
        "timings": f.seconds,
        **extra,
        **(extra_metrics or {}),
    }  # fmt: skip
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=jsonable))
    shutil.rmtree(run_dir / "checkpoints" / RESUME, ignore_errors=True)  # optimizer state is only needed to resume
    write_text(run_dir / COMPLETE, time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return RunResult(run_dir, metrics, task, f.model, f.pipeline, f.test_scores, report)


def is_complete(run_dir: str | Path) -> bool:
    """True when `run_dir` is a run that finished (RUN_COMPLETE written last)."""
    return (Path(run_dir) / COMPLETE).is_file()


def prepare_run_dir(run_dir: Path, config: BaseModel, overwrite: bool, resume: bool) -> None:
    """Refuse to mix runs: a fresh run needs an empty or absent folder (or `overwrite`); a resume needs an unfinished run
    of the same config."""
    if resume:
        if is_complete(run_dir):
            raise ConfigError(f"{run_dir}: the run already finished ({COMPLETE} present); nothing to resume")
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"{run_dir}: no config.yaml; not a medrnn run folder to resume")
        theirs, mine = _comparable(load_config(saved, type(config))), _comparable(config)
        if theirs != mine:
            changed = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
            raise ConfigError(f"{run_dir}: config differs from the run's config.yaml in sections {changed}; a resumed run keeps its config")
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        if not overwrite:
            state = "a finished run" if is_complete(run_dir) else "an unfinished run (resume it with --resume)"
            raise ConfigError(f"{run_dir}: already exists and holds {state if (run_dir / 'config.yaml').exists() else 'files'}; "
                              "choose another --out, or pass --overwrite to replace it")  # fmt: skip
        if not (run_dir / "config.yaml").is_file():  # --overwrite removes runs only, never a folder of other files
            raise ConfigError(f"{run_dir}: holds files but is not a medrnn run folder (no config.yaml); --overwrite will not remove it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")


def _comparable(config: BaseModel) -> dict[str, Any]:
    """The config as it shapes the model: progress bars left out."""
    raw = config.model_dump(mode="json")
    raw.get("train", {}).pop("progress", None)
    return raw
