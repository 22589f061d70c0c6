"""One training run for every task: read -> samples -> split (before anything is fitted) -> pipeline fitted on train
-> model -> Lightning fit (loss by output kind) -> thresholds on validation -> one evaluation on test -> run folder.

The run folder holds config.yaml, metrics.json, predictions.npz, model/ (the artifact) and the task's own files;
`RUN_COMPLETE` is written last, so a folder without it is a run that did not finish.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from pydantic import BaseModel

from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.models import MODELS
from medrnn.metrics.bootstrap import jsonable
from medrnn.metrics.calibration import calibration_summary
from medrnn.tasks.base import Scores, Task, TaskData, check_split, get_task
from medrnn.train.fit import FitResult, fit_module
from medrnn.train.task_module import TaskModule

log = logging.getLogger(__name__)

COMPLETE = "RUN_COMPLETE"


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


def fit_task(task: Task | str, config: BaseModel, run_dir: str | Path, progress: bool = False, data: TaskData | None = None) -> Fitted:
    """Split, fit the pipeline on train, train (validation picks the epoch), tune thresholds on validation, score test.

    `data` may be passed to reuse samples already read (benchmarks running several seeds on one dataset).
    """
    task = get_task(task) if isinstance(task, str) else task
    MODELS.get(config.model.name)  # an unknown model is refused before any data is read, listing the registered ones
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = task.load(config, progress=progress) if data is None else data
    seconds["read_seconds"] = time.perf_counter() - t0
    seed = config.train.seed
    split = task.split(data, config)
    check_split(data.units, split, where=f"{task.name}: ")
    pipeline = task.fit_pipeline(data, split, config)
    L.seed_everything(seed, workers=True, verbose=False)  # before the model initialises its weights
    model, model_init = task.build_model(data, split, pipeline, config)
    train_cfg = config.train.model_copy(update={"progress": progress})
    train_loader, val_loader, callbacks = task.loaders(data, split, pipeline, config.model_copy(update={"train": train_cfg}))
    module = TaskModule(model, train_cfg, pipeline.output_kind, len(pipeline.label_names),
                        class_weights=task.class_weights(data, split, pipeline, config),
                        extra_loss=task.extra_loss(data, split, pipeline, config, model))  # fmt: skip
    fit = fit_module(module, train_loader, val_loader, train_cfg, Path(run_dir), *module.monitor, callbacks=callbacks)
    seconds["train_seconds"] = fit.seconds
    model = fit.module.model.eval()
    val_scores = task.predict(model, pipeline, task.subset(data, split.val))
    tuned = task.tune(pipeline, val_scores, task.targets(data, split.val, pipeline))
    t0 = time.perf_counter()
    test_scores = task.predict(model, pipeline, task.subset(data, split.test))
    seconds["test_inference_seconds"] = time.perf_counter() - t0
    seconds["inference_ms_per_sample"] = 1000 * seconds["test_inference_seconds"] / max(len(test_scores), 1)
    return Fitted(task, data, split, pipeline, model, fit, val_scores, test_scores, tuned, model_init, seconds)


def run_task(task: Task | str, config: BaseModel, run_dir: str | Path, progress: bool = True) -> RunResult:
    """Train and evaluate once on test; write config.yaml, metrics.json, predictions.npz, model/ and the task's files."""
    task = get_task(task) if isinstance(task, str) else task
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / COMPLETE).unlink(missing_ok=True)
    save_config(config, run_dir / "config.yaml")
    f = fit_task(task, config, run_dir, progress=progress)
    seed = config.train.seed
    test = f.split.test
    y_test = task.targets(f.data, test, f.pipeline)
    units_test = f.data.units[test]
    t0 = time.perf_counter()
    report = task.evaluate(y_test, f.test_scores, units_test, f.pipeline, config, task.subset(f.data, test))
    calibration = calibration_summary(y_test, f.test_scores.values, f.pipeline.output_kind)
    f.seconds["evaluate_seconds"] = time.perf_counter() - t0
    train_units = sorted(set(f.data.units[f.split.train].tolist()))
    save_artifact(run_dir / "model", f.model, f.pipeline.state_dict(), list(f.pipeline.label_names), train_units,
                  extra={"task": task.name, "config": config.model_dump(mode="json"),
                         "best_val": {f.fit.monitor: f.fit.best_score}})  # fmt: skip
    np.savez_compressed(run_dir / "predictions.npz", ids=np.array([f.data.ids[i] for i in test]), units=units_test.astype(str),
                        y_true=y_test, y_score=f.test_scores.values, label_names=np.array(f.pipeline.label_names))  # fmt: skip
    extra = task.write_outputs(run_dir, f.data, f.split, f.pipeline, f.test_scores, f.model, config)
    counts = {name: int(len(index)) for name, index in f.split._asdict().items()}
    units = {name: int(len(set(f.data.units[index].tolist()))) for name, index in f.split._asdict().items()}
    metrics = {
        "task": task.name,
        "output_kind": f.pipeline.output_kind,
        "model": config.model.name,
        "split": {"unit": task.split_unit, "seed": seed, "counts": counts, "units": units},
        "test": report.to_dict(),
        "calibration": calibration,
        "tuned_on_validation": f.tuned,
        "data": f.data.info,
        "model_init": f.model_init,
        "training": {"monitor": f.fit.monitor, "epochs": f.fit.epochs, "best_epoch": f.fit.best_epoch, "best_val": f.fit.best_score,
                     "seconds_per_epoch": f.fit.seconds / max(f.fit.epochs, 1)},
        "timings": f.seconds,
        **extra,
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=jsonable))
    (run_dir / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return RunResult(run_dir, metrics, task, f.model, f.pipeline, f.test_scores, report)
