"""One Predictor for every task: an artifact (or an ensemble of them) -> the task's hooks -> rows per input item.

`medrnn predict` and the service call only `Predictor.from_artifact(path).predict(inputs)`. Each input (a record, a
file) is read and scored inside its own error boundary: a bad input becomes a failure entry keyed by its id, and the
others are still predicted, in input order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from medrnn.artifact import load_artifact, read_metadata
from medrnn.errors import ArtifactError, MedrnnError
from medrnn.metrics.bootstrap import jsonable
from medrnn.tasks.base import InputItem, Pipeline, Scores, Task, get_task

if TYPE_CHECKING:
    from medrnn.ensemble import EnsemblePredictor

ENSEMBLE = "ensemble.json"


def auto_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class ItemResult:
    """The output of one input item: its rows (one per beat, molecule, stay, code ...) and raw scores."""

    item_id: str
    rows: list[dict[str, Any]]
    scores: Scores
    problems: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Predictions:
    """Per-item results in input order, and failures keyed by item id (nothing dropped silently)."""

    task: str
    columns: list[str]
    items: list[ItemResult]
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> {"error", "message"} or {"rejected": [...]}

    def rows(self) -> list[dict[str, Any]]:
        """All output rows, input order."""
        return [row for item in self.items for row in item.rows]

    @property
    def n_failed(self) -> int:
        """Inputs that could not be predicted at all."""
        return sum("error" in f for f in self.failures.values())

    @property
    def notes(self) -> dict[str, dict[str, Any]]:
        """What was counted but is not a failure, by item (e.g. beats too close to a record's edge to classify)."""
        return {item.item_id: item.notes for item in self.items if item.notes}


def failure(err: BaseException) -> dict[str, Any]:
    """A failure entry for one item: the error type and message."""
    return {"error": type(err).__name__, "message": str(err)}


def is_ensemble(path: str | Path) -> bool:
    """True when `path` is an ensemble folder (holds ensemble.json) rather than a single artifact."""
    return (Path(path) / ENSEMBLE).is_file()


class Served:
    """What `medrnn predict` and the service hold: a task, a pipeline, and a way to score read inputs."""

    task: Task
    pipeline: Pipeline

    @property
    def label_names(self) -> list[str]:
        """The output labels, in column order."""
        return list(self.pipeline.label_names)

    def read(self, source: str, options: dict[str, Any]) -> InputItem:
        """One input read by the task's reader for this pipeline."""
        return self.task.read_input(source, self.pipeline, options)

    def score(self, item: InputItem) -> Scores:
        """Scores of one read item."""
        raise NotImplementedError

    def predict(self, inputs: list[str | Path], **options: Any) -> Predictions:
        """Read, score and decode every input; a bad input is a failure entry and the rest go on."""
        return predict_items(self, [str(i) for i in inputs], options)


class Predictor(Served):
    """A trained model of any task with its fitted pipeline, loaded from an artifact; needs no training data."""

    def __init__(self, task: Task, model: nn.Module, pipeline: Pipeline, metadata: dict[str, Any]) -> None:
        self.task, self.model, self.pipeline, self.metadata = task, model, pipeline, metadata

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> Predictor | EnsemblePredictor:
        """Load an artifact folder (RUN/model), a run folder (RUN, its model/ is used) or an ensemble folder."""
        path = resolve_artifact(path)
        if is_ensemble(path):
            from medrnn.ensemble import EnsemblePredictor

            return EnsemblePredictor.from_path(path, device=device)
        meta = read_metadata(path)
        name = meta.get("task") or "ecg_beats"  # artifacts of medrnn <= 0.1 without a task field are beat models
        task = get_task(str(name))
        state = meta.get("preprocessing")
        if isinstance(state, dict) and "label_names" not in state:  # artifacts of medrnn <= 0.1 keep labels in class_names
            state = {**state, "label_names": list(meta.get("class_names", []))}
        try:
            pipeline = task.pipeline_from_state(state)
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{path}: field 'preprocessing' does not fit task {task.name!r} ({type(err).__name__}: {err})") from err
        model, meta = load_artifact(path, device=device or auto_device())
        return cls(task, model, pipeline, meta)

    def score(self, item: InputItem) -> Scores:
        """Scores of one read item."""
        return self.task.predict(self.model, self.pipeline, item.samples)


def predict_items(predictor: Any, inputs: list[str], options: dict[str, Any]) -> Predictions:
    """The per-item error boundary shared by a single model and an ensemble (anything with read/score/task/pipeline)."""
    task, pipeline = predictor.task, predictor.pipeline
    items: list[ItemResult] = []
    failures: dict[str, dict[str, Any]] = {}
    for source in inputs:
        try:
            item = predictor.read(source, options)
            scores = predictor.score(item)
            rows = task.decode(item, scores, pipeline)
        except MedrnnError as err:
            failures[source] = failure(err)
            continue
        except (OSError, EOFError, ValueError, UnicodeError, RuntimeError, LookupError, TypeError) as err:  # foreign: this item only
            failures[source] = failure(err)
            continue
        if item.problems:
            failures[source] = {"rejected": item.problems}
        items.append(ItemResult(item.item_id, rows, scores, item.problems, item.notes))
    return Predictions(task.name, task.columns(pipeline), items, failures)


def resolve_artifact(path: str | Path) -> Path:
    """RUN/model when given a run folder that holds one, else the path itself."""
    path = Path(path)
    if not (path / "artifact.json").exists() and (path / "model" / "artifact.json").exists():
        return path / "model"
    return path


def write_predictions(result: Predictions, out: Path) -> Path | None:
    """Write rows as CSV (or JSON for .json); failures go to OUT.errors.json (returned) or into the JSON."""
    import csv

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = result.rows()
    if out.suffix == ".json":
        out.write_text(json.dumps({"task": result.task, "predictions": rows, "errors": result.failures, "notes": result.notes},
                                  indent=1, default=jsonable))  # fmt: skip
        return None
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=result.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if result.notes:
        out.with_suffix(".notes.json").write_text(json.dumps(result.notes, indent=1, default=jsonable))
    if result.failures:
        errors = out.with_suffix(".errors.json")
        errors.write_text(json.dumps(result.failures, indent=1, default=jsonable))
        return errors
    return None
