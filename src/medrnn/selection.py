"""Choosing among recipes on validation, for every task: each candidate (a run, an artifact or an ensemble) is scored by
the task's `validation_loss` on the validation part of its recorded data and split; the lowest wins. Test never chooses.

    medrnn choose runs/bbbp runs/bbbp-lm runs/bbbp-ensemble --out runs/bbbp-choice.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.tasks.base import InputItem


def run_config(predictor: Any) -> Any:
    """The run config recorded in the (first member's) artifact; where it names data units only by hash (redacted id
    lists), the run folder's config.yaml beside the artifact supplies them."""
    from medrnn.artifact import is_redacted

    first = getattr(predictor, "members", [predictor])[0]
    config = first.metadata.get("config")
    if config is None:
        raise ConfigError("artifact.json has no 'config' (trained by an older medrnn): retrain, or pass data and split explicitly")
    if not is_redacted(config):
        return first.task.config_class.model_validate(config)
    path = getattr(first, "path", None)
    saved = path.parent / "config.yaml" if path is not None else None
    if saved is None or not saved.is_file():
        raise ConfigError(f"{path}: the artifact names its data units only by hash (no ids leave with a model); pass the run "
                          "folder it was trained in (it holds config.yaml) to rebuild the split")  # fmt: skip
    from medrnn.config import load_config

    return load_config(saved, first.task.config_class)


def validation_loss(predictor: Any, data: Any = None, split: Any = None) -> float:
    """Validation loss of a Predictor or EnsemblePredictor on its validation samples (rebuilt from its config if not given)."""
    task, pipeline = predictor.task, predictor.pipeline
    if data is None or split is None:
        config = run_config(predictor)
        data = task.load(config) if data is None else data
        split = task.split(data, config) if split is None else split
    scores = predictor.score(InputItem("validation", task.subset(data, split.val)))
    return task.validation_loss(task.targets(data, split.val, pipeline), scores, pipeline)


def choose(paths: list[str | Path]) -> dict[str, Any]:
    """Validation loss of every candidate of one task and one split; the lowest wins.

    Candidates must hold the same validation samples (same data, split and split seed), else ConfigError.
    """
    from medrnn.predict import Predictor

    if not paths:
        raise ConfigError("choose needs at least one candidate (artifact, run folder or ensemble folder)")
    candidates = [Predictor.from_artifact(p) for p in paths]
    tasks = {c.task.name for c in candidates}
    if len(tasks) > 1:
        raise ConfigError(f"candidates are of different tasks {sorted(tasks)}; choose among models of one task")
    losses, reference = [], None
    for path, predictor in zip(paths, candidates):
        config = run_config(predictor)
        data = predictor.task.load(config)
        split = predictor.task.split(data, config)
        val = sorted(data.ids[i] for i in split.val)
        if reference is None:
            reference = (path, val)
        elif val != reference[1]:
            raise ConfigError(f"{path}: its validation samples differ from {reference[0]}'s; candidates must share one split "
                              "(same data, split kind, sizes and split seed)")  # fmt: skip
        losses.append(validation_loss(predictor, data, split))
    best = int(np.argmin(losses))
    return {"task": next(iter(tasks)), "chosen": str(paths[best]), "validation_loss": losses[best],
            "candidates": [{"path": str(p), "validation_loss": v} for p, v in zip(paths, losses)]}  # fmt: skip
