"""Several artifacts of one task served as one: the mean of their probabilities (or values), for every task.

`build_ensemble` checks that members share task, labels and input reading, and, where the task has a decision
threshold (or per-class decision weights), re-tunes it for the mean on the validation part of the members' data
(refused if any member trained on it). The ensemble folder holds only ensemble.json, naming its members with their checksums.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn import __version__
from medrnn.errors import ArtifactError, ConfigError, InvalidRecordError
from medrnn.predict import ENSEMBLE, Predictor, Served, resolve_artifact
from medrnn.runfiles import load_json
from medrnn.tasks.base import InputItem, Scores

FORMAT = "medrnn-ensemble"


def mean_scores(scores: list[Scores], merge: Any = None) -> Scores:
    """Mean of the members' values; extras merged by the task's `merge_extras` when it has one, else the first's."""
    shapes = {s.values.shape for s in scores}
    if len(shapes) != 1:
        raise ArtifactError(f"ensemble members gave outputs of different shapes {sorted(shapes)}; they must read inputs alike")
    values = np.mean([s.values for s in scores], axis=0)
    extras = merge(scores) if merge is not None else scores[0].extras
    return Scores(values, extras)


def check_members(members: list[Predictor], paths: list[Path]) -> None:
    """Members must be of one task, with equal labels and input reading (averaged columns must line up)."""
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs two or more member artifacts, got {len(members)}")
    first, where = members[0], paths[0]
    for member, path in zip(members[1:], paths[1:]):
        if member.task.name != first.task.name:
            raise ArtifactError(f"{path}: field 'task' is {member.task.name!r}, {where} is {first.task.name!r}; members must share a task")
        mine, theirs = member.pipeline.compatibility(), first.pipeline.compatibility()
        for key in theirs:
            if mine.get(key) != theirs[key]:
                raise ArtifactError(f"{path}: preprocessing field {key!r} differs from {where} ({_short(mine.get(key))} vs "
                                    f"{_short(theirs[key])}); members must share labels and input reading")  # fmt: skip


class EnsemblePredictor(Served):
    """Member predictors whose scores are averaged; `pipeline` is the first member's, with the ensemble's threshold."""

    def __init__(self, members: list[Predictor], metadata: dict[str, Any] | None = None, paths: list[Path] | None = None) -> None:
        paths = paths or [Path(f"member {i}") for i in range(len(members))]
        check_members(members, paths)
        self.members, self.metadata = members, metadata or {}
        self.task = members[0].task
        self.pipeline = copy.copy(members[0].pipeline)
        if self.metadata.get("threshold") is not None:
            self.pipeline.threshold = float(self.metadata["threshold"])
        # members' decision weights were tuned for each member alone: the mean uses the ensemble's own, else plain argmax
        self.pipeline.decision_weights = self.metadata.get("decision_weights")
        self.pipeline.load_tuned_state(self.metadata.get("tuned_state") or {})

    @classmethod
    def from_path(cls, path: str | Path, device: str | torch.device | None = None) -> EnsemblePredictor:
        """Load an ensemble folder: every member verified against the checksum recorded at build time."""
        path = Path(path)
        meta = _read(path / ENSEMBLE)
        members, paths = [], []
        for entry in meta["members"]:
            member_path = (path / entry["path"]).resolve() if not Path(entry["path"]).is_absolute() else Path(entry["path"])
            predictor = Predictor.from_artifact(member_path, device=device)
            if predictor.metadata.get("weights_sha256") != entry.get("weights_sha256"):
                raise ArtifactError(f"{member_path}: weights changed since the ensemble {path} was built (checksum differs); rebuild it")
            members.append(predictor)
            paths.append(member_path)
        return cls(members, meta, paths)

    def score(self, item: InputItem) -> Scores:
        """The mean of the members' calibrated scores of one read item (each member's own calibrator, as stored)."""
        return mean_scores([m.score(item) for m in self.members], self.task.merge_extras)

    def conformal(self) -> Any:
        """Refused: members' conformal scores were calibrated for each member alone, not for the mean."""
        raise ConfigError("--coverage is not available for an ensemble: conformal sets are calibrated on one model's validation "
                          "scores, and the ensemble mean was never calibrated, so its sets would carry no coverage guarantee; "
                          "predict with one member's artifact (--artifact MEMBER) to get sets or intervals")  # fmt: skip

    def score_samples(self, samples: Any) -> Scores:
        """Mean scores for samples already in the task's container (validation during tuning)."""
        return self.score(InputItem("samples", samples))


def build_ensemble(member_paths: list[str | Path], out: str | Path, tune: bool = True) -> dict[str, Any]:
    """Write ensemble.json for `member_paths` (artifacts or run folders); re-tune the threshold where the task has one."""
    out = Path(out)
    paths = [resolve_artifact(p) for p in member_paths]
    members = [Predictor.from_artifact(p) for p in paths]
    ensemble = EnsemblePredictor(members, {}, paths)
    task, pipeline = ensemble.task, ensemble.pipeline
    tuning: dict[str, Any] = {}
    if tune and (pipeline.threshold is not None or members[0].pipeline.decision_weights is not None):
        tuning = _tune(ensemble, paths)
    meta = {
        "format": FORMAT, "medrnn_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task.name, "label_names": list(pipeline.label_names), "threshold": pipeline.threshold,
        "decision_weights": pipeline.decision_weights, "tuned_state": pipeline.tuned_state(), "tuning": tuning,
        "members": [{"path": str(_relative(p.resolve(), out.resolve())), "weights_sha256": m.metadata.get("weights_sha256")}
                    for p, m in zip(paths, members)],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / ENSEMBLE).write_text(json.dumps(meta, indent=2))
    return meta


def _tune(ensemble: EnsemblePredictor, paths: list[Path]) -> dict[str, Any]:
    """Threshold for the mean on the first member's validation part; refused when any member trained on one of its units."""
    from medrnn.artifact import data_hash, trained_on

    task, first = ensemble.task, ensemble.members[0]
    from medrnn.selection import run_config

    cfg = run_config(first)
    data = task.load(cfg)
    split = task.split(data, cfg)
    val_units = sorted(set(data.units[split.val].tolist()))
    train_units = sorted(set(data.units[split.train].tolist()))
    for member, path in zip(ensemble.members, paths):
        if not trained_on(member.metadata, train_units):
            raise ConfigError(f"{path}: was not trained on the training part of this split ({len(train_units)} units), so it may have "
                              "trained on the validation units the threshold would be tuned on; members must share one split "
                              "(same data and split seed)")  # fmt: skip
    samples = task.subset(data, split.val)
    scores = ensemble.score_samples(samples)
    info = task.tune(ensemble.pipeline, scores, task.targets(data, split.val, ensemble.pipeline), samples=samples)
    return {"on": "validation", "units": len(val_units), "units_sha256": data_hash(val_units), **info}


def _read(path: Path) -> dict[str, Any]:
    try:
        meta = load_json(path, dict, "ensemble file")
    except InvalidRecordError as err:
        raise ArtifactError(str(err)) from err
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: field 'format' is not {FORMAT!r}; not a medrnn ensemble")
    members = meta.get("members")
    if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, dict) and "path" in m for m in members):
        raise ArtifactError(f"{path}: field 'members' must list two or more {{'path', 'weights_sha256'}} entries")
    threshold = meta.get("threshold")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 0 < float(threshold) < 1):
        raise ArtifactError(f"{path}: field 'threshold' is {threshold!r}; expected a number in (0, 1) or null")
    return meta


def _relative(path: Path, start: Path) -> Path:
    import os

    return Path(os.path.relpath(path, start))


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."
