"""One Predictor for every task: an artifact (or an ensemble of them) -> the task's hooks -> rows per input item.

`medrnn predict` and the service call only `Predictor.from_artifact(path).predict(inputs)`. Each input (a record, a
file) is read and scored inside its own error boundary: a bad input becomes a failure entry keyed by its id, and the
others are still predicted, in input order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from medrnn.artifact import META, load_artifact
from medrnn.atomic import atomic_path, write_text
from medrnn.errors import ArtifactError, MedrnnError
from medrnn.metrics.bootstrap import jsonable
from medrnn.runfiles import require_complete
from medrnn.tasks.base import InputItem, Pipeline, Scores, Task, get_task
from medrnn.uncertainty import SplitConformal, Uncertainty, check_coverage, with_coverage

if TYPE_CHECKING:
    from medrnn.ensemble import EnsemblePredictor
    from medrnn.explain.api import ExplainResult

ENSEMBLE = "ensemble.json"
log = logging.getLogger(__name__)


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
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, with figures=True (predict --figures)


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


DEFECTS = (NameError, AttributeError, AssertionError, ImportError, NotImplementedError, SyntaxError)  # medrnn's own bugs


def failure(err: BaseException) -> dict[str, Any]:
    """A failure entry for one item: the error type and message."""
    return {"error": type(err).__name__, "message": str(err) or repr(err)}


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

    def conformal(self) -> SplitConformal:
        """The conformal validation scores behind `coverage=`; refused (ArtifactError) when there are none."""
        raise NotImplementedError

    def explain(self, inputs: list[str | Path], method: str = "ig", targets: list[str] | None = None, max_samples: int = 10,
                check: bool = False, **options: Any) -> ExplainResult:  # fmt: skip
        """Attributions of the first `max_samples` samples of every input on the task's axes (docs/explain.md); an
        ensemble's are the mean of its members'. A bad input is a failure entry and the rest go on."""
        from medrnn.explain.api import explain

        return explain(self, [str(i) for i in inputs], method, targets, max_samples, options, check)

    def predict(self, inputs: list[str | Path], coverage: float | None = None, figures: bool = False, **options: Any) -> Predictions:
        """Read, score and decode every input; a bad input is a failure entry and the rest go on.

        `coverage` (e.g. 0.9) adds each sample's split-conformal prediction set (or interval, regression), calibrated on
        the run's validation split; it is checked before any input is read. `figures` draws the task's figures of each
        input (`Task.predict_figures`) into `ItemResult.figures`.
        """
        conformal = None
        if coverage is not None:
            coverage = check_coverage(coverage)
            conformal = self.conformal()
            conformal.thresholds(coverage)  # refused now when the stored validation scores cannot give this coverage
        return predict_items(self, [str(i) for i in inputs], options, conformal, coverage, figures)


class Predictor(Served):
    """A trained model of any task with its fitted pipeline, loaded from an artifact; needs no training data."""

    def __init__(self, task: Task, model: nn.Module, pipeline: Pipeline, metadata: dict[str, Any], path: Path | None = None) -> None:
        self.task, self.model, self.pipeline, self.metadata, self.path = task, model, pipeline, metadata, path
        state = metadata.get("uncertainty")
        try:
            self.uncertainty = Uncertainty.from_state_dict(state) if state else None
        except MedrnnError as err:
            raise ArtifactError(f"{(path or Path('artifact')) / META}: {err}") from err

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> Predictor | EnsemblePredictor:
        """Load an artifact folder (RUN/model), a run folder (RUN, its model/ is used) or an ensemble folder."""
        path = resolve_artifact(path)
        if is_ensemble(path):
            from medrnn.ensemble import EnsemblePredictor

            return EnsemblePredictor.from_path(path, device=device)
        model, meta = load_artifact(path, device=device or auto_device())
        try:
            task = get_task(meta["task"])
        except MedrnnError as err:
            raise ArtifactError(f"{path / META}: field 'task': {err}") from err
        try:
            pipeline = task.pipeline_from_state(meta["preprocessing"])
        except (MedrnnError, KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            why = f"{type(err).__name__}: {err}"
            raise ArtifactError(f"{path / META}: field 'preprocessing' does not fit task {task.name!r} ({why})") from err
        return cls(task, model, pipeline, meta, path)

    def score(self, item: InputItem) -> Scores:
        """Calibrated scores of one read item (the calibrator fitted on the run's validation split, when it has one)."""
        return self.calibrate(self.task.predict(self.model, self.pipeline, item.samples))

    def calibrate(self, scores: Scores) -> Scores:
        """The stored calibrator applied to raw model scores (unchanged for artifacts written before calibration)."""
        return self.uncertainty.calibrate(scores) if self.uncertainty is not None else scores

    def conformal(self) -> SplitConformal:
        """The stored conformal validation scores; an artifact without them is refused with what to do."""
        if self.uncertainty is None or self.uncertainty.conformal is None:
            raise ArtifactError(f"{self.path or 'artifact'}: has no conformal calibration (written before medrnn stored one); "
                                "retrain it with `medrnn train` to predict with --coverage")  # fmt: skip
        return self.uncertainty.conformal


JOIN_MAX_SAMPLES = 4096  # inputs are joined into one forward pass up to this many samples (memory stays bounded)


def predict_items(predictor: Any, inputs: list[str], options: dict[str, Any], conformal: SplitConformal | None = None,
                  coverage: float | None = None, figures: bool = False) -> Predictions:  # fmt: skip
    """The per-item error boundary shared by a single model and an ensemble (anything with read/score/task/pipeline);
    with `conformal` and `coverage`, each item's scores carry extras["conformal"] and the rows the set/interval columns.

    Inputs are read one by one; the samples of consecutive read inputs (up to JOIN_MAX_SAMPLES) are joined with
    `Task.join` and scored in one forward pass, then split back, so many small inputs (the service's concurrent
    requests) cost one model call while memory stays bounded.
    """
    task, pipeline = predictor.task, predictor.pipeline
    if conformal is not None and coverage is not None:
        pipeline = with_coverage(pipeline, coverage)
    outcome: list[ItemResult | dict[str, Any] | None] = [None] * len(inputs)
    pending: list[tuple[int, InputItem]] = []

    def flush() -> None:
        for (i, item), scores in zip(pending, score_group(predictor, [item for _, item in pending])):
            try:
                if isinstance(scores, Exception):
                    raise scores
                if conformal is not None:
                    scores = Scores(scores.values, {**scores.extras, "conformal": conformal.predict(scores.values, coverage)})
                outcome[i] = ItemResult(item.item_id, task.decode(item, scores, pipeline), scores, item.problems, item.notes)
                if figures:
                    outcome[i].figures = item_figures(task, item, scores, pipeline)
            except DEFECTS:
                raise
            except Exception as err:
                log.debug("%s failed", inputs[i], exc_info=True)
                outcome[i] = failure(err)
        pending.clear()

    for i, source in enumerate(inputs):
        try:
            item = predictor.read(source, options)
        except DEFECTS:
            raise  # a defect in medrnn, not in this input: the CLI reports it as an internal error (exit code 3)
        except Exception as err:  # anything else this input caused (foreign library errors included) fails this item only
            log.debug("%s failed", source, exc_info=True)
            outcome[i] = failure(err)
            continue
        if pending and sum(len(it.samples) for _, it in pending) + len(item.samples) > JOIN_MAX_SAMPLES:
            flush()
        pending.append((i, item))
    flush()
    items: list[ItemResult] = []
    failures: dict[str, dict[str, Any]] = {}
    for source, result in zip(inputs, outcome):
        if isinstance(result, ItemResult):
            if result.problems:
                failures[source] = {"rejected": result.problems}
            items.append(result)
        elif result is not None:
            failures[source] = result
    return Predictions(task.name, task.columns(pipeline), items, failures)


def item_figures(task: Task, item: InputItem, scores: Scores, pipeline: Pipeline) -> dict[str, bytes]:
    """The input's figures as PNGs; one that cannot be drawn is noted on the item (its rows stand), never raised."""
    from medrnn.report.plots import figure_to_png

    try:
        return {str(name): figure_to_png(fig) for name, fig in task.predict_figures(item, scores, pipeline)}
    except DEFECTS:
        raise
    except Exception as err:
        log.debug("%s: figures not drawn", item.item_id, exc_info=True)
        item.notes["figures"] = f"not drawn: {type(err).__name__}: {err}"
        return {}


def score_group(predictor: Any, items: list[InputItem]) -> list[Scores | Exception]:
    """Scores of every read item, in order, from one forward pass over their joined samples where the task can join
    them; when that pass fails, each item is scored alone, so a bad item fails by itself."""
    sizes = [len(item.samples) for item in items]
    joined = predictor.task.join([item.samples for item in items]) if len(items) > 1 else None
    if joined is not None:
        scores = score_one(predictor, InputItem("joined", joined))
        if isinstance(scores, Scores) and len(scores) == sum(sizes):
            return split_scores(scores, sizes)
    return [score_one(predictor, item) for item in items]


def score_one(predictor: Any, item: InputItem) -> Scores | Exception:
    """The item's scores, or the exception it raised (defects in medrnn are raised)."""
    try:
        return predictor.score(item)
    except DEFECTS:
        raise
    except Exception as err:
        return err


def split_scores(scores: Scores, sizes: list[int]) -> list[Scores]:
    """Scores of joined samples -> one Scores per part (values and every extra are aligned with the samples)."""
    out, start = [], 0
    for n in sizes:
        part = slice(start, start + n)
        out.append(Scores(scores.values[part], {key: value[part] for key, value in scores.extras.items()}))
        start += n
    return out


def resolve_artifact(path: str | Path) -> Path:
    """RUN/model when given a run folder that holds one, else the path itself; the run must have finished."""
    path = Path(path)
    if not (path / "artifact.json").exists() and (path / "model" / "artifact.json").exists():
        require_complete(path)
        return path / "model"
    if path.name == "model":
        require_complete(path.parent)
    return path


def write_predictions(result: Predictions, out: Path) -> Path | None:
    """Write rows as CSV (or JSON for .json), atomically; failures go to OUT.errors.json (returned) or into the JSON.

    Errors and notes files of an earlier prediction to the same OUT are removed, so what lies beside OUT is this run's.
    """
    import csv
    import io

    rows = result.rows()
    errors, notes = out.with_suffix(".errors.json"), out.with_suffix(".notes.json")
    if out.suffix == ".json":
        write_text(out, json.dumps({"task": result.task, "predictions": rows, "errors": result.failures, "notes": result.notes},
                                   indent=1, default=jsonable))  # fmt: skip
        return None
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=result.columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out, buffer.getvalue())
    for path, content in ((notes, result.notes), (errors, result.failures)):
        if content:
            write_text(path, json.dumps(content, indent=1, default=jsonable))
        else:
            path.unlink(missing_ok=True)
    return errors if result.failures else None


def write_figures(result: Predictions, out: Path) -> tuple[Path, list[Path]]:
    """Every item's figures as OUT.figures/ITEM__NAME.png (predictions.csv -> predictions.figures/); PNGs of an earlier
    prediction to the same OUT are removed first, so what lies there is this run's. Returns the folder and the files."""
    from medrnn.explain.plots import safe

    folder = out.with_suffix(".figures")
    for old in folder.glob("*.png") if folder.is_dir() else []:
        old.unlink()
    written = []
    for item in result.items:
        for name, png in (item.figures or {}).items():
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{safe(item.item_id)}__{safe(name)}.png"
            with atomic_path(path) as tmp:
                Path(tmp).write_bytes(png)
            written.append(path)
    return folder, written
